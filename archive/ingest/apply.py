"""Applying a checked batch to the store: one transaction, idempotent by per-key version.

For folders and messages, each key's current row takes the highest version ever received, and
every version received goes into the history once (a duplicate or a stale replay is recognised by
its version and changes nothing), so submitting a batch twice, or batches out of order, leaves the
same store. A withdrawn message version erases the key's earlier history and raises a floor
(``withdrawn_version``) below which replayed versions are never stored again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from archive.ingest.rows import Row, folder_row, is_withdrawn, message_row, status_row
from archive.ingest.wire import FolderRecord, MessageRecord, StatusRecord
from archive.store.tables import (
    folder_history,
    folders,
    mailbox_status,
    mailboxes,
    message_history,
    messages,
)

CHUNK = 500
Parsed = FolderRecord | MessageRecord | StatusRecord


@dataclass
class Outcome:
    """What a batch changed."""

    records: int = 0
    applied: int = 0
    history: int = 0
    stale: int = 0


@dataclass(frozen=True)
class _Kind:
    current: Table
    history: Table
    key: str
    ref: str
    withdraws: bool


FOLDERS = _Kind(folders, folder_history, "folder_key", "folder_ref", withdraws=False)
MESSAGES = _Kind(messages, message_history, "message_key", "message_ref", withdraws=True)


@dataclass(frozen=True)
class _Version:
    key: str
    version: int
    observed: int
    row: Row
    withdrawn: bool = False


@dataclass
class _Held:
    ref: int
    version: int
    floor: int
    history: set[int] = field(default_factory=set)


def insert_ignoring_duplicates(conn: Connection, table: Table) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def apply_batch(conn: Connection, records: Sequence[Parsed], now_ms: int) -> Outcome:
    """Apply ``records`` inside the caller's transaction."""
    ids = _mailbox_ids(conn, {r.state.mailbox for r in records}, now_ms)
    folder_states: dict[int, list[_Version]] = defaultdict(list)
    message_states: dict[int, list[_Version]] = defaultdict(list)
    outcome = Outcome(records=len(records))
    for record in records:
        mailbox_id = ids[record.state.mailbox]
        if isinstance(record, FolderRecord):
            s = record.state
            folder_states[mailbox_id].append(
                _Version(s.folder_key, s.version, s.observed_time, folder_row(s))
            )
        elif isinstance(record, MessageRecord):
            m = record.state
            message_states[mailbox_id].append(
                _Version(m.message_key, m.version, m.observed_time, message_row(m), is_withdrawn(m))
            )
        elif _apply_status(conn, mailbox_id, record):
            outcome.applied += 1
        else:
            outcome.stale += 1
    for mailbox_id, versions in folder_states.items():
        _apply_keyed(conn, FOLDERS, mailbox_id, versions, outcome)
    for mailbox_id, versions in message_states.items():
        _apply_keyed(conn, MESSAGES, mailbox_id, versions, outcome)
    _touch_mailboxes(conn, ids, records, now_ms)
    return outcome


def _mailbox_ids(conn: Connection, addresses: set[str], now_ms: int) -> dict[str, int]:
    conn.execute(
        insert_ignoring_duplicates(conn, mailboxes),
        [{"address": a, "first_seen_time": now_ms} for a in sorted(addresses)],
    )
    rows = conn.execute(
        select(mailboxes.c.address, mailboxes.c.id).where(mailboxes.c.address.in_(addresses))
    )
    return {address: mailbox_id for address, mailbox_id in rows}


def _apply_keyed(
    conn: Connection, kind: _Kind, mailbox_id: int, versions: list[_Version], outcome: Outcome
) -> None:
    grouped: dict[str, dict[int, _Version]] = defaultdict(dict)
    for v in versions:
        grouped[v.key].setdefault(v.version, v)  # the same version twice is one state
    held = _load_held(conn, kind, mailbox_id, grouped)
    fresh = [key for key in grouped if key not in held]
    if fresh:
        _insert_current(conn, kind, mailbox_id, {k: grouped[k] for k in fresh})
        held.update(_load_held(conn, kind, mailbox_id, {k: grouped[k] for k in fresh}))
    # Our own insert holds the top version; a concurrent writer's lower one is updated below.
    inserted = {k for k in fresh if held[k].version == max(grouped[k])}
    outcome.applied += len(inserted)
    updates: list[Row] = []
    new_history: list[Row] = []
    raised_floors: list[Row] = []
    for key, by_version in grouped.items():
        h = held[key]
        ordered = [by_version[n] for n in sorted(by_version)]
        top = ordered[-1]
        floor = max([h.floor] + [v.version for v in ordered if v.withdrawn])
        if top.version > h.version:
            updates.append(_current_values(kind, top, floor) | {"b_ref": h.ref, "b_v": top.version})
            outcome.applied += 1
        for v in ordered:
            added = v.version >= floor and v.version not in h.history
            if added:
                new_history.append(
                    {kind.ref: h.ref, "mailbox_id": mailbox_id, "version": v.version,
                     "valid_from": v.observed, **v.row}
                )
            became_current = v is top and (key in inserted or top.version > h.version)
            outcome.stale += not (added or became_current)
        if floor > h.floor:
            raised_floors.append({"b_ref": h.ref, "b_floor": floor})
    outcome.stale += len(versions) - sum(len(v) for v in grouped.values())
    _write(conn, kind, updates, new_history, raised_floors)
    outcome.history += len(new_history)


def _write(
    conn: Connection, kind: _Kind, updates: list[Row], history: list[Row], floors: list[Row]
) -> None:
    table = kind.current
    if updates:
        conn.execute(
            update(table).where(
                table.c.id == bindparam("b_ref"), table.c.version < bindparam("b_v")
            ),
            updates,
        )
    if floors:
        hist = kind.history
        conn.execute(
            delete(hist).where(
                hist.c[kind.ref] == bindparam("b_ref"), hist.c.version < bindparam("b_floor")
            ),
            floors,
        )
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("b_ref"))
            .where(table.c.withdrawn_version < bindparam("b_floor"))
            .values(withdrawn_version=bindparam("b_floor")),
            floors,
        )
    if history:
        conn.execute(insert_ignoring_duplicates(conn, kind.history), history)


def _current_values(kind: _Kind, top: _Version, floor: int) -> Row:
    values: Row = {**top.row, "version": top.version, "observed_time": top.observed}
    if kind.withdraws:
        values["withdrawn_version"] = floor
    return values


def _insert_current(
    conn: Connection, kind: _Kind, mailbox_id: int, grouped: dict[str, dict[int, _Version]]
) -> None:
    rows = []
    for key, by_version in grouped.items():
        top = by_version[max(by_version)]
        floor = max([0] + [v.version for v in by_version.values() if v.withdrawn])
        rows.append({"mailbox_id": mailbox_id, kind.key: key, **_current_values(kind, top, floor)})
    conn.execute(insert_ignoring_duplicates(conn, kind.current), rows)


def _load_held(
    conn: Connection, kind: _Kind, mailbox_id: int, keys: Iterable[str]
) -> dict[str, _Held]:
    table = kind.current
    floor = table.c.withdrawn_version if kind.withdraws else literal(0)
    held: dict[str, _Held] = {}
    for chunk in _chunks(list(keys)):
        rows = conn.execute(
            select(table.c[kind.key], table.c.id, table.c.version, floor).where(
                table.c.mailbox_id == mailbox_id, table.c[kind.key].in_(chunk)
            )
        )
        for key, ref, version, withdrawn_version in rows:
            held[key] = _Held(ref, version, withdrawn_version)
    by_ref = {h.ref: h for h in held.values()}
    hist = kind.history
    for refs in _chunks(list(by_ref)):
        for ref, version in conn.execute(
            select(hist.c[kind.ref], hist.c.version).where(hist.c[kind.ref].in_(refs))
        ):
            by_ref[ref].history.add(version)
    return held


def _apply_status(conn: Connection, mailbox_id: int, record: StatusRecord) -> bool:
    row = {"mailbox_id": mailbox_id, **status_row(record.state)}
    insert = insert_ignoring_duplicates(conn, mailbox_status).returning(mailbox_status.c.state)
    if conn.execute(insert, row).first() is not None:
        return True
    t = mailbox_status
    result = conn.execute(
        update(t)
        .where(t.c.mailbox_id == mailbox_id, t.c.component == row["component"])
        .where(t.c.updated_time < row["updated_time"])
        .values(row)
    )
    return bool(result.rowcount)


def _touch_mailboxes(
    conn: Connection, ids: dict[str, int], records: Sequence[Parsed], now_ms: int
) -> None:
    newest: dict[str, int] = {}
    for r in records:
        if not isinstance(r, StatusRecord):
            newest[r.state.mailbox] = max(newest.get(r.state.mailbox, 0), r.state.observed_time)
    for address, observed in newest.items():
        t = mailboxes
        conn.execute(
            update(t)
            .where(t.c.id == ids[address])
            .values(last_ingest_time=now_ms, lag_ms=max(0, now_ms - observed))
        )
        conn.execute(
            update(t)
            .where(t.c.id == ids[address])
            .where((t.c.last_change_time < observed) | t.c.last_change_time.is_(None))
            .values(last_change_time=observed)
        )


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
