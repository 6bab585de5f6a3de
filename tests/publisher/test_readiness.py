"""The publisher's /readyz follows the archive, also while there is nothing to deliver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import SecretStr

from mfr.bus import open_bus
from mfr.settings import BusSettings
from mfr.topics import topic_name
from publisher.client import ArchiveClient
from publisher.metrics import PublisherMetrics
from publisher.service import CONSUMED, Publisher
from publisher.settings import PublisherConfig, PublisherSettings
from tests.publisher.conftest import RestartableArchive


def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_an_idle_publisher_is_ready_when_the_archive_is(
    archive: RestartableArchive, tmp_path: Path
) -> None:
    """With no record to deliver, the publisher is ready while the archive is, and not ready,
    with the cause, while it is down."""
    bus_settings = BusSettings(embedded_path=tmp_path / "bus.sqlite3")
    config = PublisherConfig(bus=bus_settings, publisher=PublisherSettings(
        archive_url=archive.url, ingest_token=SecretStr(archive.token)))
    stop = threading.Event()
    metrics = PublisherMetrics()
    with open_bus(bus_settings) as bus:
        consumer = bus.consumer("idle", [topic_name(bus_settings, t) for t in CONSUMED])
        client = ArchiveClient(config.publisher, stop)
        publisher = Publisher(config, consumer, bus.producer(), client, metrics, stop)
        worker = threading.Thread(target=publisher.run)
        worker.start()
        try:
            _until(metrics.ready.is_set, 10, "ready while idle")
            archive.stop()
            _until(lambda: not metrics.ready.is_set(), 15, "not ready once the archive is down")
            assert "archive unreachable" in (metrics.problem or "")
        finally:
            stop.set()
            worker.join(10)
            client.close()
            consumer.close()
