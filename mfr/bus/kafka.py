"""The bus on Apache Kafka, with kafka-python.

Producers use ``acks=all`` with idempotence, so retries neither reorder nor duplicate a partition's
records. Every record is partitioned by the mailbox part of its key with Kafka's own murmur2 hash,
so a Java producer keyed by mailbox would choose the same partitions. Consumers never auto-commit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import kafka.errors
from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.partitioner.default import DefaultPartitioner
from kafka.structs import OffsetAndMetadata, TopicPartition

from mfr.bus.base import (
    Bus,
    Consumer,
    Headers,
    Partition,
    Producer,
    Rebalance,
    Record,
    next_offsets,
)
from mfr.bus.bootstrap import diagnose_bootstrap
from mfr.bus.headers import record_headers
from mfr.errors import BusError, BusUnavailableError, CommitFailedError
from mfr.settings import BusSettings
from mfr.topics import TopicSpec, partition_key

_UNAVAILABLE = (
    kafka.errors.KafkaTimeoutError,
    kafka.errors.KafkaConnectionError,
    kafka.errors.NodeNotReadyError,
    kafka.errors.RequestTimedOutError,
)


def _translate(action: str, exc: Exception) -> BusError:
    if isinstance(exc, kafka.errors.CommitFailedError | kafka.errors.RebalanceInProgressError):
        return CommitFailedError(f"{action}: the group rebalanced, records will be redelivered")
    if isinstance(exc, _UNAVAILABLE) or getattr(exc, "retriable", False):
        return BusUnavailableError(f"{action}: Kafka unavailable ({type(exc).__name__}: {exc})")
    return BusError(f"{action}: {type(exc).__name__}: {exc}")


def _connect_error(action: str, exc: Exception, config: dict[str, Any]) -> BusError:
    """``_translate`` for a failed first connection, with the cause when it is secured."""
    if isinstance(exc, kafka.errors.KafkaTimeoutError):
        found = diagnose_bootstrap(config)
        if found is not None and found.fatal:
            return BusError(f"{action}: {found.cause}")
        if found is not None:
            return BusUnavailableError(f"{action}: {found.cause}")
    return _translate(action, exc)


class MailboxPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """Kafka's default murmur2 partitioning, applied to the mailbox part of the key only."""

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        if serialized_key is not None:
            mailbox = partition_key(serialized_key.decode("utf-8", "replace"))
            serialized_key = mailbox.encode("utf-8")
        result: int = super().partition(
            topic, key, serialized_key, value, serialized_value, cluster
        )
        return result


def _client_config(settings: BusSettings) -> dict[str, Any]:
    security = settings.kafka_security
    config: dict[str, Any] = {
        "bootstrap_servers": (settings.kafka_bootstrap_servers or "").split(","),
        "client_id": settings.client_id,
        "security_protocol": security.security_protocol,
    }
    if security.sasl_mechanism:
        config["sasl_mechanism"] = security.sasl_mechanism
        config["sasl_plain_username"] = security.sasl_plain_username
        if security.sasl_plain_password is not None:
            config["sasl_plain_password"] = security.sasl_plain_password.get_secret_value()
    if security.security_protocol in ("SSL", "SASL_SSL"):
        config["ssl_check_hostname"] = security.ssl_check_hostname
        if security.ssl_cafile:
            config["ssl_cafile"] = str(security.ssl_cafile)
        if security.ssl_certfile and security.ssl_keyfile:
            config["ssl_certfile"] = str(security.ssl_certfile)
            config["ssl_keyfile"] = str(security.ssl_keyfile)
    return config


class KafkaBus(Bus):
    """A Kafka cluster."""

    def __init__(self, settings: BusSettings, **client_overrides: Any) -> None:
        self._settings = settings
        self._config = {**_client_config(settings), **client_overrides}
        self._lock = threading.Lock()
        self._offsets_reader: KafkaConsumer | None = None

    def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        try:
            admin = KafkaAdminClient(**self._config)
        except kafka.errors.KafkaError as exc:
            raise _connect_error("connecting to Kafka", exc, self._config) from exc
        try:
            self._create_missing(admin, list(specs))
        except kafka.errors.KafkaError as exc:
            raise _translate("creating topics", exc) from exc
        finally:
            admin.close()

    def _create_missing(self, admin: KafkaAdminClient, specs: list[TopicSpec]) -> None:
        existing = set(admin.list_topics())
        missing = {spec.name: spec for spec in specs if spec.name not in existing}
        if not missing:
            return
        brokers = len(admin.describe_cluster()["brokers"])
        replication = self._settings.replication_factor or min(3, brokers)
        request = {
            name: {
                "num_partitions": spec.partitions,
                "replication_factor": replication,
                "configs": spec.config,
            }
            for name, spec in missing.items()
        }
        response = admin.create_topics(request, raise_errors=False, wait_for_metadata=True)
        for topic in response.get("topics", []):
            error = kafka.errors.for_code(topic["error_code"])
            if error not in (kafka.errors.NoError, kafka.errors.TopicAlreadyExistsError):
                message = topic.get("error_message") or error.__name__
                raise BusError(f"creating topic {topic['name']}: {message}")

    def producer(self) -> Producer:
        return KafkaBusProducer(self._config)

    def consumer(
        self, group: str, topics: Sequence[str], rebalance: Rebalance | None = None
    ) -> Consumer:
        return KafkaBusConsumer(
            self._config, group, topics, self._settings.session_timeout_s, rebalance
        )

    def end_offsets(self, topic: str) -> dict[int, int]:
        with self._lock:
            # One client for every ask: a Kafka client costs a thread and a connection.
            if self._offsets_reader is None:
                self._offsets_reader = self._reader()
            reader = self._offsets_reader
            try:
                partitions = reader.partitions_for_topic(topic)
                if not partitions:
                    raise BusError(f"topic {topic} does not exist")
                ends = reader.end_offsets([TopicPartition(topic, p) for p in partitions])
                return {tp.partition: int(offset) for tp, offset in ends.items()}
            except kafka.errors.KafkaError as exc:
                raise _translate(f"reading the end offsets of {topic}", exc) from exc

    def read(self, topic: str, starts: Mapping[int, int]) -> Iterator[Record]:
        reader = self._reader()
        try:
            yield from _read(reader, {TopicPartition(topic, p): s for p, s in starts.items()})
        except kafka.errors.KafkaError as exc:
            raise _translate(f"reading {topic}", exc) from exc
        finally:
            reader.close()

    def _reader(self) -> KafkaConsumer:
        try:
            return KafkaConsumer(**self._config, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest")
        except kafka.errors.KafkaError as exc:
            raise _translate("connecting a reader", exc) from exc

    def close(self) -> None:
        """Release the end-offsets client; producers and consumers own their connections."""
        with self._lock:
            if self._offsets_reader is not None:
                self._offsets_reader.close()
                self._offsets_reader = None


class KafkaBusProducer(Producer):
    """Produces with acks=all and idempotence; ``flush`` reports any failed delivery."""

    def __init__(self, config: dict[str, Any]) -> None:
        try:
            self._producer = KafkaProducer(
                **config,
                acks="all",
                enable_idempotence=True,
                max_in_flight_requests_per_connection=5,
                linger_ms=5,
                partitioner=MailboxPartitioner(),
            )
        except kafka.errors.KafkaError as exc:
            raise _connect_error("connecting a producer", exc, config) from exc
        self._pending: list[Any] = []
        # A future appended while another thread swaps the list out would escape every flush's
        # check, and a failed send would pass for stored.
        self._pending_lock = threading.Lock()

    def produce(self, topic: str, key: str, value: bytes, headers: Headers | None = None) -> None:
        try:
            future = self._producer.send(
                topic,
                key=key.encode("utf-8"),
                value=value,
                headers=list(record_headers(value, headers).items()),
            )
        except kafka.errors.KafkaError as exc:
            raise _translate(f"producing to {topic}", exc) from exc
        with self._pending_lock:
            self._pending.append(future)

    def flush(self, timeout_s: float = 60.0) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        try:
            self._producer.flush(timeout=timeout_s)
        except kafka.errors.KafkaError as exc:
            raise _translate("flushing", exc) from exc
        failures = [f.exception for f in pending if not f.is_done or f.failed()]
        if failures:
            first = failures[0]
            raise _translate(f"{len(failures)} of {len(pending)} records not stored", first) \
                if isinstance(first, Exception) else BusUnavailableError(
                    f"{len(failures)} of {len(pending)} records not stored within {timeout_s}s"
                )

    def close(self, timeout_s: float = 60.0) -> None:
        try:
            self.flush(timeout_s)
        finally:
            self._close_producer(timeout_s)

    def _close_producer(self, timeout_s: float) -> None:
        try:
            self._producer.close(timeout=timeout_s)
        except kafka.errors.KafkaError:
            # kafka-python's close() flushes first and raises when records are still queued
            # (broker unreachable), before it force-closes; without this its I/O thread would
            # live on. Our flush has already reported those records as not stored.
            sender = getattr(self._producer, "_sender", None)
            if sender is not None:
                sender.force_close()


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
        session_ms = int(session_timeout_s * 1000)
        self._in_rebalance = False
        try:
            self._consumer = KafkaConsumer(
                **config,
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=session_ms,
                heartbeat_interval_ms=max(session_ms // 3, 100),
                max_poll_interval_ms=600_000,
                # A consumer that joins before the broker it asks knows a just-created topic gets
                # no partitions until its metadata is refreshed: every 5 minutes by default,
                # long enough to look like lost records. Every 5 s, the gap closes quickly.
                metadata_max_age_ms=5_000,
            )
            listener = _Listener(self, rebalance) if rebalance is not None else None
            self._consumer.subscribe(list(topics), listener=listener)
        except kafka.errors.KafkaError as exc:
            raise _connect_error(f"joining group {group}", exc, config) from exc
        self._seek: str | datetime | None = None
        self._seeked: set[TopicPartition] = set()
        self._rewind: set[TopicPartition] = set()  # assigned: read from the group's commit

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        try:
            batches = self._consumer.poll(
                timeout_ms=int(timeout_s * 1000), max_records=max_records
            )
        except kafka.errors.KafkaError as exc:
            raise _translate("polling", exc) from exc
        moved = self._rewind_assigned() | self._apply_seek()
        return [_record(raw) for tp, raws in batches.items() if tp not in moved for raw in raws]

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
            raise _translate("committing", exc) from exc

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


def _read(
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
            yield from (_record(raw) for raw in raws if raw.offset < ends[tp])
        if batches:
            moved = time.monotonic()
        todo = {tp for tp in todo if reader.position(tp) < ends[tp]}
        if todo and time.monotonic() - moved > stall_s:
            raise BusUnavailableError(f"reading {sorted(todo)}: nothing came for {stall_s}s")


def _record(raw: Any) -> Record:
    return Record(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key.decode("utf-8", "replace") if raw.key is not None else None,
        value=raw.value if raw.value is not None else b"",
        timestamp_ms=raw.timestamp,
        headers={name: value or b"" for name, value in raw.headers or []},
    )
