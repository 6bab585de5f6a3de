"""A mailbox of a million messages for ``archive_bench``, loaded in minutes rather than hours.

Why not through the ingest API: at the ~1,000 records/s the HTTP ingest reaches on this shared
2-core machine, a million messages would take the best part of an hour per database. So the
mailbox is loaded in two parts, and the second is proven to equal what the ingest would write:

1. its folders and the first ``sample`` messages go through the real ingest API (``POST
   /api/ingest/v1/batches``): that also gives the ingest rate;
2. the rest are turned into rows by the ingest's own code (``parse_record`` checks each record,
   ``message_row`` makes the columns, the version and times as ``apply_batch`` sets them for a
   new key: one current row and one history version) and inserted in large transactions
   (``executemany`` on SQLite, ``COPY`` on PostgreSQL) with ids after the ingest's;
3. the rows the same builder makes for the sample must equal, column for column (ids aside),
   the rows the ingest stored for it, or the benchmark stops.

The mailbox: ``folder_messages`` in the Inbox (100,000 by default), the rest spread over Sent
Items, Deleted Items, Archive and ten project folders, every folder spanning the whole year the
messages were received over; 5,000 correspondents (a tenth without a display name, so sorting
by sender falls back to the address), subjects with many ties, 2% deleted from their folder.
``COMMON`` is in 5% of subjects and ``RARE`` in one message in 50,000: the search terms.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, case, event, false, func, select

from archive.ingest.rows import message_row
from archive.ingest.wire import MessageRecord, parse_record
from archive.store.engine import open_engine
from archive.store.tables import folder_counts, message_history, messages

BOX = "bench@example.com"
T0 = 1_700_000_000_000
COMMON = "budget"
RARE = "zanzibar"
CHUNK = 20_000  # rows per transaction of the bulk load
FIRST = ("Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas",
         "Kira", "Liam", "Mona", "Nils", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tara")
LAST = ("Adler", "Berg", "Costa", "Dahl", "Evans", "Fischer", "Garcia", "Horvat", "Ivanova",
        "Jensen", "Kowalski", "Larsen", "Moreau", "Novak", "Olsen", "Petrov", "Rossi", "Silva",
        "Tanaka", "Weber", "Young", "Ziegler", "Moretti", "Lindqvist", "Keller")
TOPICS = (COMMON, "invoice", "meeting notes", "travel request", "release plan", "contract",
          "weekly report", "incident review", "hiring", "training", "offsite", "roadmap",
          "security review", "newsletter", "customer escalation", "forecast", "audit",
          "onboarding", "maintenance window", "design review")
# Folder key -> (display name, distinguished name, share of the messages outside the Inbox).
FOLDERS: dict[str, tuple[str, str | None, float]] = {
    "inbox": ("Inbox", "inbox", 0.0),
    "sentitems": ("Sent Items", "sentitems", 0.17),
    "deleteditems": ("Deleted Items", "deleteditems", 0.11),
    "archive": ("Archive", "archive", 0.28),
    **{f"projects-{n:02d}": (f"Project {n:02d}", None, 0.044) for n in range(1, 11)},
}


def folder_records() -> list[dict[str, Any]]:
    """The mailbox's folders (and its root) as FolderState wire records."""
    out = []
    for key, (name, well_known, _share) in {"root": ("Top of Information Store", None, 0),
                                            **FOLDERS}.items():
        out.append({"type": "FolderState", "ref": f"folders/{key}", "state": {
            "mailbox": BOX, "folder_key": key, "folder_id": f"AAMkAGI2-folder-{key}",
            "parent_folder_key": None if key == "root" else "root", "display_name": name,
            "folder_class": "IPF.Note", "distinguished_name": well_known,
            "version": 1, "observed_time": T0}})
    return out


def folder_plan(total: int, in_inbox: int) -> list[str]:
    """Each message's folder: ``in_inbox`` in the Inbox, the rest by the folders' shares,
    shuffled so that every folder spans the whole time range."""
    in_inbox = min(in_inbox, total)
    rest = total - in_inbox
    plan = ["inbox"] * in_inbox
    others = [(key, share) for key, (_n, _w, share) in FOLDERS.items() if share]
    weight = sum(share for _key, share in others)
    for n, (key, share) in enumerate(others):
        last = n == len(others) - 1
        plan += [key] * (rest - (len(plan) - in_inbox) if last else int(rest * share / weight))
    random.Random(7).shuffle(plan)  # noqa: S311 - a reproducible mailbox, not a secret
    return plan


def person(n: int) -> dict[str, Any]:
    """Correspondent ``n`` of 5,000; every tenth has no display name."""
    n %= 5000
    first, last = FIRST[n % len(FIRST)], LAST[n // len(FIRST) % len(LAST)]
    address = f"{first.lower()}.{last.lower()}{n}@partner{n % 40}.example"
    return {"name": None if n % 10 == 3 else f"{first} {last}", "email_address": address}


def message_record(i: int, folder: str) -> dict[str, Any]:
    """Message ``i`` (newest first, one every 30 s) of ``folder``, as the extractor sends it
    after the initial sync."""
    received = T0 - i * 30_000
    topic = TOPICS[i % len(TOPICS)]
    rare = f" {RARE}" if i % 50_000 == 7 else ""
    deleted = folder == "deleteditems" or (i % 50 == 11 and folder != "sentitems")
    me = {"name": "Bench Owner", "email_address": BOX}
    state: dict[str, Any] = {
        "mailbox": BOX,
        "message_key": f"AAMkADBm{i:012d}" + "x" * 100,
        "item_id": f"AAMkAGI2{i:012d}" + "y" * 120,
        "change_key": "CQAAABYAAAB" + "z" * 30,
        "folder_key": "deleteditems" if deleted else folder,
        "last_known_folder_key": folder,
        "deleted": deleted,
        "deleted_time": T0 if deleted else None,
        "delete_kind": "MovedToDeletedItems" if deleted else None,
        "item_class": "IPM.Note",
        "subject": f"{'Re: ' if i % 3 == 1 else ''}{topic.capitalize()} {i % 997}{rare}",
        "sender": me if folder == "sentitems" else person(i * 7),
        "to_recipients": [person(i * 13) if folder == "sentitems" else me],
        "cc_recipients": [person(i * 17)] if i % 5 == 0 else [],
        "datetime_received": received,
        "datetime_sent": received - 4000,
        "size": (2 + (i * 7919) % 4000) * 1024,
        "is_read": i % 4 != 0,
        "importance": "High" if i % 40 == 0 else "Normal",
        "flag_status": "Flagged" if i % 50 == 0 else "NotFlagged",
        "categories": ["Finance"] if i % 10 == 0 else [],
        "has_attachments": i % 7 == 0,
        "internet_message_id": f"<{i}.{i * 31 % 100_000}@mail.corp.example>",
        "conversation_id": f"AAQkADBm{i // 3:010d}" + "c" * 40,
        "version": 1,
        "observed_time": T0 + 1000,
    }
    return {"type": "MessageState", "ref": f"messages/{i}", "state": state}


def message_records(plan: list[str], start: int = 0, stop: int | None = None
                    ) -> Iterator[dict[str, Any]]:
    """Wire records of messages ``start`` to ``stop`` of the plan."""
    for i in range(start, len(plan) if stop is None else stop):
        yield message_record(i, plan[i])


def rows_of(record: dict[str, Any], box: int, ident: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``messages`` row and the ``message_history`` row the ingest writes for a new key
    (``apply_batch``: ``_insert_current`` with no withdrawal floor, then the one version)."""
    parsed = parse_record(0, record)
    assert isinstance(parsed, MessageRecord)  # noqa: S101 - we built a message record
    state = parsed.state
    row = message_row(state)
    current = {"id": ident, "mailbox_id": box, "message_key": state.message_key,
               "version": state.version, "observed_time": state.observed_time,
               "withdrawn_version": 0, **row}
    history = {"id": ident, "message_ref": ident, "mailbox_id": box, "version": state.version,
               "valid_from": state.observed_time, **row}
    return current, history


def verify_sample(engine: Engine, box: int, sample: list[dict[str, Any]]) -> None:
    """The bulk loader's rows for ``sample`` equal what the ingest stored for it (ids aside)."""
    keys = [r["state"]["message_key"] for r in sample]
    with engine.connect() as conn:
        stored = {row.message_key: dict(row._mapping) for row in conn.execute(
            select(messages).where(messages.c.mailbox_id == box, messages.c.message_key.in_(keys)))}
        history = {row.message_key: dict(row._mapping) for row in conn.execute(
            select(message_history, messages.c.message_key)
            .join(messages, messages.c.id == message_history.c.message_ref)
            .where(messages.c.mailbox_id == box, messages.c.message_key.in_(keys)))}
    for record in sample:
        key = record["state"]["message_key"]
        current, past = rows_of(record, box, 0)
        for built, held in ((current, stored.get(key)), (past, history.get(key))):
            if held is None:
                raise RuntimeError(f"the ingest stored no row for {key}")
            different = {name for name in built if name not in ("id", "message_ref")
                         and built[name] != held[name]}
            if different or set(built) - set(held):
                raise RuntimeError(f"bulk rows differ from the ingest's for {key}: {different}")


def _next_id(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar() or 0) + 1


def bulk_load(url: str, box: int, records: Iterator[dict[str, Any]]) -> int:
    """Insert ``records`` (all new keys) as the ingest would; returns how many. Through an
    engine of its own, whose SQLite connections get a cache big enough for the indexes being
    filled (the archive's own connections keep their default)."""
    engine = open_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _big_cache)
    try:
        return _load(engine, box, records)
    finally:
        engine.dispose()


def _big_cache(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA cache_size = -1000000")  # KiB: 1 GB


def _load(engine: Engine, box: int, records: Iterator[dict[str, Any]]) -> int:
    with engine.connect() as conn:
        ident, hist_ident = _next_id(conn, messages), _next_id(conn, message_history)
    offset = hist_ident - ident
    count = 0
    pending: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for record in records:
        current, history = rows_of(record, box, ident + count)
        history["id"] = ident + count + offset
        pending.append((current, history))
        count += 1
        if len(pending) == CHUNK:
            _insert(engine, pending)
            pending = []
    if pending:
        _insert(engine, pending)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            for table in ("messages", "message_history"):  # later ingests continue after these
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {table}))")
    return count


def _insert(engine: Engine, pending: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    with engine.begin() as conn:
        for table, rows in ((messages, [p[0] for p in pending]),
                            (message_history, [p[1] for p in pending])):
            columns = [c.name for c in table.c]
            if set(rows[0]) != set(columns):
                raise RuntimeError(f"{table.name}: rows do not fill exactly its columns")
            values = [tuple(row[c] for c in columns) for row in rows]
            _insert_rows(conn, table, columns, values)


def _insert_rows(conn: Connection, table: Table, columns: list[str],
                 values: list[tuple[Any, ...]]) -> None:
    raw: Any = conn.connection.driver_connection
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    raw.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", values)  # noqa: S608


def check_counts(engine: Engine, box: int) -> None:
    """The counts the database kept while the rows went in (``folder_counts``, by triggers)
    equal a recount of the mailbox's messages."""
    m, c = messages.c, folder_counts.c
    recount = (
        select(m.last_known_folder_key, func.count(), func.sum(case((m.deleted, 1), else_=0)),
               func.sum(case((and_(m.is_read == false(), ~m.deleted), 1), else_=0)))
        .where(m.mailbox_id == box, m.last_known_folder_key.is_not(None))
        .group_by(m.last_known_folder_key)
    )
    with engine.connect() as conn:
        counted = {tuple(row) for row in conn.execute(recount)}
        kept = {tuple(row) for row in conn.execute(
            select(c.folder_key, c.messages, c.deleted, c.unread).where(c.mailbox_id == box))}
    if counted != kept:
        raise RuntimeError(f"folder counts differ from a recount: {sorted(counted ^ kept)}")


def settle(engine: Engine) -> float:
    """What a database that has been running a while has done, so the reads do not share the
    machine with the load's aftermath: PostgreSQL's autovacuum would have vacuumed every
    table (the visibility map for index-only scans; ``folder_counts`` holds a dead version of
    its rows per message loaded) and analysed the new rows, and a checkpoint would have
    written the load's pages out; SQLite's WAL is checkpointed into the database (SQLite gathers
    no statistics unless asked, and the archive never asks, so it gets none). Seconds."""
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("VACUUM (ANALYZE)")
            conn.exec_driver_sql("CHECKPOINT")
        else:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return time.perf_counter() - started
