"""``mfr demo``: the whole pipeline on a laptop, against the simulator, in one process.

It starts a simulated Exchange with a few realistic mailboxes (seeded) and a gentle stream of
live activity, then the real listener, extractor, publisher and archive (``mfr run``'s
composition) on the embedded bus and SQLite in ``var/demo/``, or on Kafka with ``--kafka``. With
``--api graph`` the pipeline reaches it as Exchange Online: Microsoft Graph over TLS (the
simulator's own CA), an app registration with a secret, msal for tokens, webhooks to the listener
on loopback. A progress bar per
mailbox follows the initial sync; then it prints the archive's address and who can sign in.
Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import AnyHttpUrl, SecretStr
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from archive.accounts import add_user
from archive.settings import ArchiveSettings
from extractor.settings import ExtractorSection
from listener.settings import GraphListenerSection, ListenerSection
from mfr.ews import ExchangeSettings
from mfr.graph import GraphSettings
from mfr.settings import BusSettings
from pipeline.archive_side import open_archive
from pipeline.run import SingleMachine
from pipeline.settings import RunSettings
from publisher.settings import PublisherSettings
from simulator import Simulator, SimulatorSection
from simulator.activity import Activity
from simulator.generator import populate

SERVICE_ACCOUNT = "svc-mfr-demo@sim.example"
GRAPH_CLIENT_ID = "0d5e9a2c-6b1f-4e37-8c4d-2a9f1b7e3c58"  # the demo's app registration


@dataclass(frozen=True)
class DemoOptions:
    """What ``mfr demo`` was asked for."""

    mailboxes: int = 3
    messages: int = 300
    seed: int = 7
    rate: float = 0.5  # live changes per second, over all mailboxes
    port: int = 8080  # the archive's; another free one if taken
    workdir: Path = Path("var/demo")
    kafka: str | None = None
    api: str = "ews"


@dataclass(frozen=True)
class Access:
    """Where the archive is and who can sign in."""

    url: str
    user: str
    user_password: str
    admin_password: str


def free_port(preferred: int = 0) -> int:
    """``preferred`` if nothing listens there, else any free loopback port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            found: int = sock.getsockname()[1]
            return found
    raise OSError("no free port on 127.0.0.1")


def settings_for(options: DemoOptions, sim: Simulator, mailboxes: list[str],
                 service_password: str) -> RunSettings:
    """``mfr run``'s settings, pointed at the simulator and the demo's folder."""
    work = options.workdir.resolve()
    bus = (BusSettings(kafka_bootstrap_servers=options.kafka, topic_prefix="mfr-demo")
           if options.kafka else BusSettings(embedded_path=work / "bus.sqlite3"))
    listener_port = free_port()
    if options.api == "graph":
        assert sim.ca_file is not None  # noqa: S101 - the demo starts its simulator with TLS
        exchange = ExchangeSettings(api="graph", graph=GraphSettings(
            tenant_id=sim.graph.auth.tenant_id, client_id=GRAPH_CLIENT_ID,
            client_secret=SecretStr(service_password),
            authority_host=AnyHttpUrl(sim.authority_url), graph_url=AnyHttpUrl(sim.graph_url),
            ca_file=sim.ca_file))
        listener = ListenerSection(mailboxes=mailboxes, port=listener_port,
                                   graph=GraphListenerSection(
                                       notification_url=AnyHttpUrl(
                                           f"http://127.0.0.1:{listener_port}"),
                                       hierarchy_interval_s=15.0))
    else:
        exchange = ExchangeSettings(endpoint=sim.endpoint_url,  # type: ignore[arg-type]
                                    auth="basic", service_account=SERVICE_ACCOUNT,
                                    password=service_password,  # type: ignore[arg-type]
                                    version="Exchange2016")
        listener = ListenerSection(mailboxes=mailboxes, port=listener_port)
    return RunSettings(
        bus=bus,
        exchange=exchange,
        extractor=ExtractorSection(state_path=work / "extractor.sqlite3", coalesce_s=1.0,
                                   port=free_port()),
        listener=listener,
        archive=ArchiveSettings(database_url=f"sqlite:///{work / 'archive.sqlite3'}",  # type: ignore[arg-type]
                                port=free_port(options.port), cookie_secure=False),
        publisher=PublisherSettings(health_port=free_port(), linger_ms=200),
    )


def _users(settings: RunSettings, user: str) -> tuple[str, str]:
    engine = open_archive(settings.archive.database_url.get_secret_value())
    try:
        user_password, admin_password = secrets.token_urlsafe(9), secrets.token_urlsafe(9)
        add_user(engine, user, user_password, admin=False, mailboxes=[])
        add_user(engine, "admin", admin_password, admin=True, mailboxes=[])
    finally:
        engine.dispose()
    return user_password, admin_password


def _follow_initial_sync(status_url: str, mailboxes: list[str], stop: threading.Event,
                         console: Console) -> None:
    """A progress bar per mailbox until every one is live (or the demo is stopped)."""
    columns = (TextColumn("{task.description:<34}"), BarColumn(),
               TextColumn("{task.fields[state]}"))
    with Progress(*columns, console=console) as progress:
        tasks: dict[str, TaskID] = {m: progress.add_task(m, total=100, state="waiting")
                                    for m in mailboxes}
        live: set[str] = set()
        while len(live) < len(mailboxes) and not stop.wait(0.5):
            try:
                status = httpx.get(status_url, timeout=5).json()
            except (httpx.HTTPError, ValueError):
                continue
            for mailbox, task in tasks.items():
                seen = status.get(mailbox) or {}
                state = seen.get("state", "waiting")
                done = 100.0 if state == "Live" else seen.get("initial_sync_percent") or 0.0
                progress.update(task, completed=done, state=state)
                if state == "Live":
                    live.add(mailbox)


def demo(options: DemoOptions, stop: threading.Event, console: Console | None = None
         ) -> Access | None:
    """Run the demo until ``stop`` is set; returns where the archive was and who could sign in."""
    console = console or Console()
    shutil.rmtree(options.workdir, ignore_errors=True)
    options.workdir.mkdir(parents=True)
    service_password = secrets.token_urlsafe(12)
    graph = options.api == "graph"
    section = SimulatorSection(port=0, tls=graph, tls_dir=options.workdir.resolve() / "tls")
    with Simulator(section) as sim:
        sim.add_service_account(SERVICE_ACCOUNT, service_password, impersonate={"*"})
        sim.graph.controls["register_app"](client_id=GRAPH_CLIENT_ID, secret=service_password)
        mailboxes = populate(sim.control, options.mailboxes, options.messages, options.seed,
                             "sim.example", secrets.token_urlsafe(9))
        face = f"Microsoft Graph at {sim.graph_url}" if graph else f"EWS at {sim.endpoint_url}"
        console.print(f"Exchange simulator, {face}: {len(mailboxes)} mailboxes, "
                      f"{options.messages} messages each")
        settings = settings_for(options, sim, mailboxes, service_password)
        user_password, admin_password = _users(settings, mailboxes[0])
        machine = SingleMachine(settings)
        activity = Activity(sim.control, mailboxes, options.rate, options.seed)
        try:
            machine.start()
            status_url = f"http://127.0.0.1:{settings.extractor.port}/status"
            _follow_initial_sync(status_url, mailboxes, stop, console)
            activity.start()
            access = Access(machine.archive_url, mailboxes[0], user_password, admin_password)
            _announce(console, access, options)
            while not stop.wait(1.0):
                if machine.failed():
                    console.print(f"[red]the {machine.failed()} stopped unexpectedly[/red]")
                    return access
            return access
        finally:
            console.print("stopping…")
            activity.stop()
            machine.stop()


def _announce(console: Console, access: Access, options: DemoOptions) -> None:
    console.print(
        f"\n[bold]The archive is at {access.url}/[/bold]\n"
        f"  sign in as [bold]{access.user}[/bold] with password "
        f"[bold]{access.user_password}[/bold] (that user's own mailbox)\n"
        f"  or as [bold]admin[/bold] with password [bold]{access.admin_password}[/bold] "
        f"(every mailbox, and the admin page)\n"
        f"Live activity: about {options.rate:g} change(s) a second; they appear within seconds.\n"
        f"Press Ctrl-C to stop."
    )
