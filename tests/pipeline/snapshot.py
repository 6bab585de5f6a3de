"""An archive's replicated content, independent of row ids and ingest times, for comparing two
archives built from the same topics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Table, select

from archive.store.tables import (
    folder_history,
    folders,
    mailbox_status,
    mailboxes,
    message_history,
    messages,
)

# When the archive happened to apply something, and its own row ids, differ between two archives
# built from the same records; everything else must be equal.
_INCIDENTAL = {"id", "mailbox_id", "folder_ref", "message_ref", "first_seen_time",
               "last_ingest_time", "lag_ms"}
_KEYED = {folders: None, messages: None, folder_history: folders, message_history: messages}


def archive_snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every mailbox, folder, message, history version and status row, sorted, without ids."""
    with engine.connect() as conn:
        snapshot = {"mailboxes": sorted(
            (row.address, row.last_change_time) for row in conn.execute(select(mailboxes))
        )}
        for table in (*_KEYED, mailbox_status):
            snapshot[table.name] = sorted(
                (_address(conn, row.mailbox_id), _owner_key(conn, table, row),
                 *_essential(table, row))
                for row in conn.execute(select(table))
            )
    return snapshot


def _essential(table: Table, row: Any) -> tuple[Any, ...]:
    return tuple(
        (name, getattr(row, name)) for name in table.columns.keys()  # noqa: SIM118 - names
        if name not in _INCIDENTAL
    )


def _address(conn: Any, mailbox_id: int) -> str:
    return str(conn.execute(
        select(mailboxes.c.address).where(mailboxes.c.id == mailbox_id)
    ).scalar_one())


def _owner_key(conn: Any, table: Table, row: Any) -> str:
    """The folder or message key a history row belongs to (its own key for current rows)."""
    if table is folders:
        return str(row.folder_key)
    if table is messages:
        return str(row.message_key)
    owner = _KEYED.get(table)
    if owner is None:
        return ""  # status rows: keyed by mailbox and component
    ref = row.folder_ref if owner is folders else row.message_ref
    key_column = owner.c.folder_key if owner is folders else owner.c.message_key
    return str(conn.execute(select(key_column).where(owner.c.id == ref)).scalar_one())
