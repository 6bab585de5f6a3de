"""The embedded bus's consumer: like a Kafka group with one partition, only one member of a group
reads at a time. It holds a lease renewed by every poll; a member that stops polling for
``session_timeout_s`` (it crashed, or hangs) loses the lease, and the next member resumes from the
group's committed offsets, which live in the same file and so survive a restart.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Sequence
from datetime import datetime

from mfr.bus.base import Consumer, Rebalance, Record, next_offsets
from mfr.bus.embedded_log import Database, fetch, first_offset, now_ms, offset_at
from mfr.errors import CommitFailedError


class EmbeddedConsumer(Consumer):
    """Reads as the single active member of its group, holding a lease renewed by each poll."""

    def __init__(
        self,
        db: Database,
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
        return self._db.read("polling", lambda c: fetch(c, positions, order, max_records))

    def _hold_lease(self) -> bool:
        # Renewing is a durable write: do it once half the lease has passed, not on every poll.
        if self._positions is not None and now_ms() < self._renew_after_ms:
            return True
        if not self._db.run("renewing the group lease", self._renew_lease):
            self._lose_partitions()
            return False
        return True

    def _renew_lease(self, conn: sqlite3.Connection) -> bool:
        now = now_ms()
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
        return {topic: committed.get(topic, first_offset(conn, topic)) for topic in self._topics}

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
            "seeking", lambda c: {t: offset_at(c, t, millis) for t in self._topics}
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
