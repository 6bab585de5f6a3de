"""Message lists (a folder's, or a search across the mailbox), now or as of a time, and one
message's details with its history.

Lists are newest first (or in another ``Order``) and paged by keyset on ``(key, id)``: a page of
a folder costs the same at the top and deep down, however many messages the folder holds (the
query walks an index on ``(mailbox_id, last_known_folder_key, key, id)``, one per order). A
search reads the mailbox's (or the folder's) messages newest first and keeps the ones that hold
every word, so a rare word reads them all: ``archive_bench`` measures what that costs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    Table,
    false,
    func,
    or_,
    select,
    true,
)

from archive.browse.models import (
    Address,
    HistoryEntry,
    MessageDetail,
    MessagePage,
    MessageSummary,
    at_ms,
    from_ms,
)
from archive.browse.ordering import BIGINT, Order
from archive.store.tables import folders, message_history, messages

NEWEST_FIRST = Order()


@dataclass(frozen=True)
class MessageFilter:
    """Which messages a list shows."""

    folder_key: str | None = None
    include_deleted: bool = True
    only_deleted: bool = False
    unread: bool = False  # True: unread ones only (likewise flagged, with attachments)
    flagged: bool = False
    with_attachments: bool = False
    conversation_id: str | None = None
    sender: str | None = None
    subject: str | None = None
    text: str | None = None
    received_from: int | None = None
    received_to: int | None = None
    at: int | None = None


def message_page(
    conn: Connection,
    box: int,
    wanted: MessageFilter,
    cursor: str | None,
    limit: int,
    order: Order = NEWEST_FIRST,
) -> MessagePage:
    """A page of the messages ``wanted`` selects, in ``order``."""
    table, ident, query = _base(box, wanted)
    if cursor:
        query = query.where(order.after(table, ident, cursor))
    query = query.add_columns(order.key(table).label("order_key"))
    rows = list(conn.execute(query.order_by(*order.by(table, ident)).limit(limit + 1)))
    items = [_summary(row._mapping, row._mapping[ident.name]) for row in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return MessagePage(
        items=items,
        next_cursor=order.encode(last.order_key, last._mapping[ident.name]) if last else None,
    )


@dataclass(frozen=True)
class PagePlace:
    """Where a page sits in its list: for "51 to 100 of 230" and a link to the page before."""

    first: int  # 1-based position of the page's first message
    total: int
    has_newer: bool
    newer_cursor: str | None  # None with has_newer: the page before is the first one


def page_place(
    conn: Connection, box: int, wanted: MessageFilter, cursor: str | None, limit: int,
    *, order: Order = NEWEST_FIRST, total: int | None = None,
) -> PagePlace:
    """The place of the page that starts after ``cursor``. ``total``: the list's length, when
    the caller knows it (a whole folder's is in the folder tree's counts); else it is counted,
    a scan of the filtered list. The messages before the cursor are counted (an index range
    for a folder); the page before is found by keyset too, walking backwards from the cursor."""
    table, ident, query = _base(box, wanted)
    if total is None:
        total = _count(conn, query)
    if not cursor:
        return PagePlace(first=1, total=total, has_newer=False, newer_cursor=None)
    upto = query.where(order.up_to(table, ident, cursor))
    before = _count(conn, upto)
    earlier = list(
        conn.execute(
            upto.with_only_columns(order.key(table), ident)
            .order_by(*order.by(table, ident, reverse=True))
            .limit(limit + 1)
        )
    )
    # the page before ends at the cursor's row; the row just before that page is its cursor
    newer_cursor = order.encode(*earlier[limit]) if len(earlier) > limit else None
    return PagePlace(first=before + 1, total=total, has_newer=before > 0,
                     newer_cursor=newer_cursor)


def _base(box: int, wanted: MessageFilter) -> tuple[Table, Any, Select[Any]]:
    if wanted.at is None:
        table, ident, query = messages, messages.c.id, select(messages)
    else:
        table, ident, query = message_history, message_history.c.message_ref, _as_of(wanted.at)
    query = query.where(table.c.mailbox_id == box)
    if wanted.folder_key is None and wanted.conversation_id is None:
        # A withdrawn message has no folder and no conversation (its metadata is blanked), so
        # those filters leave it out already, and their counts read only the folder's index.
        query = query.where(table.c.withdrawn == false())
    return table, ident, _filtered(query, table, wanted)


def _count(conn: Connection, query: Select[Any]) -> int:
    return int(conn.execute(select(func.count()).select_from(query.subquery())).scalar() or 0)


def _as_of(at: int) -> Select[Any]:
    h = message_history
    later = message_history.alias("later")
    newest = (
        select(func.max(later.c.version))
        .where(later.c.message_ref == h.c.message_ref, later.c.valid_from <= at)
        .scalar_subquery()
    )
    return (
        select(h, messages.c.message_key)
        .join(messages, messages.c.id == h.c.message_ref)
        .where(h.c.valid_from <= at, h.c.version == newest)
    )


def _filtered(query: Select[Any], t: Table, wanted: MessageFilter) -> Select[Any]:
    if wanted.folder_key is not None:
        query = query.where(t.c.last_known_folder_key == wanted.folder_key)
    if not wanted.include_deleted:
        query = query.where(t.c.deleted == false())
    if wanted.only_deleted:
        query = query.where(t.c.deleted == true())
    if wanted.unread:
        query = query.where(t.c.is_read == false())
    if wanted.flagged:
        query = query.where(t.c.flag_status == "Flagged")
    if wanted.with_attachments:
        query = query.where(t.c.has_attachments == true())
    if wanted.conversation_id is not None:
        query = query.where(t.c.conversation_id == wanted.conversation_id)
    if wanted.sender:
        pattern = _contains(wanted.sender)
        query = query.where(
            or_(
                func.lower(t.c.sender_name).like(pattern, escape="\\"),
                func.lower(t.c.sender_address).like(pattern, escape="\\"),
            )
        )
    if wanted.subject:
        query = query.where(func.lower(t.c.subject).like(_contains(wanted.subject), escape="\\"))
    for word in (wanted.text or "").split():
        query = query.where(t.c.search_text.like(_contains(word), escape="\\"))
    if wanted.received_from is not None:
        query = query.where(t.c.sort_time >= wanted.received_from)
    if wanted.received_to is not None:
        query = query.where(t.c.sort_time < wanted.received_to)
    return query


def _contains(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _summary(row: Any, ident: int) -> MessageSummary:
    return MessageSummary(**_summary_fields(row, ident))


def _summary_fields(row: Any, ident: int) -> dict[str, Any]:
    has_sender = row["sender_name"] is not None or row["sender_address"] is not None
    return {
        "id": ident,
        "message_key": row["message_key"],
        "folder_key": row["folder_key"],
        "last_known_folder_key": row["last_known_folder_key"],
        "subject": row["subject"],
        "sender": Address(name=row["sender_name"], email_address=row["sender_address"])
        if has_sender
        else None,
        "to_recipients": _addresses(row["to_recipients"]),
        "received": from_ms(row["datetime_received"]),
        "sent": from_ms(row["datetime_sent"]),
        "sort_time": at_ms(row["sort_time"]),
        "is_read": row["is_read"],
        "flag_status": row["flag_status"],
        "importance": row["importance"],
        "has_attachments": row["has_attachments"],
        "size": row["size"],
        "deleted": row["deleted"],
        "deleted_time": from_ms(row["deleted_time"]),
        "delete_kind": row["delete_kind"],
        # Already in Deleted Items when first seen: never seen anywhere else, so the time it
        # was deleted is not known (its deleted_time is the first sync's).
        "deleted_before_replication": bool(
            row["deleted"]
            and row["folder_key"]
            and row["folder_key"] == row["last_known_folder_key"]
        ),
    }


def message_detail(conn: Connection, box: int, ident: int) -> MessageDetail | None:
    """A message of mailbox ``box`` with its history; None if absent or withdrawn (or if
    ``ident`` could not be an id at all)."""
    if not 0 < ident < BIGINT:
        return None
    row = conn.execute(
        select(messages).where(
            messages.c.id == ident, messages.c.mailbox_id == box, messages.c.withdrawn == false()
        )
    ).first()
    if row is None:
        return None
    m = row._mapping
    versions = list(
        conn.execute(
            select(message_history)
            .where(message_history.c.message_ref == ident)
            .order_by(message_history.c.version)
        )
    )
    names = _folder_names(conn, box, {v.folder_key for v in versions} | {m["folder_key"]})
    return MessageDetail(
        **_summary_fields(m, ident),
        item_class=m["item_class"],
        author=_address(m["author"]),
        cc_recipients=_addresses(m["cc_recipients"]),
        bcc_recipients=_addresses(m["bcc_recipients"]),
        created=from_ms(m["datetime_created"]),
        last_modified=from_ms(m["last_modified_time"]),
        sensitivity=m["sensitivity"],
        categories=json.loads(m["categories"] or "[]"),
        internet_message_id=m["internet_message_id"],
        conversation_id=m["conversation_id"],
        version=m["version"],
        observed_time=at_ms(m["observed_time"]),
        history=[
            HistoryEntry(
                version=v.version,
                valid_from=at_ms(v.valid_from),
                folder_key=v.folder_key,
                folder_name=names.get(v.folder_key),
                last_known_folder_key=v.last_known_folder_key,
                deleted=v.deleted,
                delete_kind=v.delete_kind,
                subject=v.subject,
                is_read=v.is_read,
                flag_status=v.flag_status,
                withdrawn=v.withdrawn,
            )
            for v in versions
        ],
    )


def conversation_of(conn: Connection, box: int, ident: int) -> str | None:
    """The conversation id of a message of mailbox ``box``; None if it has none (or is not
    there, or was withdrawn)."""
    if not 0 < ident < BIGINT:
        return None
    found = conn.execute(
        select(messages.c.conversation_id).where(
            messages.c.id == ident, messages.c.mailbox_id == box, messages.c.withdrawn == false()
        )
    ).scalar()
    return str(found) if found else None


def folder_names(conn: Connection, box: int) -> dict[str, str]:
    """Every folder key of the mailbox with its current display name."""
    return _folder_names(conn, box, None)


def _folder_names(conn: Connection, box: int, keys: set[str | None] | None) -> dict[str, str]:
    query = select(folders.c.folder_key, folders.c.display_name).where(folders.c.mailbox_id == box)
    if keys is not None:
        query = query.where(folders.c.folder_key.in_([k for k in keys if k]))
    return {key: name for key, name in conn.execute(query)}


def _address(raw: str | None) -> Address | None:
    return Address(**json.loads(raw)) if raw else None


def _addresses(raw: str | None) -> list[Address]:
    return [Address(**a) for a in json.loads(raw)] if raw else []


