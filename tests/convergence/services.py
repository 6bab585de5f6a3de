"""The pipeline as separate processes — ``mfr archive``, ``publisher``, ``extractor`` and the
listeners: for EWS two (streaming and push), for Graph one (webhooks) — each one killable and
restartable, as in a Kafka deployment. On Kafka there may be several extractors and publishers,
each group's members sharing the partitions ("extractor 2", "publisher 2", ...; every extractor
with a local store and a port of its own); ``standby`` ones are started only when asked.

Every process reads one generated config file; secrets come from the environment, as an admin
would set them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from archive.accounts import add_token, add_user
from archive.store.engine import migrate, open_engine
from mfr.settings import BusSettings
from tests.kafka.broker import free_port

SERVICE, SERVICE_PASSWORD = "svc-converge@sim.example", "converge-service-pw"
ADMIN, ADMIN_PASSWORD = "ops", "ops-password-1"
GRAPH_CLIENT_ID = "6f1c2a9e-5d4b-4c3a-9e8f-7a6b5c4d3e2f"
GRAPH_SECRET = "converge-graph-secret"


@dataclass(frozen=True)
class GraphSource:
    """Where a Graph-fed stack finds Exchange Online: the simulator's authority and Graph root,
    its CA, and the tenant; the app registration is the test's own (``GRAPH_CLIENT_ID``)."""

    tenant_id: str
    authority_host: str
    graph_url: str
    ca_file: Path


@dataclass
class Service:
    """One ``mfr`` subcommand as a child process."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        """Start a new process (appending to the service's log)."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from mfr.cli import main; main()", *self.args],
                env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no clean-up, no commit, no goodbye."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None

    def stop(self) -> int | None:
        """SIGTERM, and wait for a clean exit; returns the exit code."""
        if self.proc is None:
            return None
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        self.proc = None
        return code

    @property
    def died(self) -> bool:
        """Whether the process exited on its own."""
        return self.proc is not None and self.proc.poll() is not None

    def tail(self, lines: int = 40) -> str:
        """The end of the service's log."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Stack:
    """Config, database and processes of one pipeline run."""

    workdir: Path
    bus: BusSettings
    endpoint: str
    mailboxes: list[str]
    graph: GraphSource | None = None
    ca_file: Path | None = None  # an https EWS endpoint's CA (exchangelib goes through requests)
    extractors: int = 1
    publishers: int = 1
    standby: frozenset[str] = frozenset()  # services not started by ``start``
    archive_port: int = field(default_factory=free_port)
    extractor_port: int = field(default_factory=free_port)
    listener_port: int = field(default_factory=free_port)
    push_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.database_url = f"sqlite:///{self.workdir / 'archive.sqlite3'}"
        self.engine = open_engine(self.database_url)
        migrate(self.engine)
        add_user(self.engine, ADMIN, ADMIN_PASSWORD, admin=True, mailboxes=[])
        token = add_token(self.engine, "converge")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
        env.update({"PYTHONPATH": os.pathsep.join(sys.path),
                    "MFR_EXCHANGE__PASSWORD": SERVICE_PASSWORD,
                    "MFR_PUBLISHER__INGEST_TOKEN": token})
        if self.ca_file is not None:
            env["REQUESTS_CA_BUNDLE"] = str(self.ca_file)
        logs = self.workdir
        if self.graph is not None:
            env["MFR_EXCHANGE__GRAPH__CLIENT_SECRET"] = GRAPH_SECRET
            self.config = self._write("mfr.toml", self.mailboxes, "graph", self.listener_port)
            self.services = {
                name: Service(name, [command, "-c", str(self.config)], env, logs / f"{command}.log")
                for name, command in (("archive", "archive"), ("publisher", "publisher"),
                                      ("extractor", "extractor"), ("listener", "listener"))
            }
            self._add_members(env)
            return
        streaming, push = self.mailboxes[::2], self.mailboxes[1::2]
        self.config = self._write("mfr.toml", streaming, "streaming", self.listener_port)
        push_config = self._write("mfr-push.toml", push, "push", self.push_port)
        self.services = {
            "archive": Service("archive", ["archive", "-c", str(self.config)], env,
                               logs / "archive.log"),
            "publisher": Service("publisher", ["publisher", "-c", str(self.config)], env,
                                 logs / "publisher.log"),
            "extractor": Service("extractor", ["extractor", "-c", str(self.config)], env,
                                 logs / "extractor.log"),
            "listener": Service("listener", ["listener", "-c", str(self.config)], env,
                                logs / "listener.log"),
            "push listener": Service("push listener", ["listener", "-c", str(push_config)], env,
                                     logs / "push-listener.log"),
        }
        self._add_members(env)

    def _add_members(self, env: dict[str, str]) -> None:
        """The second and further extractors and publishers of the groups."""
        self.extractor_ports = {"extractor": self.extractor_port}
        for n in range(2, self.extractors + 1):
            name, port = f"extractor {n}", free_port()
            own = {**env, "MFR_EXTRACTOR__PORT": str(port),
                   "MFR_EXTRACTOR__STATE_PATH": str(self.workdir / f"extractor-{n}.sqlite3")}
            self.services[name] = Service(name, ["extractor", "-c", str(self.config)], own,
                                          self.workdir / f"extractor-{n}.log")
            self.extractor_ports[name] = port
        for n in range(2, self.publishers + 1):
            name = f"publisher {n}"
            self.services[name] = Service(name, ["publisher", "-c", str(self.config)], env,
                                          self.workdir / f"publisher-{n}.log")

    def members(self, kind: str) -> list[str]:
        """The names of the extractors (``kind`` "extractor") or publishers."""
        return [name for name in self.services if name.split()[0] == kind]

    @property
    def archive_url(self) -> str:
        """Where the archive serves."""
        return f"http://127.0.0.1:{self.archive_port}"

    def _write(self, name: str, mailboxes: list[str], mode: str, listener_port: int) -> Path:
        bus = self.bus
        where = (f'kafka_bootstrap_servers = "{bus.kafka_bootstrap_servers}"'
                 if bus.uses_kafka else f'embedded_path = "{bus.embedded_path}"')
        quoted = ", ".join(f'"{m}"' for m in mailboxes)
        path = self.workdir / name
        path.write_text(f"""
[bus]
{where}
topic_prefix = "{bus.topic_prefix}"
partitions = {bus.partitions}
session_timeout_s = {bus.session_timeout_s}

{self._exchange()}

[listener]
{'' if mode == "graph" else f'mode = "{mode}"'}
mailboxes = [{quoted}]
port = {listener_port}
resubscribe_after_s = 0.5
{self._graph_listener(listener_port)}

[listener.streaming]
silence_timeout_s = 5.0
retry_after_s = 0.2
connection_timeout_min = 1

[listener.push]
callback_base_url = "http://127.0.0.1:{listener_port}/push"
check_every_s = 2.0
status_frequency_min = 1

[extractor]
state_path = "{self.workdir / 'extractor.sqlite3'}"
coalesce_s = 0.5
retry_after_s = 0.5
load_poll_s = 0.3
port = {self.extractor_port}

[publisher]
archive_url = "{self.archive_url}"
linger_ms = 100
retry_max_s = 1.5
health_port = 0

[archive]
database_url = "{self.database_url}"
port = {self.archive_port}
cookie_secure = false
""")
        return path

    def _exchange(self) -> str:
        if self.graph is None:
            return f"""[exchange]
endpoint = "{self.endpoint}"
auth = "basic"
service_account = "{SERVICE}"
version = "Exchange2016"
"""
        return f"""[exchange]
api = "graph"

[exchange.graph]
tenant_id = "{self.graph.tenant_id}"
client_id = "{GRAPH_CLIENT_ID}"
authority_host = "{self.graph.authority_host}"
graph_url = "{self.graph.graph_url}"
ca_file = "{self.graph.ca_file}"
"""

    def _graph_listener(self, port: int) -> str:
        if self.graph is None:
            return ""
        return f"""
[listener.graph]
notification_url = "http://127.0.0.1:{port}"
hierarchy_interval_s = 5.0
"""

    def start(self) -> None:
        """Start every service but the standby ones, downstream first."""
        for service in self.services.values():
            if service.name not in self.standby:
                service.start()

    def died(self) -> list[str]:
        """Services that exited on their own."""
        return [s.name for s in self.services.values() if s.died]

    def obituaries(self, lines: int = 30) -> str:
        """The end of each log of a service that exited on its own, for the failure message."""
        return "\n".join(f"--- {s.name} (exit {s.proc.returncode if s.proc else None}):\n"
                         f"{s.tail(lines)}" for s in self.services.values() if s.died)

    def stop(self) -> dict[str, int | None]:
        """Stop every service cleanly, upstream first; their exit codes."""
        return {s.name: s.stop() for s in reversed(self.services.values())}

    def kill_all(self) -> None:
        """Leave nothing running."""
        for service in self.services.values():
            service.kill()
        self.engine.dispose()

    def extractor_status(self, name: str | None = None) -> dict[str, dict[str, object]]:
        """Per mailbox, its status at the extractor syncing it (empty while none serves);
        ``name``: that extractor's only."""
        merged: dict[str, dict[str, object]] = {}
        for member in [name] if name else self.members("extractor"):
            try:
                found: dict[str, dict[str, object]] = httpx.get(
                    f"http://127.0.0.1:{self.extractor_ports[member]}/status", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                continue
            for mailbox, status in found.items():
                if merged.get(mailbox, {}).get("state") != "Live":
                    merged[mailbox] = status
        return merged
