"""The publisher's loop: poll the state topics, batch, submit, dead-letter, commit.

Offsets are committed only after the archive acknowledged every record of the batch (or the
record went to the dead-letter topic, flushed first). A crash at any point therefore resends
records the archive may already hold, which its per-key versions make harmless. While the archive
is unavailable the loop stays on the same batch, retrying, and polls nothing more: consumption
pauses and resumes where it stopped.

Several publishers may share the consumer group (on Kafka). The batch being gathered is a
``Batch``, the consumer's ``Rebalance``: when the group takes partitions away, their records
still waiting in it are dropped, uncommitted, and the member the partitions go to delivers them
(the archive's versions make the repeat harmless). A batch is never being delivered while that
happens (rebalances run inside ``poll``), so a publisher commits only what the archive has.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from mfr.bus import Consumer, Producer, Record
from mfr.bus.base import Partition, Rebalance
from mfr.codec import Codec
from mfr.errors import BusError, CodecError
from mfr.topics import Topic, topic_name
from publisher.client import Accepted, ArchiveClient
from publisher.errors import ArchiveUnavailableError, BatchRefusedError, StoppedError
from publisher.metrics import PublisherMetrics
from publisher.report import StatusReport
from publisher.settings import PublisherConfig
from publisher.wire import ref, to_wire

log = structlog.get_logger("publisher")
PROBE_EVERY_S = 5.0
CONSUMED = (Topic.FOLDERS, Topic.MESSAGES, Topic.STATUS)
_SCHEMA = {
    Topic.FOLDERS: "FolderState",
    Topic.MESSAGES: "MessageState",
    Topic.STATUS: "MailboxStatus",
}


class Batch(Rebalance):
    """The records polled and not yet delivered: what a rebalance must take back."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def assigned(self, partitions: Sequence[Partition]) -> None:
        """Nothing to load: the archive holds the publisher's state."""

    def revoked(self, partitions: Sequence[Partition]) -> None:
        """Drop the records of these partitions; their next owner delivers them."""
        lost = set(partitions)
        kept = [r for r in self.records if (r.topic, r.partition) not in lost]
        if len(kept) != len(self.records):
            log.info("partitions handed over; their undelivered records go with them",
                     dropped=len(self.records) - len(kept))
        self.records = kept


class Publisher:
    """Moves state records from the bus to the archive, exactly once in effect."""

    def __init__(
        self,
        config: PublisherConfig,
        consumer: Consumer,
        producer: Producer,
        client: ArchiveClient,
        metrics: PublisherMetrics,
        stop: threading.Event,
        batch: Batch | None = None,
        report_status: bool = True,
    ) -> None:
        """``batch``: the ``Rebalance`` the consumer was made with, if several publishers share
        its group. ``report_status``: write Publisher MailboxStatus records (not while
        replaying: a rebuild must not add to the topics it reads)."""
        self._settings = config.publisher
        self._batch = batch or Batch()
        self._consumer = consumer
        self._producer = producer
        self._client = client
        self._metrics = metrics
        self._stop = stop
        self._codec = Codec()
        self._expected = {topic_name(config.bus, t): _SCHEMA[t] for t in CONSUMED}
        self._dead_letters = topic_name(config.bus, Topic.DEAD_LETTERS)
        self._report = StatusReport(producer, self._codec, topic_name(config.bus, Topic.STATUS)
                                    ) if report_status else None
        self._next_probe = 0.0
        metrics.lag.set_function(self._lag_s)

    def _lag_s(self) -> float:
        records = self._batch.records
        oldest = records[0].timestamp_ms if records else None
        return 0.0 if oldest is None else max(0.0, time.time() - oldest / 1000)

    def _probe(self) -> None:
        """Nothing to deliver: ask the archive whether it is ready (every few seconds), so
        /readyz tells the truth while idle too."""
        if time.monotonic() < self._next_probe:
            return
        self._next_probe = time.monotonic() + PROBE_EVERY_S
        problem = self._client.unavailable()
        self._metrics.problem = problem
        if problem is None:
            self._metrics.ready.set()
        else:
            self._metrics.ready.clear()

    def run(self) -> None:
        """Loop until ``stop`` is set; what is not acknowledged then stays uncommitted."""
        batch = self._batch
        batch.records = []
        opened = time.monotonic()
        linger_s = self._settings.linger_ms / 1000
        while not self._stop.is_set():
            room = self._settings.batch_max_records - len(batch.records)
            wait_s = max(0.0, linger_s - (time.monotonic() - opened)) if batch.records else 1.0
            was_empty = not batch.records
            polled = self._poll(room, min(wait_s, 1.0))  # may drop records (a rebalance)
            if polled and was_empty:
                opened = time.monotonic()
            batch.records += polled
            self._metrics.consumed.inc(len(polled))
            if not batch.records:
                self._probe()
            full = len(batch.records) >= self._settings.batch_max_records
            if batch.records and (full or time.monotonic() - opened >= linger_s):
                if not self._publish(batch.records):
                    return
                batch.records = []

    def _poll(self, room: int, timeout_s: float) -> list[Record]:
        try:
            return self._consumer.poll(max_records=room, timeout_s=timeout_s)
        except BusError as exc:
            if not exc.retriable:
                raise
            log.warning("bus unavailable; polling again shortly", reason=str(exc))
            self._stop.wait(1.0)
            return []

    def _publish(self, records: list[Record]) -> bool:
        """Deliver ``records`` and commit them; False if stopped before the archive took them."""
        wire: list[tuple[Record, dict[str, Any]]] = []
        dead: list[tuple[Record, str, str]] = []
        for record in records:
            try:
                wire.append((record, to_wire(self._codec, record, self._expected[record.topic])))
            except CodecError as exc:
                dead.append((record, "CodecError", str(exc)))
        try:
            dead += self._deliver(wire)
        except (ArchiveUnavailableError, StoppedError):
            return False  # the client gives up only when asked to stop
        refused = {id(record) for record, _, _ in dead}
        if self._report is not None:
            self._report.delivered([(r, w) for r, w in wire if id(r) not in refused])
        if dead and not self._store_dead_letters(dead):
            return False
        try:
            self._consumer.commit(records)
        except BusError as exc:
            if not exc.retriable:
                raise
            log.warning("commit failed; the batch will be delivered again", reason=str(exc))
        return True

    def _deliver(self, batch: list[tuple[Record, dict[str, Any]]]) -> list[tuple[Record, str, str]]:
        """Submit until everything is acknowledged or dead; returns the dead ones."""
        dead: list[tuple[Record, str, str]] = []
        todo = [batch] if batch else []
        while todo:
            part = todo.pop()
            try:
                verdict = self._client.submit([w for _, w in part])
            except BatchRefusedError as exc:
                if len(part) == 1:
                    dead.append((part[0][0], "Refused", exc.reason[:500] or str(exc)))
                else:  # too large as a whole, perhaps: halve it
                    todo += [part[: len(part) // 2], part[len(part) // 2 :]]
                continue
            self._metrics.paused.set(0)
            self._metrics.problem = None
            self._metrics.ready.set()
            if isinstance(verdict, Accepted):
                self._metrics.acknowledged.inc(len(part))
                self._metrics.last_ack.set_to_current_time()
                continue
            dead += [(part[i][0], "Rejected", reason) for i, reason in verdict.reasons.items()]
            rest = [item for i, item in enumerate(part) if i not in verdict.reasons]
            if rest:
                todo.append(rest)
        return dead

    def on_retry(self, failure: ArchiveUnavailableError) -> None:
        """Called before each back-off: the archive is unavailable, consumption is paused."""
        self._metrics.retries.inc()
        self._metrics.paused.set(1)
        self._metrics.problem = str(failure)
        self._metrics.ready.clear()

    def _store_dead_letters(self, dead: Sequence[tuple[Record, str, str]]) -> bool:
        """Write the dead letters, waiting out a bus outage; False if stopped first (then the
        batch stays uncommitted)."""
        while not self._stop.is_set():
            try:
                self._dead_letter(dead)
                return True
            except BusError as exc:
                if not exc.retriable:
                    raise
                log.warning("dead letters not stored; trying again", reason=str(exc))
                self._stop.wait(1.0)
        return False

    def _dead_letter(self, dead: Sequence[tuple[Record, str, str]]) -> None:
        for record, error_type, reason in dead:
            log.error("dead-lettering a record", ref=ref(record), error_type=error_type,
                      reason=reason)
            datum = {
                "source_topic": record.topic,
                "source_partition": record.partition,
                "source_offset": record.offset,
                "key": record.key,
                "value": record.value,
                "headers": dict(record.headers),
                "stage": "publisher",
                "error_type": error_type,
                "reason": reason[:1000],
                "attempts": 1,
                "failed_time": datetime.now(UTC),
            }
            self._producer.produce(
                self._dead_letters, record.key or "", self._codec.encode("DeadLetter", datum),
                dict(record.headers),
            )
            self._metrics.dead_lettered.labels(error_type).inc()
        self._producer.flush()

