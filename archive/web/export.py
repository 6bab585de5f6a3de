"""A message list — a folder's, a search's, a conversation's, with its filters — as CSV or JSON:
metadata only, as the list shows it.

The URL parameters are the mailbox page's (``archive.web.listview``), so the UI's export links
are its own URL on the browse API's export route, whose grant check is every browse route's
(not yours: 403; not held: 404). The answer is streamed a chunk of rows at a time, each chunk
read by keyset on a connection of its own, so neither memory nor a database connection grows
with the export; one larger than ``export_max_messages`` is refused up front (400) rather
than cut short."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

from fastapi import HTTPException
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine

from archive.browse.listing import (
    MessageFilter,
    conversation_of,
    folder_names,
    message_page,
    page_place,
)
from archive.browse.models import MessageSummary
from archive.browse.ordering import Order
from archive.browse.tree import folder_tree
from archive.web.context import ArchiveContext
from archive.web.listview import BadViewError, ListView

CHUNK = 500
COLUMNS = (
    "id", "folder", "subject", "sender_name", "sender_address", "to", "received", "sent",
    "size", "is_read", "flag_status", "importance", "has_attachments", "deleted",
    "deleted_time", "delete_kind", "message_key", "folder_key", "last_known_folder_key",
)
# A spreadsheet runs a cell that starts like a formula; a subject is anyone's to choose.
FORMULA = re.compile(r"^[=+\-@\t\r]")


def export_response(
    ctx: ArchiveContext, box: int, mailbox: str, view: ListView, fmt: str
) -> StreamingResponse:
    """The messages the mailbox page with the same parameters lists, every page of them, in
    its order, as ``fmt`` (csv or json); 400 for a bad parameter or too many messages, 404 for
    a conversation that is not there."""
    try:
        view.check()
    except BadViewError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    wanted, names = _selection(ctx.engine, box, mailbox, view)
    order = view.order()
    with ctx.engine.connect() as conn:
        total = page_place(conn, box, wanted, None, 1, order=order).total
    limit = ctx.settings.export_max_messages
    if total > limit:
        raise HTTPException(
            status_code=400,
            detail=f"{total} messages match; an export holds at most {limit}: narrow it "
            "(a folder, dates, a search)",
        )
    rows = _rows(ctx.engine, box, wanted, order)
    body = _csv(rows, names) if fmt == "csv" else _json(rows, names)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{mailbox}-{_label(view)}")[:120]
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8" if fmt == "csv" else "application/json",
        headers={"Content-Disposition": f'attachment; filename="{stem}.{fmt}"'},
    )


def _selection(
    engine: Engine, box: int, mailbox: str, view: ListView
) -> tuple[MessageFilter, dict[str, str]]:
    """What the view selects, and the folders' names."""
    with engine.connect() as conn:
        names = folder_names(conn, box)
        thread = None
        if view.conversation is not None:
            thread = conversation_of(conn, box, view.conversation)
            if thread is None:
                raise HTTPException(status_code=404, detail="no such conversation here")
        folder = view.folder
        if folder is None and not view.q and thread is None:
            tree = folder_tree(conn, mailbox.strip().lower(), box, None)
            inbox = [f.folder_key for f in tree.folders if f.distinguished_name == "inbox"]
            folder = inbox[0] if inbox else None
    return view.message_filter(folder, thread), names


def _label(view: ListView) -> str:
    if view.conversation is not None:
        return f"conversation-{view.conversation}"
    if view.q:
        return f"search-{view.q}"
    return view.folder or "inbox"


def _rows(engine: Engine, box: int, wanted: MessageFilter, order: Order
          ) -> Iterator[MessageSummary]:
    cursor = None
    while True:
        with engine.connect() as conn:
            page = message_page(conn, box, wanted, cursor, CHUNK, order)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _fields(m: MessageSummary, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": m.id,
        "folder": names.get(m.last_known_folder_key or ""),
        "subject": m.subject,
        "sender_name": m.sender.name if m.sender else None,
        "sender_address": m.sender.email_address if m.sender else None,
        "to": "; ".join(a.email_address or a.name or "" for a in m.to_recipients),
        "received": m.received.isoformat() if m.received else None,
        "sent": m.sent.isoformat() if m.sent else None,
        "size": m.size,
        "is_read": m.is_read,
        "flag_status": m.flag_status,
        "importance": m.importance,
        "has_attachments": m.has_attachments,
        "deleted": m.deleted,
        "deleted_time": m.deleted_time.isoformat() if m.deleted_time else None,
        "delete_kind": m.delete_kind,
        "message_key": m.message_key,
        "folder_key": m.folder_key,
        "last_known_folder_key": m.last_known_folder_key,
    }


def _csv(rows: Iterator[MessageSummary], names: dict[str, str]) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for count, m in enumerate(rows, 1):
        fields = _fields(m, names)
        writer.writerow([_cell(fields[c]) for c in COLUMNS])
        if count % CHUNK == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if FORMULA.match(text) else text


def _json(rows: Iterator[MessageSummary], names: dict[str, str]) -> Iterator[str]:
    """One JSON array, one object a line, written as it is read."""
    yield "["
    for count, m in enumerate(rows):
        yield ("," if count else "") + "\n" + json.dumps(_fields(m, names), ensure_ascii=False)
    yield "\n]\n"
