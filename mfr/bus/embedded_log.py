"""The file behind the embedded bus: its SQLite schema, one serialised connection with sqlite3's
errors translated (a locked database is retriable, like a Kafka broker that is away), and how
records are read back. The bus, its producer and its consumer (``embedded``,
``embedded_consumer``) share it, so the on-disk format is defined in one place.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from mfr.bus.base import Record
from mfr.errors import BusError, BusUnavailableError

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



def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Database:
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


def first_offset(conn: sqlite3.Connection, topic: str) -> int:
    row = conn.execute("SELECT min(offset) FROM records WHERE topic = ?", (topic,)).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def offset_at(conn: sqlite3.Connection, topic: str, millis: int | None) -> int:
    if millis is None:
        return first_offset(conn, topic)
    row = conn.execute(
        "SELECT min(offset) FROM records WHERE topic = ? AND timestamp_ms >= ?", (topic, millis)
    ).fetchone()
    if row and row[0] is not None:
        return int(row[0])
    end = conn.execute("SELECT next_offset FROM topics WHERE name = ?", (topic,)).fetchone()
    return int(end[0]) if end else 0


def fetch(
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

