"""The processes the latency benchmark (``latency_bench.py``) measures, and how they are set up.

Kept apart from the measuring (phases, the archive watcher, the report) so that each module stays
short enough to read: here are the simulator in its own process, known only by the lines ``mfr
simulator`` prints, as an admin would copy them, and one complete pipeline per Exchange API. Each
pipeline has its own folder (bus file, archive database, extractor state, config, logs) and its
own ports, so two of them, one reading EWS and one reading Graph, can replicate the same
simulated Exchange side by side without sharing anything but the mailboxes. Their config is
production defaults except ports, paths, the coalescing window and the mailboxes synced at once:
the benchmark is about the product as shipped.

The Graph pipeline's listener takes its webhooks over plain HTTP on loopback (the simulator
delivers anywhere; real Graph needs a public HTTPS reverse proxy, which would only add its own
hop). Its ``/metrics`` has the acknowledgement-time histogram; a Prometheus histogram keeps only
bucket counts, so percentiles read from it are estimates, interpolated inside a bucket the way
Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from archive.accounts import add_token, add_user
from pipeline.archive_side import open_archive
from tests.convergence.services import Service
from tests.kafka.broker import free_port

ADMIN, ADMIN_PASSWORD = "bench-admin", "bench-admin-password"
ACK_HISTOGRAM = "mfr_listener_webhook_ack_seconds"  # listener/metrics.py
NAMES = {"ews": "EWS", "graph": "Graph"}


def cpu_seconds(pid: int) -> float:
    """CPU (user + system, every thread) process ``pid`` has used so far, from /proc: a stage's
    cost per change is its CPU over a phase divided by the phase's changes."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Simulator:
    """``mfr simulator`` in a child process (``--tls``: HTTPS everywhere, Graph usable)."""

    def __init__(self, mailboxes: int, messages: int, tls: bool, log: Path) -> None:
        with log.open("ab") as errors:
            self.proc = subprocess.Popen(  # noqa: S603 - our own command
                [sys.executable, "-c", "from mfr.cli import main; main()", "simulator",
                 "--mailboxes", str(mailboxes), "--messages", str(messages), "--seed", "5",
                 "--port", "0", "--activity", "0", *(["--tls"] if tls else [])],
                stdout=subprocess.PIPE, stderr=errors, text=True,
            )  # fmt: skip
        assert self.proc.stdout is not None  # noqa: S101 - piped above
        printed: dict[str, str] = {}  # "label:   value" lines, until "Ctrl-C to stop."
        for line in self.proc.stdout:
            if line.startswith("Ctrl-C"):
                break
            label, _, value = line.partition(":")
            printed[label.strip()] = value.strip()
        if "EWS endpoint" not in printed:
            raise SystemExit(f"the simulator did not start; see {log}")
        self.endpoint = printed["EWS endpoint"]
        self.control = printed["control API"].rstrip("/")
        self.account = printed["service account"].split()[0]
        self.password = printed["password (Basic)"]
        self.graph_url = printed["Graph endpoint"]
        # token endpoint: {authority host}/{tenant}/oauth2/v2.0/token
        self.authority_host, self.tenant_id = printed["token endpoint"].rsplit("/", 4)[:2]
        self.client_id = printed["Graph app"].split()[0]
        self.client_secret = printed["client secret"]
        self.ca_file = Path(printed["CA to trust"]) if "CA to trust" in printed else None

    def verify(self) -> ssl.SSLContext | bool:
        """What an httpx client needs to trust the simulator."""
        return True if self.ca_file is None else ssl.create_default_context(cafile=self.ca_file)

    def mailboxes(self) -> list[str]:
        """Every mailbox address."""
        found: list[str] = httpx.get(
            f"{self.control}/mailboxes", timeout=30, verify=self.verify()
        ).json()["result"]
        return found

    def stop(self) -> None:
        """Interrupt it."""
        self.proc.terminate()
        self.proc.wait(timeout=30)


@dataclass
class AckSnapshot:
    """The listener's acknowledgement-time histogram at one moment, summed over outcomes."""

    buckets: dict[float, float] = field(default_factory=dict)  # upper bound -> cumulative count
    outcomes: dict[str, float] = field(default_factory=dict)  # outcome -> count

    def since(self, before: AckSnapshot) -> AckSnapshot:
        """What was observed between ``before`` and this one."""
        return AckSnapshot(
            {b: n - before.buckets.get(b, 0.0) for b, n in self.buckets.items()},
            {o: n - before.outcomes.get(o, 0.0) for o, n in self.outcomes.items()},
        )

    def quantile(self, q: float) -> float | None:
        """Estimated q-quantile in seconds, linear inside its bucket; ``inf`` past the last finite
        bound; None with no observations."""
        bounds = sorted(self.buckets)
        total = self.buckets[bounds[-1]] if bounds else 0.0
        if total <= 0:
            return None
        rank, lower, below = q * total, 0.0, 0.0
        for bound in bounds:
            cumulative = self.buckets[bound]
            if cumulative >= rank and cumulative > below:
                if math.isinf(bound):
                    return bound
                return lower + (bound - lower) * (rank - below) / (cumulative - below)
            lower, below = bound, cumulative
        return lower


class Pipeline:
    """One complete pipeline reading Exchange through ``api`` ("ews" or "graph")."""

    def __init__(
        self, api: str, root: Path, sim: Simulator, mailboxes: list[str], args: argparse.Namespace
    ) -> None:
        self.api, self.name = api, NAMES[api]
        self.work = root / api
        self.work.mkdir(parents=True)
        self.database = self.work / "archive.sqlite3"
        self.archive_port, self.extractor_port = free_port(), free_port()
        self.listener_port = free_port()
        config = self._write_config(sim, mailboxes, args)
        engine = open_archive(f"sqlite:///{self.database}")
        add_user(engine, ADMIN, ADMIN_PASSWORD, admin=True, mailboxes=[])
        env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
        env["MFR_PUBLISHER__INGEST_TOKEN"] = add_token(engine, "latency-bench")
        engine.dispose()
        if api == "ews":
            env["MFR_EXCHANGE__PASSWORD"] = sim.password
        else:
            env["MFR_EXCHANGE__GRAPH__CLIENT_SECRET"] = sim.client_secret
        if sim.ca_file is not None:  # exchangelib (EWS) goes through requests
            env["REQUESTS_CA_BUNDLE"] = str(sim.ca_file)
        stages = ["archive", "publisher", "extractor", "listener"] if args.processes else ["run"]
        self.services = [
            Service(
                f"{self.name} {stage}", [stage, "-c", str(config)], env, self.work / f"{stage}.log"
            )
            for stage in stages
        ]
        self.started = 0.0

    @property
    def archive_url(self) -> str:
        """Where its archive serves."""
        return f"http://127.0.0.1:{self.archive_port}"

    def _write_config(self, sim: Simulator, mailboxes: list[str], args: argparse.Namespace) -> Path:
        kafka = args.kafka
        bus = (
            f'kafka_bootstrap_servers = "{kafka}"\ntopic_prefix = "lat{os.getpid()}{self.api}"'
            if kafka
            else f'embedded_path = "{self.work / "bus.sqlite3"}"'
        )
        groups = (f'group = "mfr-extractor-{self.api}"', f'group = "mfr-publisher-{self.api}"')
        groups = groups if kafka else ("", "")  # one bus file each; on Kafka, a group each
        if self.api == "ews":
            exchange = f"""[exchange]
endpoint = "{sim.endpoint}"
auth = "basic"
service_account = "{sim.account}"
version = "Exchange2016"
"""
            graph_listener = ""
        else:
            exchange = f"""[exchange]
api = "graph"

[exchange.graph]
tenant_id = "{sim.tenant_id}"
client_id = "{sim.client_id}"
authority_host = "{sim.authority_host}"
graph_url = "{sim.graph_url}"
ca_file = "{sim.ca_file}"
"""
            graph_listener = f"""
[listener.graph]
notification_url = "http://127.0.0.1:{self.listener_port}"
hierarchy_interval_s = 60.0   # the default
"""
        config = self.work / "mfr.toml"
        config.write_text(f"""
[bus]
{bus}

{exchange}
[listener]
mailboxes = {json.dumps(mailboxes)}
port = {self.listener_port}
{graph_listener}
[extractor]
state_path = "{self.work / "extractor.sqlite3"}"
coalesce_s = {args.coalesce}
parallel_mailboxes = {args.parallel}
port = {self.extractor_port}
{groups[0]}

[publisher]
health_port = {free_port()}
archive_url = "{self.archive_url}"
{groups[1]}

[archive]
database_url = "sqlite:///{self.database}"
port = {self.archive_port}
cookie_secure = false
""")
        return config

    def start(self) -> None:
        """Start its processes, downstream first."""
        self.started = time.monotonic()
        for service in self.services:
            service.start()

    def stop(self) -> None:
        """Stop its processes, upstream first, as data flows."""
        for service in reversed(self.services):
            service.stop()

    def died(self) -> list[str]:
        """Its processes that exited on their own."""
        return [s.name for s in self.services if s.died]

    def cpu_seconds(self) -> dict[str, float]:
        """CPU (user + system) each of its processes has used so far, by stage."""
        return {s.name.split(" ", 1)[1]: cpu_seconds(s.proc.pid)
                for s in self.services if s.proc is not None}

    def wait_live(self, mailboxes: list[str], timeout_s: float = 1800) -> float:
        """Seconds from its start until the listener is ready and the extractor reports every
        mailbox live (initial syncs done)."""
        while time.monotonic() - self.started < timeout_s:
            if self.died():
                raise SystemExit(f"{self.died()} exited; logs in {self.work}")
            try:
                ready = httpx.get(f"http://127.0.0.1:{self.listener_port}/readyz", timeout=10)
                status = httpx.get(
                    f"http://127.0.0.1:{self.extractor_port}/status", timeout=10
                ).json()
            except (httpx.HTTPError, ValueError):
                ready, status = None, {}
            live = sum(status.get(m, {}).get("state") == "Live" for m in mailboxes)
            if ready is not None and ready.status_code == 200 and live == len(mailboxes):
                return time.monotonic() - self.started
            time.sleep(2)
        raise SystemExit(f"{self.name}: initial sync not done in {timeout_s}s")

    def cycles(self) -> float:
        """Sync cycles the extractor has run so far, whatever their result: with the CPU spent
        over a phase, the cost per cycle, which coalescing does not blur (a backlog lets one
        cycle take several changes of a mailbox, so CPU per change falls as the pipeline lags)."""
        text = httpx.get(f"http://127.0.0.1:{self.extractor_port}/metrics", timeout=30).text
        return sum(sample.value for family in text_string_to_metric_families(text)
                   if family.name == "mfr_extractor_cycles" for sample in family.samples
                   if sample.name == "mfr_extractor_cycles_total")

    def ack_histogram(self) -> AckSnapshot:
        """The listener's acknowledgement-time histogram now (Graph mode)."""
        text = httpx.get(f"http://127.0.0.1:{self.listener_port}/metrics", timeout=30).text
        snapshot = AckSnapshot()
        for family in text_string_to_metric_families(text):
            if family.name != ACK_HISTOGRAM:
                continue
            for sample in family.samples:
                if sample.name == f"{ACK_HISTOGRAM}_bucket":
                    bound = float(sample.labels["le"])
                    snapshot.buckets[bound] = snapshot.buckets.get(bound, 0.0) + sample.value
                elif sample.name == f"{ACK_HISTOGRAM}_count":
                    outcome = sample.labels["outcome"]
                    snapshot.outcomes[outcome] = snapshot.outcomes.get(outcome, 0.0) + sample.value
        return snapshot
