"""``mfr publisher``: feed the archive from the state topics until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

import structlog

from mfr.bus import open_bus
from mfr.bus.startup import patiently
from mfr.errors import ConfigError
from mfr.options import ConfigOption
from mfr.topics import topic_name, topic_specs
from publisher.client import ArchiveClient
from publisher.metrics import HealthServer, PublisherMetrics
from publisher.service import CONSUMED, Batch, Publisher
from publisher.settings import PublisherConfig

log = structlog.get_logger("publisher")


def command(
    config: ConfigOption = None,
) -> None:
    """Consume folder, message and status records and submit them to the archive in batches."""
    settings = PublisherConfig.load(config)
    if settings.publisher.ingest_token is None:
        raise ConfigError("publisher.ingest_token is required (mfr archive --add-token NAME)")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stopper(stop))
    metrics = PublisherMetrics()
    section = settings.publisher
    health = HealthServer(metrics, section.health_host, section.health_port, section.tls,
                          section.ops)
    health.start()
    patience_s = settings.bus.startup_patience_s
    with open_bus(settings.bus) as bus:
        patiently("creating topics", lambda: bus.ensure_topics(topic_specs(settings.bus).values()),
                  patience_s, stop)
        topics = [topic_name(settings.bus, t) for t in CONSUMED]
        batch = Batch()
        with patiently("joining the group",
                       lambda: bus.consumer(settings.publisher.group, topics, batch),
                       patience_s, stop) as consumer, \
                patiently("connecting a producer", bus.producer, patience_s, stop) as producer:
            client = ArchiveClient(settings.publisher, stop)
            publisher = Publisher(settings, consumer, producer, client, metrics, stop, batch)
            client.on_retry = publisher.on_retry
            log.info("publishing", archive=settings.publisher.archive_url, topics=topics,
                     health_port=health.port)
            try:
                publisher.run()
            finally:
                client.close()
                health.stop()
    log.info("stopped")


def _stopper(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return handler
