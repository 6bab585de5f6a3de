"""Mailboxes, folder trees (now or as of a time) and replication status."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, Table, and_, case, false, func, select

from archive.browse.models import (
    ComponentStatus,
    FolderNode,
    FolderTree,
    MailboxReplication,
    MailboxSummary,
    at_ms,
    from_ms,
)
from archive.store.tables import (
    folder_counts,
    folder_history,
    folders,
    mailbox_status,
    mailboxes,
    message_history,
)

Counts = dict[str | None, tuple[int, int, int]]  # folder key -> (messages, deleted, unread)


def mailbox_id(conn: Connection, address: str) -> int | None:
    """The archive's id of a mailbox, or None if it has never received a record for it."""
    found = conn.execute(select(mailboxes.c.id).where(mailboxes.c.address == address)).scalar()
    return None if found is None else int(found)


def summaries(conn: Connection, addresses: Iterable[str] | None) -> list[MailboxSummary]:
    """The mailboxes named (all of them for None) that the archive holds, by address."""
    query = select(mailboxes).order_by(mailboxes.c.address)
    if addresses is not None:
        query = query.where(mailboxes.c.address.in_(list(addresses)))
    rows = list(conn.execute(query))
    only = None if addresses is None else [row.id for row in rows]
    return list(_summaries(conn, rows, only).values())


def replication(conn: Connection) -> list[MailboxReplication]:
    """Every mailbox with its counts and each component's last status, for the admin page."""
    statuses: dict[int, list[ComponentStatus]] = defaultdict(list)
    for row in conn.execute(select(mailbox_status).order_by(mailbox_status.c.component)):
        statuses[row.mailbox_id].append(
            ComponentStatus(
                component=row.component,
                state=row.state,
                initial_sync_percent=row.initial_sync_percent,
                folders=row.folders,
                messages=row.messages,
                last_change_time=from_ms(row.last_change_time),
                lag_ms=row.lag_ms,
                last_error=row.last_error,
                last_error_time=from_ms(row.last_error_time),
                updated_time=at_ms(row.updated_time),
            )
        )
    rows = list(conn.execute(select(mailboxes).order_by(mailboxes.c.address)))
    summary = _summaries(conn, rows, None)
    return [
        MailboxReplication(
            **summary[row.id].model_dump(), lag_ms=row.lag_ms, components=statuses[row.id]
        )
        for row in rows
    ]


def _summaries(
    conn: Connection, rows: list[Row[Any]], only: list[int] | None
) -> dict[int, MailboxSummary]:
    """Each mailbox's summary by id, summed in two grouped queries whatever the number of
    mailboxes (a query per mailbox made an admin's list take a second at a thousand) from the
    folders' kept counts (counting the messages took seconds at a million). ``only``: the ids
    summed; None sums every mailbox, with no list of ids to send."""
    c = folder_counts.c  # every message that is not withdrawn is in one folder's counts
    counts = select(c.mailbox_id, func.sum(c.messages).label("total"),
                    func.sum(c.deleted).label("deleted")).group_by(c.mailbox_id)
    folder_rows = select(folders.c.mailbox_id, func.count().label("n")
                         ).group_by(folders.c.mailbox_id)
    if only is not None:
        counts = counts.where(c.mailbox_id.in_(only))
        folder_rows = folder_rows.where(folders.c.mailbox_id.in_(only))
    counted = {r.mailbox_id: (int(r.total), int(r.deleted)) for r in conn.execute(counts)}
    foldered = {r.mailbox_id: int(r.n) for r in conn.execute(folder_rows)}
    return {
        row.id: MailboxSummary(
            address=row.address,
            last_change_time=from_ms(row.last_change_time),
            last_ingest_time=from_ms(row.last_ingest_time),
            folders=foldered.get(row.id, 0),
            messages=counted.get(row.id, (0, 0))[0],
            deleted_messages=counted.get(row.id, (0, 0))[1],
        )
        for row in rows
    }


def folder_tree(conn: Connection, address: str, box: int, at: int | None) -> FolderTree:
    """The folder tree with counts, now (``at`` None) or as it was at ``at`` (ms)."""
    if at is None:
        rows = list(conn.execute(select(folders).where(folders.c.mailbox_id == box)))
        counts = _current_counts(conn, box)
    else:
        rows = list(conn.execute(_folders_at(box, at)))
        counts = _counts_at(conn, box, at)
    last = conn.execute(
        select(mailboxes.c.last_change_time).where(mailboxes.c.id == box)
    ).scalar()
    nodes = [_node(row, counts.get(row.folder_key, (0, 0, 0))) for row in rows]
    return FolderTree(
        mailbox=address,
        at=from_ms(at),
        last_change_time=from_ms(last if at is None else min(at, last or at)),
        folders=_tree_order(nodes),
    )


def first_change_time(conn: Connection, box: int) -> datetime | None:
    """When the oldest state the archive holds of this mailbox was observed (an "as of" time
    before it has nothing to show)."""
    oldest = conn.execute(
        select(func.min(folder_history.c.valid_from)).where(folder_history.c.mailbox_id == box)
    ).scalar()
    return from_ms(oldest)


def _folders_at(box: int, at: int) -> Select[tuple[object, ...]]:
    h = folder_history
    newest = (
        select(h.c.folder_ref, func.max(h.c.version).label("version"))
        .where(h.c.mailbox_id == box, h.c.valid_from <= at)
        .group_by(h.c.folder_ref)
        .subquery()
    )
    return (
        select(folders.c.folder_key, *[c for c in h.c if c.name not in ("id", "mailbox_id")])
        .join(newest, and_(h.c.folder_ref == newest.c.folder_ref, h.c.version == newest.c.version))
        .join(folders, folders.c.id == h.c.folder_ref)
    )


def _current_counts(conn: Connection, box: int) -> Counts:
    """Kept by the database as messages change (``folder_counts``): no scan of the mailbox."""
    c = folder_counts.c
    rows = conn.execute(
        select(c.folder_key, c.messages, c.deleted, c.unread).where(c.mailbox_id == box)
    )
    return {row.folder_key: (row.messages, row.deleted, row.unread) for row in rows}


def _counts_at(conn: Connection, box: int, at: int) -> Counts:
    h = message_history
    newest = (
        select(h.c.message_ref, func.max(h.c.version).label("version"))
        .where(h.c.mailbox_id == box, h.c.valid_from <= at)
        .group_by(h.c.message_ref)
        .subquery()
    )
    query = select(*_count_columns(h)).join(
        newest, and_(h.c.message_ref == newest.c.message_ref, h.c.version == newest.c.version)
    )
    return _counts(conn, query, h)


def _count_columns(t: Table) -> list[Any]:
    return [
        t.c.last_known_folder_key,
        func.count(),
        func.sum(case((t.c.deleted, 1), else_=0)),
        func.sum(case((and_(t.c.is_read == false(), ~t.c.deleted), 1), else_=0)),
    ]


def _counts(conn: Connection, query: Select[Any], t: Table) -> Counts:
    # Withdrawn rows have no folder (their metadata is blanked): they fall in the None group,
    # which no folder has, so no filter on ``withdrawn`` is needed (and the index covers it).
    rows = conn.execute(query.group_by(t.c.last_known_folder_key))
    return {row[0]: (row[1], row[2] or 0, row[3] or 0) for row in rows}


def _node(row: Row[tuple[object, ...]], counts: tuple[int, int, int]) -> FolderNode:
    return FolderNode(
        folder_key=row.folder_key,
        parent_folder_key=row.parent_folder_key,
        display_name=row.display_name,
        distinguished_name=row.distinguished_name,
        deleted=row.deleted,
        deleted_time=from_ms(row.deleted_time),
        messages=counts[0],
        deleted_messages=counts[1],
        unread=counts[2],
        exchange_total_count=row.total_count,
    )


def _tree_order(nodes: list[FolderNode]) -> list[FolderNode]:
    """Depth-first, siblings well-known first then by name; folders whose parent is unknown
    are roots."""
    known = {n.folder_key for n in nodes}
    children: dict[str | None, list[FolderNode]] = defaultdict(list)
    for node in nodes:
        parent = node.parent_folder_key if node.parent_folder_key in known else None
        children[parent].append(node)
    ordered: list[FolderNode] = []
    stack = sorted(children[None], key=_sort_key, reverse=True)
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        if node.folder_key in seen:
            continue  # a parent cycle in bad data must not loop forever
        seen.add(node.folder_key)
        ordered.append(node)
        stack.extend(sorted(children[node.folder_key], key=_sort_key, reverse=True))
    ordered.extend(n for n in nodes if n.folder_key not in seen)
    return ordered


# A mail client's order: the well-known folders first, then the user's own by name.
WELL_KNOWN = {"inbox": 0, "drafts": 1, "sentitems": 2, "deleteditems": 3, "archive": 4}


def _sort_key(node: FolderNode) -> tuple[bool, int, str]:
    rank = WELL_KNOWN.get((node.distinguished_name or "").lower(), len(WELL_KNOWN))
    return (node.deleted, rank, node.display_name.lower())
