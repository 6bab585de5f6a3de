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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from mfr.bus.base import Bus, Consumer, Headers, Producer, Rebalance, Record
from mfr.bus.embedded_consumer import EmbeddedConsumer
from mfr.bus.embedded_log import Database, fetch, now_ms
from mfr.bus.headers import record_headers
from mfr.errors import BusError
from mfr.topics import TopicSpec

MAINTENANCE_INTERVAL_MS = 3_600_000


class EmbeddedBus(Bus):
    """A bus in one SQLite file."""

    def __init__(self, path: Path, session_timeout_s: float = 10.0) -> None:
        self._path = path
        self._session_timeout_s = session_timeout_s
        self._db = Database(path)

    def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        rows = [(spec.name, json.dumps(spec.config, sort_keys=True)) for spec in specs]
        self._db.run(
            "creating topics",
            lambda c: c.executemany(
                "INSERT INTO topics (name, config) VALUES (?, ?) ON CONFLICT DO NOTHING", rows
            ),
        )

    def producer(self) -> Producer:
        return EmbeddedProducer(Database(self._path))

    def consumer(
        self, group: str, topics: Sequence[str], rebalance: Rebalance | None = None
    ) -> Consumer:
        return EmbeddedConsumer(
            Database(self._path), group, topics, self._session_timeout_s, rebalance
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
            rows = self._db.read("reading", lambda c: fetch(c, positions, [topic], 5000))
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

    def __init__(self, db: Database) -> None:
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
        if now_ms() - self._maintained_ms > MAINTENANCE_INTERVAL_MS:
            self._maintained_ms = now_ms()
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
    now = now_ms()
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

