"""Counting what a replay moves: wrappers around the publisher's consumer, archive client and
dead-letter producer, and the rule that decides the topics are drained.

The drain is decided inside ``poll``, on the publisher's own thread, and only when every record
polled so far has been committed: so stopping can never abandon a batch half-delivered.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mfr.bus import Consumer, Headers, Producer, Record
from mfr.codec import Codec
from mfr.errors import CodecError
from publisher.client import Accepted, ArchiveClient, Rejected
from publisher.errors import ArchiveUnavailableError
from publisher.settings import PublisherSettings


@dataclass
class Tally:
    """What a replay read, and what became of it."""

    read: Counter[str] = field(default_factory=Counter)  # by topic name
    applied: int = 0
    stale: int = 0
    dead: Counter[str] = field(default_factory=Counter)  # by error type
    dead_examples: list[str] = field(default_factory=list)
    handled: int = 0  # records committed (acknowledged or dead-lettered)
    lock: threading.Lock = field(default_factory=threading.Lock)


class DrainingConsumer(Consumer):
    """Counts what is polled and committed; calls ``on_drained`` once the topics are drained:
    nothing new for ``idle_s`` (``first_s`` before the first record ever came), nothing in
    flight. It must make the publisher stop: until then polls return nothing."""

    def __init__(
        self,
        inner: Consumer,
        tally: Tally,
        on_drained: Callable[[], None],
        idle_s: float,
        first_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._tally = tally
        self._on_drained = on_drained
        self._idle_s = idle_s
        self._first_s = max(first_s, idle_s)
        self._clock = clock
        self._started = clock()
        self._last_seen: float | None = None
        self._polled = 0

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        if self._drained():
            self._on_drained()
            return []
        records = self._inner.poll(max_records, timeout_s)
        if records:
            self._last_seen = self._clock()
            self._polled += len(records)
            self._tally.read.update(r.topic for r in records)
        return records

    def _drained(self) -> bool:
        if self._polled != self._tally.handled:
            return False
        if self._last_seen is None:
            return self._clock() - self._started >= self._first_s
        return self._clock() - self._last_seen >= self._idle_s

    def commit(self, records: Sequence[Record]) -> None:
        try:
            self._inner.commit(records)
        finally:
            # The group is thrown away: a failed commit changes nothing for the replay.
            self._tally.handled += len(records)
            # Quiet time counts from here: an archive slower than ``idle_s`` to take a batch
            # must not pass for drained topics before the next poll has even asked.
            self._last_seen = self._clock()

    def seek_to_beginning(self) -> None:
        self._inner.seek_to_beginning()

    def seek_to_time(self, when: datetime) -> None:
        self._inner.seek_to_time(when)

    def close(self) -> None:
        self._inner.close()


class CountingClient(ArchiveClient):
    """The publisher's archive client, adding up what the archive says it applied."""

    def __init__(
        self,
        settings: PublisherSettings,
        stop: threading.Event,
        tally: Tally,
        on_retry: Callable[[ArchiveUnavailableError], None] = lambda _: None,
    ) -> None:
        super().__init__(settings, stop, on_retry)
        self._tally = tally

    def submit(self, records: list[dict[str, Any]]) -> Accepted | Rejected:
        verdict = super().submit(records)
        if isinstance(verdict, Accepted):
            with self._tally.lock:
                self._tally.applied += verdict.applied
                self._tally.stale += verdict.stale
        return verdict


class DeadLetterTap(Producer):
    """Counts the dead letters the publisher produces; passes them on to ``inner`` if given
    (a replay normally does not: the live publisher dead-lettered those records already)."""

    EXAMPLES = 10

    def __init__(self, tally: Tally, inner: Producer | None = None) -> None:
        self._tally = tally
        self._inner = inner
        self._codec = Codec()

    def produce(self, topic: str, key: str, value: bytes, headers: Headers | None = None) -> None:
        try:
            letter = self._codec.decode(value).datum
            error_type, reason = str(letter["error_type"]), str(letter["reason"])
        except CodecError as exc:  # our own publisher's record: should not happen
            error_type, reason = "Unknown", str(exc)
        self._tally.dead[error_type] += 1
        if len(self._tally.dead_examples) < self.EXAMPLES:
            self._tally.dead_examples.append(f"{key}: {error_type}: {reason}")
        if self._inner is not None:
            self._inner.produce(topic, key, value, headers)

    def flush(self, timeout_s: float = 60.0) -> None:
        if self._inner is not None:
            self._inner.flush(timeout_s)

    def close(self, timeout_s: float = 60.0) -> None:
        if self._inner is not None:
            self._inner.close(timeout_s)
