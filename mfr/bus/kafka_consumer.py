"""A member of a Kafka consumer group, and the group-less reader of a topic's partitions.

Offsets are committed only by ``commit``, never automatically. Partitions are (re)assigned inside
kafka-python's ``poll``, whose rebalance callbacks forbid blocking calls, so whatever has to ask
the broker (the group's commit, offsets for a time) is done after the poll that brought the
assignment, and what that poll fetched from the old position is dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import kafka.errors
import structlog
from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.structs import MemberState, OffsetAndMetadata, TopicPartition

from mfr.bus.base import Consumer, Partition, Rebalance, Record, next_offsets
from mfr.bus.kafka_client import connect_error, to_record, translate
from mfr.errors import BusUnavailableError

log = structlog.get_logger(__name__)


class KafkaBusConsumer(Consumer):
    """A member of a Kafka consumer group; offsets are committed only by ``commit``."""

    def __init__(
        self,
        config: dict[str, Any],
        group: str,
        topics: Sequence[str],
        session_timeout_s: float,
        rebalance: Rebalance | None = None,
    ) -> None:
        self._config, self._group, self._topics = config, group, list(topics)
        self._session_ms = int(session_timeout_s * 1000)
        self._listener = _Listener(self, rebalance) if rebalance is not None else None
        # A join that makes no progress for this long is stuck (see ``_unstick``); a healthy one
        # waits at most for members that left without saying so, one session timeout.
        self._stuck_after_s = max(30.0, 3 * session_timeout_s)
        self._joining_since: float | None = None
        self._in_rebalance = False
        self._consumer = self._member()
        self._seek: str | datetime | None = None
        self._seeked: set[TopicPartition] = set()
        self._rewind: set[TopicPartition] = set()  # assigned: read from the group's commit

    def _member(self) -> KafkaConsumer:
        try:
            consumer = KafkaConsumer(
                **self._config,
                group_id=self._group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=self._session_ms,
                heartbeat_interval_ms=max(self._session_ms // 3, 100),
                max_poll_interval_ms=600_000,
                # A consumer that joins before the broker it asks knows a just-created topic gets
                # no partitions until its metadata is refreshed: every 5 minutes by default,
                # long enough to look like lost records. Every 5 s, the gap closes quickly.
                metadata_max_age_ms=5_000,
            )
            _await_partitions(consumer, self._topics)
            consumer.subscribe(self._topics, listener=self._listener)
        except kafka.errors.KafkaError as exc:
            raise connect_error(f"joining group {self._group}", exc, self._config) from exc
        return consumer

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        try:
            batches = self._consumer.poll(
                timeout_ms=int(timeout_s * 1000), max_records=max_records
            )
        except kafka.errors.KafkaError as exc:
            raise translate("polling", exc) from exc
        if self._unstick():
            return []
        moved = self._rewind_assigned() | self._apply_seek()
        return [to_record(raw) for tp, raws in batches.items() if tp not in moved for raw in raws]

    def _unstick(self) -> bool:
        """Replace a member whose group join has made no progress for ``_stuck_after_s``.

        kafka-python 3.0 now and then never completes a rejoin (the leader logs "performing
        partition assignments" and nothing follows) while the member keeps polling: nothing
        is consumed until the process restarts. A new member joins in its place; what the old
        one had not committed comes again (at-least-once), as after any rebalance."""
        state = getattr(getattr(self._consumer, "_coordinator", None), "state", None)
        if state != MemberState.REBALANCING:
            self._joining_since = None
            return False
        now = time.monotonic()
        if self._joining_since is None:
            self._joining_since = now
        if now - self._joining_since < self._stuck_after_s:
            return False
        log.warning("group join stuck: replacing the member", group=self._group,
                    stuck_s=round(now - self._joining_since))
        fresh = self._member()
        stuck, self._consumer = self._consumer, fresh
        self._joining_since, self._rewind, self._seeked = None, set(), set()
        stuck.close(autocommit=False)
        return True

    def _rewind_assigned(self) -> set[TopicPartition]:
        # kafka-python keeps its fetch position for a partition assigned again to the same
        # member; what the member dropped uncommitted when it was revoked would be skipped. So
        # every assigned partition starts at the group's commit, as for any new member (after
        # the poll: blocking calls are refused in rebalance callbacks).
        rewind, self._rewind = self._rewind & set(self._consumer.assignment()), set()
        for tp in rewind:
            try:
                committed = self._consumer.committed(tp)
            except kafka.errors.KafkaError:
                self._rewind.add(tp)  # its records are dropped: rewound at the next poll
                continue
            if committed is None:
                self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)
        return rewind

    def commit(self, records: Sequence[Record]) -> None:
        offsets = {
            TopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
            for (topic, partition), offset in next_offsets(records).items()
        }
        if not offsets:
            return
        if self._in_rebalance:
            # Rebalance callbacks run on kafka-python's I/O thread, which a blocking commit would
            # wait for. Queued now, the commit goes out before the member rejoins the group.
            self._consumer.commit_async(offsets)
            return
        try:
            self._consumer.commit(offsets)
        except kafka.errors.KafkaError as exc:
            raise translate("committing", exc) from exc

    def seek_to_beginning(self) -> None:
        self._request_seek("beginning")

    def seek_to_time(self, when: datetime) -> None:
        self._request_seek(when)

    def _request_seek(self, where: str | datetime) -> None:
        self._seek, self._seeked = where, set()
        self._apply_seek()

    def _apply_seek(self) -> set[TopicPartition]:
        # Partitions are assigned during poll; kafka-python forbids blocking calls (such as
        # offsets_for_times) in rebalance callbacks, so a pending seek is applied after the poll
        # that brought the assignment, and what that poll fetched from the old position dropped.
        todo = set(self._consumer.assignment()) - self._seeked
        if self._seek is None or not todo:
            return set()
        if isinstance(self._seek, datetime):
            millis = int(self._seek.timestamp() * 1000)
            found = self._consumer.offsets_for_times({tp: millis for tp in todo})
            ends = self._consumer.end_offsets(list(todo))
            for tp in todo:
                hit = found.get(tp)
                self._consumer.seek(tp, hit.offset if hit is not None else ends[tp])
        else:
            self._consumer.seek_to_beginning(*todo)
        self._seeked |= todo
        return todo

    def close(self) -> None:
        self._consumer.close(autocommit=False)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hands kafka-python's rebalance callbacks to a ``Rebalance``, as (topic, partition)s."""

    def __init__(self, owner: KafkaBusConsumer, rebalance: Rebalance) -> None:
        self._owner = owner
        self._rebalance = rebalance

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self._tell(self._rebalance.revoked, revoked)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._owner._rewind |= set(assigned)
        self._tell(self._rebalance.assigned, assigned)

    def _tell(
        self, callback: Callable[[list[Partition]], None], tps: Iterable[TopicPartition]
    ) -> None:
        partitions = sorted((tp.topic, tp.partition) for tp in tps)
        if not partitions:  # kafka-python also reports joining with nothing to give up
            return
        self._owner._in_rebalance = True
        try:
            callback(partitions)
        finally:
            self._owner._in_rebalance = False


def _await_partitions(
    consumer: KafkaConsumer, topics: Sequence[str], within_s: float = 10.0
) -> None:
    """Wait (briefly) until the consumer's metadata knows each topic's partitions. A member that
    joins first gets an empty assignment and must rejoin once its metadata catches up; with
    kafka-python 3.0 that second join now and then never completed while the member kept
    polling (tests/examples, `mfr run` on Kafka: nothing replicated for minutes)."""
    deadline = time.monotonic() + within_s
    for topic in topics:
        while not consumer.partitions_for_topic(topic) and time.monotonic() < deadline:
            time.sleep(0.1)


def read_partitions(
    reader: KafkaConsumer, starts: dict[TopicPartition, int], stall_s: float = 30.0
) -> Iterator[Record]:
    """Each partition from its start up to its end as of now; a partition that brings nothing
    for ``stall_s`` while short of its end means the broker is not answering."""
    ends = reader.end_offsets(list(starts))
    todo = {tp for tp, start in starts.items() if ends[tp] > start}
    if not todo:
        return
    reader.assign(sorted(todo))
    for tp in todo:
        reader.seek(tp, max(starts[tp], 0))
    moved = time.monotonic()
    while todo:
        batches = reader.poll(timeout_ms=500, max_records=5000)
        for tp, raws in batches.items():
            yield from (to_record(raw) for raw in raws if raw.offset < ends[tp])
        if batches:
            moved = time.monotonic()
        todo = {tp for tp in todo if reader.position(tp) < ends[tp]}
        if todo and time.monotonic() - moved > stall_s:
            raise BusUnavailableError(f"reading {sorted(todo)}: nothing came for {stall_s}s")
