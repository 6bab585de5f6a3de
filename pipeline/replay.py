"""``mfr replay``: rebuild an archive database from the state topics, from the beginning.

It reuses the real pieces rather than a second copy of their logic: the archive app is served
in-process on a free loopback port with an ingest token of its own, and the publisher's loop
feeds it from a consumer in a throwaway group that starts at the oldest record. The archive's
per-key versions make the result the same as the live archive's, whatever duplicates and
out-of-order versions the topics hold. Once the topics are drained, everything stops and the
report says what was read and what the archive made of it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import structlog
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from archive.web.app import create_app
from mfr.bus import Bus, open_bus
from mfr.topics import topic_name, topic_specs
from pipeline.archive_side import drop_token, fresh_token, holds_data, open_archive
from pipeline.errors import PipelineError
from pipeline.servers import BackgroundServer
from pipeline.settings import ReplaySettings
from pipeline.tally import CountingClient, DeadLetterTap, DrainingConsumer, Tally
from publisher.metrics import PublisherMetrics
from publisher.service import CONSUMED, Publisher

log = structlog.get_logger("pipeline.replay")


@dataclass(frozen=True)
class ReplayOptions:
    """How a replay runs."""

    target_url: str  # SQLAlchemy URL of the archive database to build
    force: bool = False  # apply onto a database that already holds data
    idle_s: float = 5.0  # drained: no new record for this long...
    first_s: float = 30.0  # ...or, before any record came, this long (a Kafka group joins)
    dead_letter: bool = False  # also write refused records to the dead-letter topic


@dataclass(frozen=True)
class ReplayReport:
    """What a replay read and applied."""

    target: str
    read: dict[str, int]  # by logical topic
    applied: int
    stale: int
    dead: dict[str, int]  # by error type
    dead_examples: list[str]
    seconds: float
    complete: bool  # False: interrupted before the topics were drained

    @property
    def total_read(self) -> int:
        """Records read from every topic."""
        return sum(self.read.values())

    def lines(self) -> list[str]:
        """The report as text."""
        verdict = "drained" if self.complete else "INTERRUPTED before the topics were drained"
        out = [f"replayed into {self.target} in {self.seconds:.1f} s ({verdict})"]
        out += [f"  read {topic:<12} {count:>10}" for topic, count in self.read.items()]
        out.append(f"  read {'(total)':<12} {self.total_read:>10}")
        out.append(f"  applied           {self.applied:>10}  (new current versions)")
        out.append(f"  stale/duplicate   {self.stale:>10}  (older or already held versions)")
        dead = sum(self.dead.values())
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.dead.items()))
        out.append(f"  rejected          {dead:>10}" + (f"  ({kinds})" if kinds else ""))
        out += [f"    {example}" for example in self.dead_examples]
        return out


def replay(settings: ReplaySettings, options: ReplayOptions, stop: threading.Event) -> ReplayReport:
    """Rebuild the archive at ``options.target_url`` from the topics. Setting ``stop``
    interrupts; the replay sets it itself once the topics are drained."""
    started = time.monotonic()
    engine = open_archive(options.target_url)
    try:
        if not options.force and holds_data(engine):
            raise PipelineError(
                f"{_shown(options.target_url)} already holds archive data; replay into a new "
                "database, or pass --force to apply the topics on top of it"
            )
        tally = Tally()
        drained = threading.Event()
        with _archive_served(settings, engine) as (url, token), open_bus(settings.bus) as bus:
            _publish_until_drained(settings, options, bus, url, token, tally, drained, stop)
    finally:
        engine.dispose()
    names = {topic_name(settings.bus, t): t.value for t in CONSUMED}
    return ReplayReport(
        target=_shown(options.target_url),
        read={names[name]: tally.read[name] for name in names},
        applied=tally.applied,
        stale=tally.stale,
        dead=dict(tally.dead),
        dead_examples=list(tally.dead_examples),
        seconds=time.monotonic() - started,
        complete=drained.is_set(),
    )


@contextmanager
def _archive_served(settings: ReplaySettings, engine: Engine) -> Iterator[tuple[str, str]]:
    """The archive app on ``engine``, on a free loopback port, and an ingest token for it."""
    name = f"replay-{uuid.uuid4().hex[:12]}"
    token = fresh_token(engine, name)
    app = create_app(settings.archive, engine, purge=False)  # purging is the live archive's job
    try:
        with BackgroundServer(app, "127.0.0.1", 0, "archive (replay)") as server:
            yield server.url, token
    finally:
        drop_token(engine, name)


def _publish_until_drained(
    settings: ReplaySettings,
    options: ReplayOptions,
    bus: Bus,
    archive_url: str,
    token: str,
    tally: Tally,
    drained: threading.Event,
    stop: threading.Event,
) -> None:
    bus.ensure_topics(topic_specs(settings.bus).values())
    group = f"mfr-replay-{uuid.uuid4().hex}"
    config = settings.publisher_config(
        archive_url=archive_url, ingest_token=SecretStr(token), group=group
    )
    topics = [topic_name(settings.bus, t) for t in CONSUMED]

    def on_drained() -> None:
        drained.set()
        stop.set()

    with bus.consumer(group, topics) as inner, bus.producer() as producer:
        consumer = DrainingConsumer(inner, tally, on_drained, options.idle_s, options.first_s)
        consumer.seek_to_beginning()
        client = CountingClient(config.publisher, stop, tally)
        tap = DeadLetterTap(tally, producer if options.dead_letter else None)
        publisher = Publisher(config, consumer, tap, client, PublisherMetrics(), stop,
                              report_status=False)
        client.on_retry = publisher.on_retry
        log.info("replaying", group=group, topics=topics, archive=archive_url)
        try:
            publisher.run()
        finally:
            client.close()


def _shown(url: str) -> str:
    """``url`` without its password, fit for a report."""
    return make_url(url).render_as_string(hide_password=True)
