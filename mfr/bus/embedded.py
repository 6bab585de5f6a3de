"""The embedded bus: a durable single-machine log in SQLite (WAL mode), the default without Kafka.

Each topic is one partition, so every key's records stay in order. A producer's ``flush`` writes its
queued records in one transaction with ``synchronous=FULL``. Consumer groups keep committed offsets
in the same file, so they survive a restart. Like a Kafka group with one partition, only one member
of a group reads at a time: it holds a lease renewed by every poll; a member that stops polling for
``session_timeout_s`` (it crashed, or hangs) loses the lease, and the next member resumes from the
committed offsets. It is meant for one machine; processes on it may share the file.

Cleanup follows each topic's Kafka config: ``delete`` topics lose records older than
``retention.ms``; ``compact`` topics lose a record once a newer one with the same key exists and
it is older than ``min.compaction.lag.ms``. Producers run this at most every
``MAINTENANCE_INTERVAL_MS``.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from mfr.bus.base import (
    Bus,
    Consumer,
    Headers,
    Producer,
    Rebalance,
    Record,
    next_offsets,
)
from mfr.bus.headers import record_headers
from mfr.errors import BusError, BusUnavailableError, CommitFailedError
from mfr.topics import TopicSpec

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    next_offset INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL,
    offset INTEGER NOT NULL,
    key TEXT,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, offset)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_by_time ON records (topic, timestamp_ms);
CREATE INDEX IF NOT EXISTS records_by_key ON records (topic, key, offset);
CREATE TABLE IF NOT EXISTS group_offsets (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic)
);
CREATE TABLE IF NOT EXISTS group_leases (
    group_id TEXT PRIMARY KEY,
    member TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
"""


MAINTENANCE_INTERVAL_MS = 3_600_000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Database:
    """One SQLite connection, serialised by a lock, with sqlite3 errors translated."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(
                path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise BusError(f"cannot open the embedded bus at {path}: {exc}") from exc
        self.path = path

    def run(self, action: str, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one immediate transaction."""
        with self._lock, self._translated(action):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return result

    def read(self, action: str, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` outside an explicit transaction (a consistent read of one statement)."""
        with self._lock, self._translated(action):
            return work(self._conn)

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise BusUnavailableError(f"{action} on {self.path}: {exc}") from exc
        except sqlite3.Error as exc:
            raise BusError(f"{action} on {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class EmbeddedBus(Bus):
    """A bus in one SQLite file."""

    def __init__(self, path: Path, session_timeout_s: float = 10.0) -> None:
        self._path = path
        self._session_timeout_s = session_timeout_s
        self._db = _Database(path)

    def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        rows = [(spec.name, json.dumps(spec.config, sort_keys=True)) for spec in specs]
        self._db.run(
            "creating topics",
            lambda c: c.executemany(
                "INSERT INTO topics (name, config) VALUES (?, ?) ON CONFLICT DO NOTHING", rows
            ),
        )

    def producer(self) -> Producer:
        return EmbeddedProducer(_Database(self._path))

    def consumer(
        self, group: str, topics: Sequence[str], rebalance: Rebalance | None = None
    ) -> Consumer:
        return EmbeddedConsumer(
            _Database(self._path), group, topics, self._session_timeout_s, rebalance
        )

    def end_offsets(self, topic: str) -> dict[int, int]:
        sql = "SELECT next_offset FROM topics WHERE name = ?"
        row = self._db.read("reading the end offset", lambda c: c.execute(sql, (topic,)).fetchone())
        if row is None:
            raise BusError(f"topic {topic} does not exist")
        return {0: int(row[0])}

    def read(self, topic: str, starts: Mapping[int, int]) -> Iterator[Record]:
        end = self.end_offsets(topic)[0]
        positions = {topic: starts[0]} if 0 in starts else {}
        while positions and positions[topic] < end:
            rows = self._db.read("reading", lambda c: _fetch(c, positions, [topic], 5000))
            yield from (r for r in rows if r.offset < end)
            if not rows:
                return

    def close(self) -> None:
        self._db.close()


class EmbeddedProducer(Producer):
    """Queues records in memory; ``flush`` appends them all in one durable transaction.

    Safe to share between threads: a flush returns only once everything produced before it (by
    any thread) is stored, like Kafka's producer.
    """

    def __init__(self, db: _Database) -> None:
        self._db = db
        self._queue: list[tuple[str, str, bytes, str]] = []
        self._maintained_ms = 0
        # Every touch of the queue holds _queued: without it, a record appended while another
        # thread swaps the queue out can land in a list already written, and be lost.
        self._queued = threading.Lock()
        self._flushing = threading.Lock()  # one flush at a time, so flushes keep their order

    def produce(self, topic: str, key: str, value: bytes, headers: Headers | None = None) -> None:
        described = record_headers(value, headers)
        encoded = {name: base64.b64encode(data).decode() for name, data in described.items()}
        record = (topic, key, bytes(value), json.dumps(encoded))
        with self._queued:
            self._queue.append(record)

    def flush(self, timeout_s: float = 60.0) -> None:
        with self._flushing:
            self._flush()

    def _flush(self) -> None:
        with self._queued:
            queue, self._queue = self._queue, []
        if not queue:
            return
        try:
            self._db.run("appending records", lambda c: _append(c, queue))
        except BusError:
            with self._queued:  # not stored: keep them, first, for the next flush
                self._queue = queue + self._queue
            raise
        if _now_ms() - self._maintained_ms > MAINTENANCE_INTERVAL_MS:
            self._maintained_ms = _now_ms()
            self._db.run("cleaning up old records", lambda c: clean_up(c, self._maintained_ms))

    def close(self, timeout_s: float = 60.0) -> None:
        try:
            self.flush(timeout_s)
        finally:
            self._db.close()


def clean_up(conn: sqlite3.Connection, now_ms: int) -> int:
    """Apply every topic's retention and compaction as of ``now_ms``; return records removed."""
    removed = 0
    for name, config_text in conn.execute("SELECT name, config FROM topics").fetchall():
        config = json.loads(config_text)
        policy = config.get("cleanup.policy", "delete")
        if "delete" in policy and "retention.ms" in config:
            removed += conn.execute(
                "DELETE FROM records WHERE topic = ? AND timestamp_ms < ?",
                (name, now_ms - int(config["retention.ms"])),
            ).rowcount
        if "compact" in policy:
            lag = int(config.get("min.compaction.lag.ms", 0))
            removed += conn.execute(
                "DELETE FROM records AS old WHERE topic = ? AND timestamp_ms < ? AND EXISTS ("
                " SELECT 1 FROM records AS new WHERE new.topic = old.topic"
                " AND new.key = old.key AND new.offset > old.offset)",
                (name, now_ms - lag),
            ).rowcount
    return removed


def _append(conn: sqlite3.Connection, queue: list[tuple[str, str, bytes, str]]) -> None:
    now = _now_ms()
    topics = {topic for topic, *_ in queue}
    conn.executemany(
        "INSERT INTO topics (name, config) VALUES (?, '{}') ON CONFLICT DO NOTHING",
        [(t,) for t in topics],
    )
    offsets = {
        t: conn.execute("SELECT next_offset FROM topics WHERE name = ?", (t,)).fetchone()[0]
        for t in topics
    }
    rows = []
    for topic, key, value, headers in queue:
        rows.append((topic, offsets[topic], key, value, headers, now))
        offsets[topic] += 1
    conn.executemany(
        "INSERT INTO records (topic, offset, key, value, headers, timestamp_ms)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "UPDATE topics SET next_offset = ? WHERE name = ?", [(o, t) for t, o in offsets.items()]
    )


class EmbeddedConsumer(Consumer):
    """Reads as the single active member of its group, holding a lease renewed by each poll."""

    def __init__(
        self,
        db: _Database,
        group: str,
        topics: Sequence[str],
        session_timeout_s: float,
        rebalance: Rebalance | None = None,
    ) -> None:
        self._db = db
        self._rebalance = rebalance
        self._group = group
        self._topics = list(dict.fromkeys(topics))
        self._member = uuid.uuid4().hex
        self._lease_ms = int(session_timeout_s * 1000)
        self._positions: dict[str, int] | None = None  # None: not the active member
        self._seek: str | datetime | None = None
        self._renew_after_ms = 0
        self._polls = 0

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        deadline = time.monotonic() + timeout_s
        pause = 0.005
        while True:
            records = self._poll_once(max_records)
            remaining = deadline - time.monotonic()
            if records or remaining <= 0:
                return records
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, 0.1)

    def _poll_once(self, max_records: int) -> list[Record]:
        if not self._hold_lease():
            return []
        if self._positions is None:
            self._positions = self._db.read("reading committed offsets", self._committed)
            if self._rebalance is not None:  # one partition per topic: all of them are ours
                self._rebalance.assigned([(topic, 0) for topic in self._topics])
        self._apply_seek()
        positions = self._positions
        self._polls += 1
        start = self._polls % len(self._topics)  # rotate, so no topic starves the others
        order = self._topics[start:] + self._topics[:start]
        return self._db.read("polling", lambda c: _fetch(c, positions, order, max_records))

    def _hold_lease(self) -> bool:
        # Renewing is a durable write: do it once half the lease has passed, not on every poll.
        if self._positions is not None and _now_ms() < self._renew_after_ms:
            return True
        if not self._db.run("renewing the group lease", self._renew_lease):
            self._lose_partitions()
            return False
        return True

    def _renew_lease(self, conn: sqlite3.Connection) -> bool:
        now = _now_ms()
        conn.execute(
            "INSERT INTO group_leases (group_id, member, expires_ms) VALUES (?, ?, ?)"
            " ON CONFLICT (group_id) DO UPDATE SET member = excluded.member,"
            " expires_ms = excluded.expires_ms"
            " WHERE group_leases.member = excluded.member OR group_leases.expires_ms < ?",
            (self._group, self._member, now + self._lease_ms, now),
        )
        row = conn.execute(
            "SELECT member FROM group_leases WHERE group_id = ?", (self._group,)
        ).fetchone()
        held = bool(row and row[0] == self._member)
        if held:
            self._renew_after_ms = now + self._lease_ms // 2
        return held

    def _committed(self, conn: sqlite3.Connection) -> dict[str, int]:
        committed = dict(
            conn.execute(
                "SELECT topic, offset FROM group_offsets WHERE group_id = ?", (self._group,)
            ).fetchall()
        )
        return {topic: committed.get(topic, _first_offset(conn, topic)) for topic in self._topics}

    def commit(self, records: Sequence[Record]) -> None:
        offsets = {topic: offset for (topic, _), offset in next_offsets(records).items()}
        if offsets:
            self._db.run("committing offsets", lambda c: self._store_offsets(c, offsets))

    def _store_offsets(self, conn: sqlite3.Connection, offsets: dict[str, int]) -> None:
        if not self._renew_lease(conn):
            raise CommitFailedError(
                f"group {self._group} moved to another member; records will be redelivered"
            )
        conn.executemany(
            "INSERT INTO group_offsets (group_id, topic, offset) VALUES (?, ?, ?)"
            " ON CONFLICT (group_id, topic) DO UPDATE SET offset = excluded.offset",
            [(self._group, topic, offset) for topic, offset in offsets.items()],
        )

    def seek_to_beginning(self) -> None:
        self._seek = "beginning"

    def seek_to_time(self, when: datetime) -> None:
        self._seek = when

    def _apply_seek(self) -> None:
        seek, self._seek = self._seek, None
        if seek is None or self._positions is None:
            self._seek = seek
            return
        millis = None if isinstance(seek, str) else int(seek.timestamp() * 1000)
        self._positions = self._db.read(
            "seeking", lambda c: {t: _offset_at(c, t, millis) for t in self._topics}
        )

    def _lose_partitions(self) -> None:
        held, self._positions = self._positions is not None, None
        if held and self._rebalance is not None:
            self._rebalance.revoked([(topic, 0) for topic in self._topics])

    def close(self) -> None:
        try:
            self._lose_partitions()
            self._db.run(
                "leaving the group",
                lambda c: c.execute(
                    "DELETE FROM group_leases WHERE group_id = ? AND member = ?",
                    (self._group, self._member),
                ),
            )
        finally:
            self._db.close()


def _first_offset(conn: sqlite3.Connection, topic: str) -> int:
    row = conn.execute("SELECT min(offset) FROM records WHERE topic = ?", (topic,)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _offset_at(conn: sqlite3.Connection, topic: str, millis: int | None) -> int:
    if millis is None:
        return _first_offset(conn, topic)
    row = conn.execute(
        "SELECT min(offset) FROM records WHERE topic = ? AND timestamp_ms >= ?", (topic, millis)
    ).fetchone()
    if row and row[0] is not None:
        return int(row[0])
    end = conn.execute("SELECT next_offset FROM topics WHERE name = ?", (topic,)).fetchone()
    return int(end[0]) if end else 0


def _fetch(
    conn: sqlite3.Connection, positions: dict[str, int], order: list[str], limit: int
) -> list[Record]:
    records: list[Record] = []
    for topic in order:
        if len(records) >= limit:
            break
        rows = conn.execute(
            "SELECT offset, key, value, headers, timestamp_ms FROM records"
            " WHERE topic = ? AND offset >= ? ORDER BY offset LIMIT ?",
            (topic, positions[topic], limit - len(records)),
        ).fetchall()
        records.extend(_record(topic, *row) for row in rows)
        if rows:
            positions[topic] = rows[-1][0] + 1
    return records


def _record(
    topic: str, offset: int, key: str | None, value: bytes, headers: str, timestamp_ms: int
) -> Record:
    decoded = {name: base64.b64decode(data) for name, data in json.loads(headers).items()}
    return Record(topic, 0, offset, key, bytes(value), timestamp_ms, decoded)
