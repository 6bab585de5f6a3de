"""``mfr run``: every stage of the pipeline in one process — listener, extractor, publisher and
archive — on the embedded bus by default, or on Kafka when ``[bus]`` names brokers.

Each stage is the real service, built from its own section of the one config file, and serves
its own HTTP app on its own port in a background thread. The main thread only waits for SIGTERM
or Ctrl-C (no uvicorn on it, so no signal is re-raised before clean-up) and then stops the stages
in the order data flows: no new hints, cycles finished and flushed, the last batch acknowledged
and committed, then the archive, then the bus. The publisher reaches the archive over loopback
with an ingest token made for this process at each start.

Each server speaks HTTPS when its section has ``tls`` and guards ``/status`` and ``/metrics`` by
its ``ops`` setting, as the stage's own command does. Over HTTPS the in-process publisher trusts
exactly the archive's own certificate (it names the public address, not loopback).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import SecretStr

from archive.web.app import create_app as archive_app
from extractor.app import create_app as extractor_app
from extractor.service import Extractor
from listener.app import create_app as listener_app
from listener.cli import connection_for
from listener.service import Listener
from mfr.bus import Bus, open_bus
from mfr.bus.startup import patiently
from mfr.codec import Codec
from mfr.resync import BusResync
from mfr.settings import OpsAccess, ServerTls
from mfr.tls import pinned_context
from mfr.topics import topic_name, topic_specs
from pipeline.archive_side import drop_token, fresh_token, open_archive
from pipeline.errors import PipelineError
from pipeline.servers import BackgroundServer
from pipeline.settings import RunSettings
from publisher.client import ArchiveClient
from publisher.metrics import HealthServer, PublisherMetrics
from publisher.service import CONSUMED, Publisher

log = structlog.get_logger("pipeline.run")
RUN_TOKEN = "mfr-run"  # noqa: S105 - the name of the in-process publisher's token


@dataclass
class _Stage:
    """A running piece: its worker thread (if any) and how to stop it, in shutdown order."""

    name: str
    stop: Callable[[], None]
    thread: threading.Thread | None = None


@dataclass
class SingleMachine:
    """The whole pipeline in this process; ``start``, then ``stop`` (also after a failure)."""

    settings: RunSettings
    stages: list[_Stage] = field(default_factory=list)
    archive_url: str = ""

    def start(self) -> None:
        """Start every stage, downstream first, so nothing waits for a stage not yet there."""
        bus = open_bus(self.settings.bus)
        self.stages.append(_Stage("bus", bus.close))
        patiently("creating topics",
                  lambda: bus.ensure_topics(topic_specs(self.settings.bus).values()),
                  self.settings.bus.startup_patience_s)
        token = self._start_archive(bus)
        self._start_publisher(bus, token)
        self._start_extractor(bus, token)
        self._start_listener(bus)
        where = self.settings.bus.kafka_bootstrap_servers or str(self.settings.bus.embedded_path)
        log.info("running", archive=self.archive_url, bus=where)

    def failed(self) -> str | None:
        """The name of a stage whose worker died on its own, if any."""
        return next(
            (s.name for s in self.stages if s.thread is not None and not s.thread.is_alive()), None
        )

    def stop(self) -> None:
        """Stop in the order data flows; the last stage started is the first stopped."""
        while self.stages:
            stage = self.stages.pop()
            try:
                stage.stop()
                if stage.thread is not None:
                    stage.thread.join()
            except Exception:  # the other stages must still stop
                log.exception("stopping a stage failed", stage=stage.name)
            log.info("stopped", stage=stage.name)

    def _start_archive(self, bus: Bus) -> str:
        archive = self.settings.archive
        engine = open_archive(archive.database_url.get_secret_value())
        self.stages.append(_Stage("archive database", engine.dispose))
        token = fresh_token(engine, RUN_TOKEN)
        self.stages.append(_Stage("ingest token", lambda: drop_token(engine, RUN_TOKEN)))
        resync = BusResync(self.settings.bus, bus)  # the admin page's resync requests
        self.stages.append(_Stage("resync requests", resync.close))
        server = self._serve(archive_app(archive, engine, resync=resync), archive.host,
                             archive.port, "archive", archive.tls, archive.ops)
        self.archive_url = server.url
        return token

    def _serve(
        self, app: Any, host: str, port: int, name: str, tls: ServerTls, ops: OpsAccess
    ) -> BackgroundServer:
        """Serve ``app`` (and its ops address, if it has one); the main server is returned."""
        server = BackgroundServer(app, host, port, name, tls=tls, ops=ops)
        server.start()
        self.stages.append(_Stage(name, server.stop))
        if ops.host is not None:
            extra = BackgroundServer(app, ops.host, ops.port, f"{name} ops", tls=tls, ops=ops,
                                     role="ops")
            extra.start()
            self.stages.append(_Stage(f"{name} ops", extra.stop))
        return server

    def _start_publisher(self, bus: Bus, token: str) -> None:
        config = self.settings.publisher_config(
            archive_url=self.archive_url, ingest_token=SecretStr(token)
        )
        stop = threading.Event()
        metrics = PublisherMetrics()
        section = config.publisher
        health = HealthServer(metrics, section.health_host, section.health_port, section.tls,
                              section.ops)
        health.start()
        self.stages.append(_Stage("publisher health", health.stop))
        consumer = bus.consumer(config.publisher.group,
                                [topic_name(config.bus, t) for t in CONSUMED])
        producer = bus.producer()
        archive_tls = self.settings.archive.tls
        verify = pinned_context(archive_tls.cert_file) if archive_tls.cert_file else None
        client = ArchiveClient(config.publisher, stop, verify=verify)
        publisher = Publisher(config, consumer, producer, client, metrics, stop)
        client.on_retry = publisher.on_retry

        def work() -> None:
            try:
                publisher.run()
            finally:
                client.close()
                producer.close()
                consumer.close()

        thread = threading.Thread(target=work, name="publisher")
        thread.start()
        self.stages.append(_Stage("publisher", stop.set, thread))

    def _start_extractor(self, bus: Bus, token: str) -> None:
        settings = self.settings.extractor_settings()
        drift = settings.extractor.drift
        if drift.archive_url is None:  # the drift check compares with this process's archive
            drift = drift.model_copy(update={
                "archive_url": self.archive_url, "archive_token": SecretStr(token),
                "pinned_cert": self.settings.archive.tls.cert_file})
            settings = settings.model_copy(update={
                "extractor": settings.extractor.model_copy(update={"drift": drift})})
        # The extractor reaches Exchange as [exchange] api says: EWS, or Microsoft Graph.
        extractor = Extractor(settings, bus, codec=Codec())
        stop = threading.Event()
        thread = threading.Thread(target=extractor.run, args=(stop,), name="extractor")
        thread.start()
        self.stages.append(_Stage("extractor", stop.set, thread))
        section = settings.extractor
        self._serve(extractor_app(extractor), section.host, section.port, "extractor status",
                    section.tls, section.ops)

    def _start_listener(self, bus: Bus) -> None:
        settings = self.settings.listener_settings()
        listener = Listener(settings, bus, connection_for(settings), Codec())
        listener.start()
        self.stages.append(_Stage("listener", listener.stop))
        section = settings.listener
        self._serve(listener_app(listener), section.host, section.port, "listener endpoints",
                    section.tls, section.ops)


def run(settings: RunSettings, stop: threading.Event, check_every_s: float = 1.0) -> None:
    """Run until ``stop`` is set; raises if a stage dies on its own (after stopping the rest)."""
    machine = SingleMachine(settings)
    try:
        machine.start()
        while not stop.wait(check_every_s):
            dead = machine.failed()
            if dead:
                raise PipelineError(f"the {dead} stopped unexpectedly; everything was stopped")
    finally:
        machine.stop()
