"""End-to-end latency benchmark (not a test): a change in Exchange (the simulator) until it is
visible in the archive's browse API, at 1,000 mailboxes and 100 changes/s.

    .venv/bin/python -m benchmarks.latency_bench                   # 1,000 mailboxes, 100/s, 60 s
    .venv/bin/python -m benchmarks.latency_bench --coalesce 0.5 --kafka localhost:9092
    .venv/bin/python -m benchmarks.latency_bench --processes     # one process per stage

Three processes, as in production: the simulator (``mfr simulator``, its own process, driven
through its control API), the whole pipeline (``mfr run``: listener, extractor, publisher,
archive), and this driver. With ``--processes`` the pipeline is four processes instead, ``mfr
listener``, ``extractor``, ``publisher`` and ``archive`` on one config file, as in a deployment
across machines (on the embedded bus too: it is a file every process on the machine shares).
Each change is a new message in a random mailbox's Inbox, timed from the moment the control call
is made. Every 50 ms the driver reads the new message rows of the
archive's database, which the browse API serves with no cache in between (see ``Watcher``), and
checks one in fifty through the API's search.

The baseline, measured in the same run on the same pipeline, is an unloaded trickle of one change
per second; the report gives the loaded percentiles and their ratio to it. The coalescing window
(``extractor.coalesce_s``) is stated with the results: it is a floor on latency by design.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select

from archive.accounts import add_token, add_user
from archive.store.tables import messages
from pipeline.archive_side import open_archive
from tests.convergence.services import Service
from tests.kafka.broker import free_port

ADMIN, ADMIN_PASSWORD = "bench-admin", "bench-admin-password"
DRAIN_S = 900.0  # after the last change, how long to wait for the rest before calling them lost


@dataclass
class Phase:
    """One measured stretch: changes made, and when each became visible."""

    name: str
    rate: float
    made: list[tuple[str, float]] = field(default_factory=list)  # (mailbox, made at)
    seen: list[float] = field(default_factory=list)  # latency of each visible change, seconds
    lost: list[str] = field(default_factory=list)  # subjects never seen within the drain time

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in seconds."""
        ordered = sorted(self.seen)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


class Simulator:
    """``mfr simulator`` in a child process."""

    def __init__(self, mailboxes: int, messages: int) -> None:
        self.proc = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-c", "from mfr.cli import main; main()", "simulator",
             "--mailboxes", str(mailboxes), "--messages", str(messages), "--seed", "5",
             "--port", "0", "--activity", "0"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None  # noqa: S101 - piped above
        lines = [self.proc.stdout.readline() for _ in range(5)]
        self.endpoint = lines[0].split()[-1]
        self.control = lines[1].split()[-1].rstrip("/")
        self.account = lines[2].split()[2]
        self.password = lines[3].split()[-1]

    def mailboxes(self) -> list[str]:
        """Every mailbox address."""
        found: list[str] = httpx.get(f"{self.control}/mailboxes", timeout=30).json()["result"]
        return found

    def stop(self) -> None:
        """Interrupt it."""
        self.proc.terminate()
        self.proc.wait(timeout=30)


def write_config(work: Path, sim: Simulator, mailboxes: list[str], args: argparse.Namespace,
                 archive_port: int, extractor_port: int) -> Path:
    """The pipeline's config: production defaults except ports, paths, the coalescing window
    and the mailboxes synced at once."""
    kafka = args.kafka
    bus = (f'kafka_bootstrap_servers = "{kafka}"\ntopic_prefix = "lat{os.getpid()}"' if kafka
           else f'embedded_path = "{work / "bus.sqlite3"}"')
    config = work / "mfr.toml"
    config.write_text(f"""
[bus]
{bus}

[exchange]
endpoint = "{sim.endpoint}"
auth = "basic"
service_account = "{sim.account}"
version = "Exchange2016"

[listener]
mailboxes = {json.dumps(mailboxes)}
port = {free_port()}

[extractor]
state_path = "{work / 'extractor.sqlite3'}"
coalesce_s = {args.coalesce}
parallel_mailboxes = {args.parallel}
port = {extractor_port}

[publisher]
health_port = {free_port()}
archive_url = "http://127.0.0.1:{archive_port}"

[archive]
database_url = "sqlite:///{work / 'archive.sqlite3'}"
port = {archive_port}
cookie_secure = false
""")
    return config


def wait_live(extractor_port: int, mailboxes: list[str], timeout_s: float = 1800) -> float:
    """Seconds until the extractor reports every mailbox live (initial syncs done)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            status = httpx.get(f"http://127.0.0.1:{extractor_port}/status", timeout=10).json()
        except (httpx.HTTPError, ValueError):
            status = {}
        live = sum(status.get(m, {}).get("state") == "Live" for m in mailboxes)
        if live == len(mailboxes):
            return time.monotonic() - started
        time.sleep(2)
    raise SystemExit(f"initial sync not done in {timeout_s}s")


class Watcher:
    """Times each change's appearance in the archive, and checks a sample through the API.

    It reads the archive's database (new message rows, by primary key) rather than polling the
    API: the API serves every request straight from that database, and polling it often enough
    to time 100 changes a second would load the very pipeline being measured."""

    def __init__(self, database: Path, archive_url: str) -> None:
        self.engine = create_engine(f"sqlite:///{database}")
        self.client = httpx.Client(base_url=archive_url, timeout=30)
        answer = self.client.post("/api/v1/session",
                                  json={"username": ADMIN, "password": ADMIN_PASSWORD})
        answer.raise_for_status()
        with self.engine.connect() as conn:
            self.last_id = int(conn.execute(select(func.max(messages.c.id))).scalar_one() or 0)
        self.pending: dict[str, tuple[str, float]] = {}  # subject -> (mailbox, made at)
        self.lock = threading.Lock()
        self.checked = 0

    def expect(self, subject: str, mailbox: str, made_at: float) -> None:
        """A change was made."""
        with self.lock:
            self.pending[subject] = (mailbox, made_at)

    def poll(self, phase: Phase) -> None:
        """One look at the archive; records the latency of what became visible."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(messages.c.id, messages.c.subject)
                                .where(messages.c.id > self.last_id)).all()
        now = time.monotonic()
        for row_id, subject in rows:
            self.last_id = max(self.last_id, row_id)
            with self.lock:
                found = self.pending.pop(subject, None)
            if found is not None:
                phase.seen.append(now - found[1])
                if len(phase.seen) % 50 == 1:
                    self._through_the_api(found[0], subject)

    def _through_the_api(self, mailbox: str, subject: str) -> None:
        """The API shows what the database holds (a sample, not timed)."""
        items = self.client.get(f"/api/v1/mailboxes/{mailbox}/search",
                                params={"q": subject}).json()["items"]
        if subject not in [i["subject"] for i in items]:
            raise SystemExit(f"{subject!r} is in the database but not found through the API")
        self.checked += 1

    def outstanding(self) -> int:
        """Changes not visible yet."""
        with self.lock:
            return len(self.pending)

    def give_up(self) -> list[str]:
        """Forget the changes still not visible; their subjects."""
        with self.lock:
            lost, self.pending = sorted(self.pending), {}
        return lost


def run_phase(phase: Phase, seconds: float, sim: Simulator, mailboxes: list[str],
              watcher: Watcher, rng: random.Random) -> None:
    """Make ``phase.rate`` changes a second for ``seconds``, then wait until all are visible."""
    control = httpx.Client(base_url=sim.control, timeout=30,
                           limits=httpx.Limits(max_connections=16))
    stop, give_up_at = threading.Event(), [float("inf")]

    def watch() -> None:
        while not stop.is_set() or (watcher.outstanding() and time.monotonic() < give_up_at[0]):
            watcher.poll(phase)
            time.sleep(0.05)

    def change(number: int, mailbox: str) -> None:
        made_at, subject = time.monotonic(), f"{phase.name} change {number}"
        watcher.expect(subject, mailbox, made_at)
        control.post(f"/mailboxes/{mailbox}/create_item",
                     json={"subject": subject}).raise_for_status()
        phase.made.append((mailbox, made_at))

    watching = threading.Thread(target=watch)
    watching.start()
    started, total = time.monotonic(), int(seconds * phase.rate)
    with ThreadPoolExecutor(max_workers=8) as pool:
        made = []
        for number in range(total):
            time.sleep(max(0.0, started + number / phase.rate - time.monotonic()))
            made.append(pool.submit(change, number, rng.choice(mailboxes)))
        for future in made:
            future.result()  # a control call that failed is the benchmark's error, not a loss
    give_up_at[0] = time.monotonic() + DRAIN_S
    stop.set()
    watching.join()
    phase.lost = watcher.give_up()
    control.close()


def main() -> None:
    """Set up, measure the baseline and the load, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="changes per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the loaded run")
    parser.add_argument("--coalesce", type=float, default=2.0,
                        help="extractor.coalesce_s (the default is 2.0)")
    parser.add_argument("--kafka", default=None, help="bootstrap servers; default: embedded bus")
    parser.add_argument("--parallel", type=int, default=4,
                        help="extractor.parallel_mailboxes (the default is 4)")
    parser.add_argument("--processes", action="store_true",
                        help="one process per stage instead of `mfr run`")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mfr-latency-"))
    sim = Simulator(args.mailboxes, messages=3)
    mailboxes = sim.mailboxes()
    archive_port, extractor_port = free_port(), free_port()
    config = write_config(work, sim, mailboxes, args, archive_port, extractor_port)
    engine = open_archive(f"sqlite:///{work / 'archive.sqlite3'}")
    add_user(engine, ADMIN, ADMIN_PASSWORD, admin=True, mailboxes=[])
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_")}
    env["MFR_EXCHANGE__PASSWORD"] = sim.password
    env["MFR_PUBLISHER__INGEST_TOKEN"] = add_token(engine, "latency-bench")
    engine.dispose()
    stages = ["archive", "publisher", "extractor", "listener"] if args.processes else ["run"]
    pipeline = [Service(stage, [stage, "-c", str(config)], env, work / f"{stage}.log")
                for stage in stages]
    for service in pipeline:
        service.start()
    try:
        print(f"{len(mailboxes)} mailboxes; work in {work}", flush=True)
        took = wait_live(extractor_port, mailboxes)
        print(f"initial sync of every mailbox: {took:.0f}s", flush=True)
        time.sleep(5)  # the last initial-sync states reach the archive
        watcher = Watcher(work / "archive.sqlite3", f"http://127.0.0.1:{archive_port}")
        rng = random.Random(5)  # noqa: S311 - a benchmark's choice of mailboxes
        baseline, loaded = Phase("baseline", 1.0), Phase("loaded", args.rate)
        run_phase(baseline, 20, sim, mailboxes, watcher, rng)
        run_phase(loaded, args.seconds, sim, mailboxes, watcher, rng)
        report(baseline, loaded, args)
        print(f"checked through the browse API: {watcher.checked} of them")
    finally:
        for service in reversed(pipeline):  # upstream first, as data flows
            service.stop()
        sim.stop()


def report(baseline: Phase, loaded: Phase, args: argparse.Namespace) -> None:
    """The percentiles of both phases and their ratios."""
    print(f"\nchange in Exchange -> visible in the archive API; coalescing window "
          f"{args.coalesce:g}s, {args.parallel} mailboxes synced at once, publisher linger 200 ms, "
          f"{'Kafka' if args.kafka else 'embedded bus'}, SQLite archive, "
          f"{'a process per stage' if args.processes else 'mfr run (one process)'}")
    print(f"{'phase':<10}{'changes':>9}{'visible':>9}{'lost':>6}{'p50 s':>8}{'p95 s':>8}"
          f"{'p99 s':>8}{'max s':>8}")
    for phase in (baseline, loaded):
        print(f"{phase.name + ' ' + format(phase.rate, 'g') + '/s':<10}"
              f"{len(phase.made):>9}{len(phase.seen):>9}{len(phase.lost):>6}"
              f"{phase.percentile(50):>8.2f}"
              f"{phase.percentile(95):>8.2f}{phase.percentile(99):>8.2f}"
              f"{max(phase.seen, default=0):>8.2f}")
    for p in (50, 95, 99):
        base = baseline.percentile(p) or 1.0
        print(f"p{p} loaded / baseline: {loaded.percentile(p) / base:.2f}")
    for phase in (baseline, loaded):
        if phase.lost:
            print(f"LOST in {phase.name} (never visible within {DRAIN_S:g}s): "
                  + ", ".join(phase.lost[:20]))


if __name__ == "__main__":
    main()
