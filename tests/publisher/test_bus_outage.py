"""A bus outage (a Kafka broker restarting) pauses the publisher; it does not end it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from mfr.bus import Consumer, Producer, Record
from mfr.bus.base import Headers
from mfr.codec import Codec
from mfr.errors import BusUnavailableError
from mfr.settings import BusSettings
from mfr.topics import Topic, record_key, topic_name
from publisher.client import Accepted, ArchiveClient
from publisher.metrics import PublisherMetrics
from publisher.service import Publisher
from publisher.settings import PublisherConfig, PublisherSettings
from tests.pipeline.states import folder

BUS = BusSettings(topic_prefix="outage")
FOLDERS = topic_name(BUS, Topic.FOLDERS)


class FlakyConsumer(Consumer):
    """Fails its first poll and first commit as an unreachable broker does."""

    def __init__(self, records: list[Record], stop: threading.Event) -> None:
        self.records, self.stop = records, stop
        self.polls = self.commit_calls = 0
        self.committed: list[Record] = []

    def poll(self, max_records: int = 500, timeout_s: float = 1.0) -> list[Record]:
        self.polls += 1
        if self.polls == 1:
            raise BusUnavailableError("polling: Kafka unavailable (ECONNREFUSED)")
        if self.committed or not self.records:
            self.stop.set()
        taken, self.records = self.records[:1], self.records[1:]  # one per batch
        return taken

    def commit(self, records: Sequence[Record]) -> None:
        self.commit_calls += 1
        if self.commit_calls == 1:
            raise BusUnavailableError("committing: Kafka unavailable")
        self.committed += records

    def seek_to_beginning(self) -> None:
        """Not needed here."""

    def seek_to_time(self, when: Any) -> None:
        """Not needed here."""

    def close(self) -> None:
        """Nothing to release."""


class FlakyProducer(Producer):
    """Fails its first flush."""

    def __init__(self) -> None:
        self.flushes, self.stored = 0, 0

    def produce(self, topic: str, key: str, value: bytes, headers: Headers | None = None) -> None:
        """Count nothing until flushed."""

    def flush(self, timeout_s: float = 60.0) -> None:
        self.flushes += 1
        if self.flushes == 1:
            raise BusUnavailableError("flushing: Kafka unavailable")
        self.stored += 1

    def close(self, timeout_s: float = 60.0) -> None:
        """Nothing to release."""


class TakingArchive(ArchiveClient):
    """Accepts every batch."""

    def __init__(self) -> None:
        self.took = 0

    def submit(self, records: list[dict[str, Any]]) -> Accepted:
        self.took += len(records)
        return Accepted(applied=len(records), stale=0)

    def unavailable(self) -> str | None:
        return None


def test_the_publisher_rides_out_a_bus_outage() -> None:
    """A failed poll, a failed commit and a failed dead-letter flush are waited out: the good
    record reaches the archive, the bad one is dead-lettered, and the next commit covers both."""
    datum = folder("alice@example.com", "inbox", 1, "Inbox")
    good = Record(FOLDERS, 0, 0, record_key("alice@example.com", "inbox"),
                  Codec().encode("FolderState", datum), 0)
    bad = Record(FOLDERS, 0, 1, "junk", b"not avro", 0)
    stop = threading.Event()
    consumer, producer, archive = FlakyConsumer([good, bad], stop), FlakyProducer(), TakingArchive()
    config = PublisherConfig.model_construct(bus=BUS, publisher=PublisherSettings(
        archive_url="http://127.0.0.1:9", ingest_token=SecretStr("t"), linger_ms=0))
    Publisher(config, consumer, producer, archive, PublisherMetrics(), stop).run()
    assert archive.took == 1
    assert producer.stored == 1  # the dead letter, on the second try
    assert [r.offset for r in consumer.committed] == [1]
