"""End-to-end latency benchmark (not a test): a change in Exchange (the simulator) until it is
visible in the archive's browse API, at 1,000 mailboxes and 100 changes/s, through EWS, Microsoft
Graph, or both side by side.

    .venv/bin/python -m benchmarks.latency_bench                   # 1,000 mailboxes, 100/s, 60 s
    .venv/bin/python -m benchmarks.latency_bench --coalesce 0.5 --kafka localhost:9092
    .venv/bin/python -m benchmarks.latency_bench --processes     # one process per stage
    .venv/bin/python -m benchmarks.latency_bench --api both --mailboxes 100 --rate 20 --seconds 30

Three processes, as in production: the simulator (``mfr simulator``, its own process, driven
through its control API), the whole pipeline (``mfr run``: listener, extractor, publisher,
archive), and this driver. With ``--processes`` the pipeline is four processes instead, ``mfr
listener``, ``extractor``, ``publisher`` and ``archive`` on one config file, as in a deployment
across machines (on the embedded bus too: it is a file every process on the machine shares).
Each change is a new message in a random mailbox's Inbox, timed from the moment the control call
is made. Every 50 ms the driver reads the new message rows of the
archive's database, which the browse API serves with no cache in between (see ``Watcher``), and
checks one in fifty through the API's search.

``--api graph`` reads Exchange as Exchange Online does it (Graph webhooks and delta queries), which
needs the simulator over TLS (msal talks only https). ``--api both`` runs two complete pipelines,
one through EWS and one through Graph, against the same simulator and the same mailboxes, so
both see exactly the same changes at the same moments on the same machine: comparing two
separate runs would compare two machines' moods as much as two APIs. Each pipeline has its own
watcher on its own archive, and a change counts for a pipeline when it is in that pipeline's
archive. The EWS pipeline then reads over TLS too (it is one simulator), which costs it a little
next to the plain-HTTP default. Two pipelines share two cores, so under load each gets about half
the machine a lone pipeline would: the loaded rows of a ``both`` run are not comparable with a
one-pipeline run's, only with each other. For Graph, the listener's time to acknowledge a webhook
(the number Graph's 3-second budget is about) under load comes from its own ``/metrics``
histogram, the difference between the start and the end of the loaded phase.

The baseline, measured in the same run on the same pipeline, is an unloaded trickle of one change
per second; the report gives the loaded percentiles and their ratio to it, and with ``both`` the
ratio of Graph to EWS unloaded. The coalescing window (``extractor.coalesce_s``) is stated with
the results: it is a floor on latency by design.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select

from archive.store.tables import messages
from benchmarks.latency_stack import (
    ACK_HISTOGRAM,
    ADMIN,
    ADMIN_PASSWORD,
    AckSnapshot,
    Pipeline,
    Simulator,
    cpu_seconds,
)

DRAIN_S = 900.0  # after the last change, how long to wait for the rest before calling them lost


@dataclass
class Phase:
    """One measured stretch of one pipeline: changes made, and when each became visible."""

    pipeline: str
    name: str
    rate: float
    made: list[tuple[str, float]] = field(default_factory=list)  # (mailbox, made at)
    seen: list[float] = field(default_factory=list)  # latency of each visible change, seconds
    lost: list[str] = field(default_factory=list)  # subjects never seen within the drain time
    wall_s: float = 0.0  # from the first change until the last was visible (or given up)
    cpu_s: dict[str, float] = field(default_factory=dict)  # per stage (and simulator), the phase's
    cycles: float = 0.0  # the extractor's sync cycles over the phase

    @property
    def drained_per_s(self) -> float:
        """Changes made visible per second over the phase, backlog included."""
        return len(self.seen) / self.wall_s if self.wall_s else 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in seconds."""
        ordered = sorted(self.seen)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


class Watcher:
    """Times each change's appearance in the archive, and checks a sample through the API.

    It reads the archive's database (new message rows, by primary key) rather than polling the
    API: the API serves every request straight from that database, and polling it often enough
    to time 100 changes a second would load the very pipeline being measured."""

    def __init__(self, database: Path, archive_url: str) -> None:
        self.engine = create_engine(f"sqlite:///{database}")
        self.client = httpx.Client(base_url=archive_url, timeout=30)
        answer = self.client.post(
            "/api/v1/session", json={"username": ADMIN, "password": ADMIN_PASSWORD}
        )
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
            rows = conn.execute(
                select(messages.c.id, messages.c.subject).where(messages.c.id > self.last_id)
            ).all()
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
        items = self.client.get(
            f"/api/v1/mailboxes/{mailbox}/search", params={"q": subject}
        ).json()["items"]
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


def run_phase(
    watched: list[tuple[Watcher, Phase]],
    seconds: float,
    sim: Simulator,
    mailboxes: list[str],
    rng: random.Random,
    broken: Callable[[], list[str]],
) -> None:
    """Make the phases' rate of changes a second for ``seconds``, then wait until every pipeline
    shows all of them (or ``DRAIN_S`` passed, or a pipeline process died)."""
    rate = watched[0][1].rate
    control = httpx.Client(
        base_url=sim.control,
        timeout=30,
        verify=sim.verify(),
        limits=httpx.Limits(max_connections=16),
    )
    stop, give_up_at = threading.Event(), [float("inf")]

    def outstanding() -> bool:
        return any(w.outstanding() for w, _ in watched) and not broken()

    def watch() -> None:
        while not stop.is_set() or (outstanding() and time.monotonic() < give_up_at[0]):
            for watcher, phase in watched:
                watcher.poll(phase)
            time.sleep(0.05)

    def change(number: int, mailbox: str) -> None:
        made_at, subject = time.monotonic(), f"{watched[0][1].name} change {number}"
        for watcher, _ in watched:
            watcher.expect(subject, mailbox, made_at)
        control.post(
            f"/mailboxes/{mailbox}/create_item", json={"subject": subject}
        ).raise_for_status()
        for _, phase in watched:
            phase.made.append((mailbox, made_at))

    watching = threading.Thread(target=watch)
    watching.start()
    started, total = time.monotonic(), int(seconds * rate)
    with ThreadPoolExecutor(max_workers=8) as pool:
        made = []
        for number in range(total):
            time.sleep(max(0.0, started + number / rate - time.monotonic()))
            made.append(pool.submit(change, number, rng.choice(mailboxes)))
        for future in made:
            future.result()  # a control call that failed is the benchmark's error, not a loss
    give_up_at[0] = time.monotonic() + DRAIN_S
    stop.set()
    watching.join()
    for watcher, phase in watched:
        phase.lost = watcher.give_up()
        phase.wall_s = time.monotonic() - started
    control.close()


def main() -> None:
    """Set up, measure the baseline and the load, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="changes per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the loaded run")
    parser.add_argument(
        "--coalesce", type=float, default=2.0, help="extractor.coalesce_s (the default is 2.0)"
    )
    parser.add_argument("--kafka", default=None, help="bootstrap servers; default: embedded bus")
    parser.add_argument(
        "--parallel", type=int, default=4, help="extractor.parallel_mailboxes (the default is 4)"
    )
    parser.add_argument(
        "--processes", action="store_true", help="one process per stage instead of `mfr run`"
    )
    parser.add_argument(
        "--api",
        choices=("ews", "graph", "both"),
        default="ews",
        help="how the pipeline reads Exchange; both: two pipelines side by side",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mfr-latency-"))
    apis = ["ews", "graph"] if args.api == "both" else [args.api]
    sim = Simulator(args.mailboxes, 3, tls=args.api != "ews", log=work / "simulator.log")
    pipelines: list[Pipeline] = []
    try:
        mailboxes = sim.mailboxes()
        pipelines = [Pipeline(api, work, sim, mailboxes, args) for api in apis]
        for pipeline in pipelines:
            pipeline.start()
        print(f"{len(mailboxes)} mailboxes; work in {work}", flush=True)
        for pipeline in pipelines:
            took = pipeline.wait_live(mailboxes)
            print(f"{pipeline.name}: initial sync of every mailbox: {took:.0f}s", flush=True)
        time.sleep(5)  # the last initial-sync states reach the archive
        watchers = [Watcher(p.database, p.archive_url) for p in pipelines]
        rng = random.Random(5)  # noqa: S311 - a benchmark's choice of mailboxes
        baseline = [Phase(p.name, "baseline", 1.0) for p in pipelines]
        loaded = [Phase(p.name, "loaded", args.rate) for p in pipelines]

        def broken() -> list[str]:
            return [name for p in pipelines for name in p.died()]

        def cpu() -> list[dict[str, float]]:
            return [{**p.cpu_seconds(), "simulator": cpu_seconds(sim.proc.pid)}
                    for p in pipelines]

        graph = next((p for p in pipelines if p.api == "graph"), None)
        before: AckSnapshot | None = None
        for phases, seconds in ((baseline, 20.0), (loaded, args.seconds)):
            if phases is loaded and graph is not None:
                before = graph.ack_histogram()
            was, cycles = cpu(), [p.cycles() for p in pipelines]
            run_phase(list(zip(watchers, phases, strict=True)), seconds, sim, mailboxes, rng,
                      broken)
            for phase, then, now in zip(phases, was, cpu(), strict=True):
                phase.cpu_s = {stage: now[stage] - then[stage] for stage in now}
            for phase, pipeline, then_cycles in zip(phases, pipelines, cycles, strict=True):
                phase.cycles = pipeline.cycles() - then_cycles
        acks = graph.ack_histogram().since(before) if graph and before else None
        report(baseline, loaded, acks, args)
        print(f"checked through the browse API: {sum(w.checked for w in watchers)} of them")
        if broken():
            print(f"DIED during the run: {', '.join(broken())} (logs in {work})")
    finally:
        for pipeline in pipelines:
            pipeline.stop()
        sim.stop()


def _row(phase: Phase) -> str:
    return (
        f"{phase.pipeline:<9}{phase.name + ' ' + format(phase.rate, 'g') + '/s':<14}"
        f"{len(phase.made):>8}{len(phase.seen):>8}{len(phase.lost):>6}"
        f"{phase.percentile(50):>8.2f}{phase.percentile(95):>8.2f}"
        f"{phase.percentile(99):>8.2f}{max(phase.seen, default=0):>8.2f}"
    )


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if math.isinf(seconds):
        return "beyond the histogram's last finite bucket"
    return f"{1000 * seconds:.1f} ms"


def report(
    baseline: list[Phase], loaded: list[Phase], acks: AckSnapshot | None, args: argparse.Namespace
) -> None:
    """The percentiles of every pipeline's phases and their ratios."""
    tls = ", simulator over TLS" if args.api != "ews" else ""
    print(
        f"\nchange in Exchange -> visible in the archive API; coalescing window "
        f"{args.coalesce:g}s, {args.parallel} mailboxes synced at once, publisher linger 200 ms, "
        f"{'Kafka' if args.kafka else 'embedded bus'}, SQLite archive, "
        f"{'a process per stage' if args.processes else 'mfr run (one process)'} "
        f"per pipeline{tls}"
    )
    print(
        f"{'pipeline':<9}{'phase':<14}{'changes':>8}{'visible':>8}{'lost':>6}{'p50 s':>8}"
        f"{'p95 s':>8}{'p99 s':>8}{'max s':>8}"
    )
    for base, load in zip(baseline, loaded, strict=True):
        print(_row(base))
        print(_row(load))
    for phase in (*baseline, *loaded):
        changes = max(len(phase.seen), 1)
        stages = {k: v for k, v in phase.cpu_s.items() if k != "simulator"}
        print(f"{phase.pipeline} {phase.name}: {phase.drained_per_s:.1f} changes/s made visible "
              f"over {phase.wall_s:.0f} s; CPU ms per change: "
              + ", ".join(f"{k} {1000 * v / changes:.1f}" for k, v in stages.items())
              + f"; pipeline total {1000 * sum(stages.values()) / changes:.1f}"
              + f" (simulator {1000 * phase.cpu_s.get('simulator', 0.0) / changes:.1f}); "
              f"pipeline CPU / wall {sum(stages.values()) / (phase.wall_s or 1.0):.2f} cores")
        if phase.cycles:
            print(f"{phase.pipeline} {phase.name}: {phase.cycles:.0f} sync cycles, "
                  f"{len(phase.seen) / phase.cycles:.2f} changes per cycle; CPU ms per cycle: "
                  + ", ".join(f"{k} {1000 * v / phase.cycles:.1f}" for k, v in stages.items())
                  + f"; pipeline total {1000 * sum(stages.values()) / phase.cycles:.1f}")
    for base, load in zip(baseline, loaded, strict=True):
        print(
            f"{base.pipeline} loaded / baseline: "
            + ", ".join(
                f"p{p} {load.percentile(p) / (base.percentile(p) or 1.0):.2f}" for p in (50, 95, 99)
            )
        )
    if len(baseline) == 2:
        ews, graph = baseline
        print(
            "unloaded Graph / EWS: "
            + ", ".join(
                f"p{p} {graph.percentile(p) / (ews.percentile(p) or 1.0):.2f}" for p in (50, 95, 99)
            )
        )
    if acks is not None:
        counts = ", ".join(f"{o} {n:g}" for o, n in sorted(acks.outcomes.items()) if n)
        print(
            f"Graph listener, webhook acknowledgement time in the loaded phase (an ESTIMATE "
            f"from the buckets of {ACK_HISTOGRAM}): p50 {_ms(acks.quantile(0.50))}, "
            f"p99 {_ms(acks.quantile(0.99))}; POSTs: {counts or 'none'}"
        )
    for phase in (*baseline, *loaded):
        if phase.lost:
            print(
                f"LOST by {phase.pipeline} in {phase.name} (never visible within {DRAIN_S:g}s "
                f"or before a process died): " + ", ".join(phase.lost[:20])
            )


if __name__ == "__main__":
    main()
