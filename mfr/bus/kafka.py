"""The bus on Apache Kafka, with kafka-python.

Producers use ``acks=all`` with idempotence, so retries neither reorder nor duplicate a partition's
records. Every record is partitioned by the mailbox part of its key with Kafka's own murmur2 hash,
so a Java producer keyed by mailbox would choose the same partitions. Consumers never auto-commit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import kafka.errors
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.partitioner.default import DefaultPartitioner
from kafka.structs import TopicPartition

from mfr.bus.base import Bus, Consumer, Headers, Producer, Rebalance, Record
from mfr.bus.headers import record_headers
from mfr.bus.kafka_client import client_config, connect_error, translate
from mfr.bus.kafka_consumer import KafkaBusConsumer, read_partitions
from mfr.errors import BusError, BusUnavailableError
from mfr.settings import BusSettings
from mfr.topics import TopicSpec, partition_key


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


class KafkaBus(Bus):
    """A Kafka cluster."""

    def __init__(self, settings: BusSettings, **client_overrides: Any) -> None:
        self._settings = settings
        self._config = {**client_config(settings), **client_overrides}
        self._lock = threading.Lock()
        self._offsets_reader: KafkaConsumer | None = None

    def ensure_topics(self, specs: Iterable[TopicSpec]) -> None:
        try:
            admin = KafkaAdminClient(**self._config)
        except kafka.errors.KafkaError as exc:
            raise connect_error("connecting to Kafka", exc, self._config) from exc
        try:
            self._create_missing(admin, list(specs))
        except kafka.errors.KafkaError as exc:
            raise translate("creating topics", exc) from exc
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
                raise translate(f"reading the end offsets of {topic}", exc) from exc

    def read(self, topic: str, starts: Mapping[int, int]) -> Iterator[Record]:
        reader = self._reader()
        try:
            positions = {TopicPartition(topic, p): s for p, s in starts.items()}
            yield from read_partitions(reader, positions)
        except kafka.errors.KafkaError as exc:
            raise translate(f"reading {topic}", exc) from exc
        finally:
            reader.close()

    def _reader(self) -> KafkaConsumer:
        try:
            return KafkaConsumer(**self._config, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest")
        except kafka.errors.KafkaError as exc:
            raise translate("connecting a reader", exc) from exc

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
            raise connect_error("connecting a producer", exc, config) from exc
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
            raise translate(f"producing to {topic}", exc) from exc
        with self._pending_lock:
            self._pending.append(future)

    def flush(self, timeout_s: float = 60.0) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        try:
            self._producer.flush(timeout=timeout_s)
        except kafka.errors.KafkaError as exc:
            raise translate("flushing", exc) from exc
        failures = [f.exception for f in pending if not f.is_done or f.failed()]
        if failures:
            first = failures[0]
            raise translate(f"{len(failures)} of {len(pending)} records not stored", first) \
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
