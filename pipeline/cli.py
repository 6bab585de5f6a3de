"""The single-machine commands: ``mfr run`` and ``mfr replay``.

``mfr/cli.py`` registers ``demo``, ``run`` and ``replay`` from here, when defined.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated

import typer

from mfr.logs import configure_logging
from mfr.options import ConfigOption
from pipeline.archive_side import sqlalchemy_url
from pipeline.demo import DemoOptions
from pipeline.demo import demo as run_demo
from pipeline.replay import ReplayOptions
from pipeline.replay import replay as run_replay
from pipeline.run import run as run_all
from pipeline.settings import ReplaySettings, RunSettings


def replay(
    database: Annotated[
        str,
        typer.Option(
            "--database", "-d",
            help="archive database to build: a SQLite file path or a SQLAlchemy URL "
            "(postgresql+psycopg://user:pw@host/db)",
        ),
    ],
    config: ConfigOption = None,
    force: Annotated[
        bool, typer.Option(help="apply onto a database that already holds archive data")
    ] = False,
    idle_seconds: Annotated[
        float, typer.Option(min=0.1, help="the topics are drained once nothing came for this long")
    ] = 5.0,
    first_record_seconds: Annotated[
        float, typer.Option(min=0.1, help="how long to wait for the very first record")
    ] = 30.0,
    dead_letter: Annotated[
        bool, typer.Option(help="also write the records the archive refuses to dead-letters")
    ] = False,
    json_logs: Annotated[bool, typer.Option(help="log JSON lines")] = False,
) -> None:
    """Rebuild an archive database from the topics, from the beginning, and report what was
    applied. Reads [bus], [archive] and [publisher] of the config file."""
    configure_logging(json=json_logs, level="WARNING")
    settings = ReplaySettings.load(config)
    options = ReplayOptions(
        target_url=sqlalchemy_url(database),
        force=force,
        idle_s=idle_seconds,
        first_s=first_record_seconds,
        dead_letter=dead_letter,
    )
    stop = threading.Event()
    with stopped_by_signals(stop):
        report = run_replay(settings, options, stop)
    for line in report.lines():
        typer.echo(line)
    if not report.complete:
        raise typer.Exit(1)


@contextmanager
def stopped_by_signals(stop: threading.Event) -> Iterator[None]:
    """Within, SIGINT and SIGTERM set ``stop`` (the work then ends cleanly) instead of killing."""
    previous = {s: signal.signal(s, _setter(stop)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _setter(stop: threading.Event) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return handler


def run(
    config: ConfigOption = None,
    json_logs: Annotated[bool, typer.Option(help="log JSON lines")] = False,
) -> None:
    """Run the listener, extractor, publisher and archive in this one process (single-machine
    production) until SIGTERM or Ctrl-C. Every section of the config file applies."""
    configure_logging(json=json_logs)
    settings = RunSettings.load(config)
    stop = threading.Event()
    with stopped_by_signals(stop):
        run_all(settings, stop)


def demo(
    mailboxes: Annotated[int, typer.Option(min=1, max=50, help="simulated mailboxes")] = 3,
    messages: Annotated[int, typer.Option(min=0, help="messages in each mailbox")] = 300,
    seed: Annotated[int, typer.Option(help="seed of the generated mailboxes and activity")] = 7,
    rate: Annotated[float, typer.Option(min=0, help="live changes per second")] = 0.5,
    port: Annotated[int, typer.Option(help="the archive's port (another if taken)")] = 8080,
    kafka: Annotated[str | None, typer.Option(help="Kafka bootstrap servers (default: the "
                                                   "embedded bus)")] = None,
    api: Annotated[str, typer.Option(help="ews: on-premises Exchange's EWS; graph: Exchange "
                                          "Online's Microsoft Graph (webhooks and delta)")] = "ews",
    json_logs: Annotated[bool, typer.Option(help="log JSON lines")] = False,
) -> None:
    """Run the whole pipeline on this machine against a simulated Exchange, with live activity,
    and show the archive's address and credentials. Ctrl-C stops it."""
    if api not in ("ews", "graph"):
        raise typer.BadParameter("--api is ews or graph")
    configure_logging(json=json_logs, level="WARNING")
    stop = threading.Event()
    options = DemoOptions(mailboxes=mailboxes, messages=messages, seed=seed, rate=rate,
                          port=port, kafka=kafka, api=api)
    with stopped_by_signals(stop):
        run_demo(options, stop)
