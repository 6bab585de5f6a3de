"""Applying a checked batch to the store: one transaction, idempotent by per-key version.

For folders and messages, each key's current row takes the highest version ever received, and
every version received goes into the history once (a duplicate or a stale replay is recognised by
its version and changes nothing), so submitting a batch twice, or batches out of order, leaves the
same store. A withdrawn message version erases the key's earlier history and raises a floor
(``withdrawn_version``) below which replayed versions are never stored again.

Why whole batches, not mailbox by mailbox: the publisher's batches mix records of many mailboxes,
a few each, and a statement costs far more (SQLAlchemy compiling, a round trip) than the rows it
carries. So a batch is a fixed handful of statements whatever the number of mailboxes in it: one
lookup per kind of what is held (keys joined with their history versions, through a ``VALUES``
list both SQLite and PostgreSQL index-join), then one executemany per kind of write (psycopg
pipelines those on PostgreSQL; SQLite runs them in C). ``archive_bench`` measures both ways.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, bindparam, case, delete, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import BindParameter, TextClause

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

# Keys per lookup, three parameters each: within the 999 variables SQLite allowed before 3.32.
LOOKUP_CHUNK = 256
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


Pair = tuple[int, str]  # (mailbox id, folder or message key)


@dataclass(frozen=True)
class _Version:
    mailbox_id: int
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
    folder_states: list[_Version] = []
    message_states: list[_Version] = []
    statuses: list[tuple[int, StatusRecord]] = []
    for record in records:
        mailbox_id = ids[record.state.mailbox]
        if isinstance(record, FolderRecord):
            s = record.state
            folder_states.append(
                _Version(mailbox_id, s.folder_key, s.version, s.observed_time, folder_row(s))
            )
        elif isinstance(record, MessageRecord):
            m = record.state
            message_states.append(
                _Version(mailbox_id, m.message_key, m.version, m.observed_time, message_row(m),
                         is_withdrawn(m))
            )
        else:
            statuses.append((mailbox_id, record))
    outcome = Outcome(records=len(records))
    _apply_keyed(conn, FOLDERS, folder_states, outcome)
    _apply_keyed(conn, MESSAGES, message_states, outcome)
    _apply_statuses(conn, statuses, outcome)
    _touch_mailboxes(conn, ids, records, now_ms)
    return outcome


def _mailbox_ids(conn: Connection, addresses: set[str], now_ms: int) -> dict[str, int]:
    conn.execute(
        insert_ignoring_duplicates(conn, mailboxes),
        [{"address": a, "first_seen_time": now_ms} for a in sorted(addresses)],
    )
    found: dict[str, int] = {}
    for chunk in _chunks(sorted(addresses), LOOKUP_CHUNK):
        rows = conn.execute(
            select(mailboxes.c.address, mailboxes.c.id).where(mailboxes.c.address.in_(chunk))
        )
        found.update({address: mailbox_id for address, mailbox_id in rows})
    return found


def _apply_keyed(conn: Connection, kind: _Kind, versions: list[_Version], outcome: Outcome) -> None:
    if not versions:
        return
    grouped: dict[Pair, dict[int, _Version]] = defaultdict(dict)
    for v in versions:
        grouped[v.mailbox_id, v.key].setdefault(v.version, v)  # the same version twice is one
    lowest = {pair: min(by_version) for pair, by_version in grouped.items()}
    held = _load_held(conn, kind, lowest)
    fresh = [pair for pair in grouped if pair not in held]
    if fresh:
        _insert_current(conn, kind, {pair: grouped[pair] for pair in fresh})
        held.update(_load_held(conn, kind, {pair: lowest[pair] for pair in fresh}))
    # Our own insert holds the top version; a concurrent writer's lower one is updated below.
    inserted = {pair for pair in fresh if held[pair].version == max(grouped[pair])}
    outcome.applied += len(inserted)
    updates: list[Row] = []
    new_history: list[Row] = []
    raised_floors: list[Row] = []
    for pair, by_version in grouped.items():
        h = held[pair]
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
                    {kind.ref: h.ref, "mailbox_id": pair[0], "version": v.version,
                     "valid_from": v.observed, **v.row}
                )
            became_current = v is top and (pair in inserted or top.version > h.version)
            outcome.stale += not (added or became_current)
        if floor > h.floor:
            raised_floors.append({"b_ref": h.ref, "b_floor": floor})
    outcome.stale += len(versions) - sum(len(v) for v in grouped.values())
    _write(conn, kind, updates, new_history, raised_floors)
    outcome.history += len(new_history)


def _write(
    conn: Connection, kind: _Kind, updates: list[Row], history: list[Row], floors: list[Row]
) -> None:
    """Every write of one kind, one executemany each, in id order (two archive processes that
    take row locks in the same order cannot deadlock each other)."""
    table = kind.current
    if updates:
        conn.execute(
            update(table).where(
                table.c.id == bindparam("b_ref"), table.c.version < bindparam("b_v")
            ),
            sorted(updates, key=lambda row: int(row["b_ref"])),
        )
    if floors:
        floors.sort(key=lambda row: int(row["b_ref"]))
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
    conn: Connection, kind: _Kind, grouped: dict[Pair, dict[int, _Version]]
) -> None:
    rows = []
    for (mailbox_id, key), by_version in grouped.items():
        top = by_version[max(by_version)]
        floor = max([0] + [v.version for v in by_version.values() if v.withdrawn])
        rows.append({"mailbox_id": mailbox_id, kind.key: key, **_current_values(kind, top, floor)})
    rows.sort(key=lambda row: (row["mailbox_id"], row[kind.key]))
    conn.execute(insert_ignoring_duplicates(conn, kind.current), rows)


def _load_held(conn: Connection, kind: _Kind, lowest: dict[Pair, int]) -> dict[Pair, _Held]:
    """What the store holds for the keys of ``lowest``: current row id, version, withdrawal
    floor, and which versions from the key's lowest one in the batch on are in the history (only
    those can be duplicates; a long-lived folder has thousands before), in one statement per
    ``LOOKUP_CHUNK`` keys.

    The keys arrive as a ``VALUES`` list joined to the current table on its unique
    ``(mailbox_id, key)`` index; a row-value ``IN`` would be simpler, but SQLite scans the whole
    table for it."""
    held: dict[Pair, _Held] = {}
    for chunk in _chunks(list(lowest.items()), LOOKUP_CHUNK):
        # Padded to a power of two with a key no mailbox has (ids start at 1), so a handful of
        # statement texts serve every batch and SQLAlchemy compiles each once.
        size = max(16, 1 << (len(chunk) - 1).bit_length())
        params: dict[str, Any] = {}
        for n, ((mailbox_id, key), low) in enumerate(chunk + [((0, ""), 0)] * (size - len(chunk))):
            params[f"m{n}"], params[f"k{n}"], params[f"v{n}"] = mailbox_id, key, low
        for mailbox_id, key, ref, version, floor, past in conn.execute(
            _lookup(kind, size), params
        ):
            found = held.get((mailbox_id, key))
            if found is None:
                found = held[mailbox_id, key] = _Held(ref, version, floor)
            if past is not None:
                found.history.add(past)
    return held


@functools.cache
def _lookup(kind: _Kind, count: int) -> TextClause:
    return text(_lookup_sql(kind, count))


def _lookup_sql(kind: _Kind, count: int) -> str:
    current, hist = kind.current.name, kind.history.name
    floor = "c.withdrawn_version" if kind.withdraws else "0"
    wanted = ", ".join(
        f"(CAST(:m{n} AS BIGINT), :k{n}, CAST(:v{n} AS BIGINT))" for n in range(count)
    )
    # Only our own table and column names and numbered placeholders go into the text.
    return (
        f"WITH wanted (mailbox_id, item_key, lowest) AS (VALUES {wanted}) "  # noqa: S608
        f"SELECT c.mailbox_id, c.{kind.key}, c.id, c.version, {floor}, h.version "
        f"FROM wanted JOIN {current} c "
        f"ON c.mailbox_id = wanted.mailbox_id AND c.{kind.key} = wanted.item_key "
        f"LEFT JOIN {hist} h ON h.{kind.ref} = c.id AND h.version >= wanted.lowest"
    )


def _apply_statuses(
    conn: Connection, statuses: list[tuple[int, StatusRecord]], outcome: Outcome
) -> None:
    """Each component's newest status per mailbox: held times are read in one statement, the
    batch's records are judged in order against them (as if applied one by one), and only the
    newest of each pair is written."""
    if not statuses:
        return
    t = mailbox_status
    held: dict[tuple[int, str], int] = {}
    for chunk in _chunks(sorted({mailbox_id for mailbox_id, _ in statuses}), LOOKUP_CHUNK):
        rows = conn.execute(
            select(t.c.mailbox_id, t.c.component, t.c.updated_time).where(
                t.c.mailbox_id.in_(chunk)
            )
        )
        held.update({(mailbox_id, component): when for mailbox_id, component, when in rows})
    newest: dict[tuple[int, str], Row] = {}
    for mailbox_id, record in statuses:
        row = {"mailbox_id": mailbox_id, **status_row(record.state)}
        pair = (mailbox_id, row["component"])
        latest = newest[pair]["updated_time"] if pair in newest else held.get(pair)
        if latest is None or row["updated_time"] > latest:
            newest[pair] = row
            outcome.applied += 1
        else:
            outcome.stale += 1
    if not newest:
        return
    ordered = [newest[pair] for pair in sorted(newest)]
    absent = [row for row in ordered if (row["mailbox_id"], row["component"]) not in held]
    if absent:
        conn.execute(insert_ignoring_duplicates(conn, t), absent)
    # Also for the ones just inserted: a concurrent writer may have inserted an older one first.
    conn.execute(
        update(t).where(
            t.c.mailbox_id == bindparam("b_mailbox"),
            t.c.component == bindparam("b_component"),
            t.c.updated_time < bindparam("b_time"),
        ),
        [
            row | {"b_mailbox": row["mailbox_id"], "b_component": row["component"],
                   "b_time": row["updated_time"]}
            for row in ordered
        ],
    )


def _touch_mailboxes(
    conn: Connection, ids: dict[str, int], records: Sequence[Parsed], now_ms: int
) -> None:
    newest: dict[str, int] = {}
    for r in records:
        if not isinstance(r, StatusRecord):
            newest[r.state.mailbox] = max(newest.get(r.state.mailbox, 0), r.state.observed_time)
    if not newest:
        return
    t = mailboxes
    observed: BindParameter[int] = bindparam("b_observed")
    conn.execute(
        update(t)
        .where(t.c.id == bindparam("b_id"))
        .values(
            last_ingest_time=bindparam("b_now"),
            lag_ms=bindparam("b_lag"),
            last_change_time=case(
                (or_(t.c.last_change_time.is_(None), t.c.last_change_time < observed), observed),
                else_=t.c.last_change_time,
            ),
        ),
        sorted(
            (
                {"b_id": ids[address], "b_now": now_ms, "b_lag": max(0, now_ms - when),
                 "b_observed": when}
                for address, when in newest.items()
            ),
            key=lambda row: row["b_id"],
        ),
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
