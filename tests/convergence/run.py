"""One convergence run: mailboxes in the simulator, the pipeline as separate processes, a random
user acting while faults are injected, then — once the activity stops and the pipeline drains —
the archive compared with the simulator's ground truth, and ``mfr replay`` compared with the
live archive.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from archive.store.engine import open_engine
from archive.store.tables import folder_history, mailbox_status, message_history
from mfr.settings import BusSettings
from simulator import Simulator
from simulator.generator import Generator, populate
from tests.convergence.chaos import Chaos
from tests.convergence.oracle import ArchiveView, Journal, Truth, Verdict, compare
from tests.convergence.services import (
    GRAPH_CLIENT_ID,
    GRAPH_SECRET,
    SERVICE,
    SERVICE_PASSWORD,
    GraphSource,
    Stack,
)
from tests.convergence.user import RandomUser
from tests.kafka.broker import KafkaBroker
from tests.pipeline.snapshot import archive_snapshot
from tests.pipeline.test_replay import mfr_replay


@dataclass(frozen=True)
class Plan:
    """How big a run is."""

    seed: int = 7
    mailboxes: int = 6
    messages: int = 25  # per mailbox, plus ``big_mailbox`` more in the first one
    big_mailbox: int = 300  # long enough an initial sync to kill the extractor in the middle
    actions: int = 300  # at least; the user acts until every fault round is done too
    rate: float = 8.0  # actions per second
    fault_rounds: int = 1  # each round injects every kind of fault once, in a seeded order
    fault_every_s: float = 2.0
    drain_timeout_s: float = 240.0
    quiet_s: float = 4.0
    expire_push: bool = False  # see Chaos.expire_push
    # More than one: a scale-out run (Kafka): the last of each joins during the activity, and
    # the faults are the groups' members killed, stopped and started (see Chaos.scale_out).
    extractors: int = 1
    publishers: int = 1


@dataclass
class Report:
    """What a run did and found."""

    plan: Plan
    bus: str
    actions: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    killed_initial_sync_at: str = ""
    verdict: Verdict = field(default_factory=Verdict)
    drain_s: float = 0.0
    replay_equal: bool | None = None
    replay_output: str = ""
    died: list[str] = field(default_factory=list)
    obituaries: str = ""  # the log tails of those that died
    exit_codes: dict[str, int | None] = field(default_factory=dict)

    def text(self) -> str:
        """The report, as printed."""
        return "\n".join([
            f"convergence on {self.bus}, seed {self.plan.seed}: {self.plan.mailboxes} mailboxes",
            f"actions {sum(self.actions.values())} (skipped {self.skipped}): "
            + ", ".join(f"{k} {n}" for k, n in sorted(self.actions.items())),
            f"faults {sum(self.faults.values())}: "
            + ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items())),
            f"extractor killed in an initial sync: {self.killed_initial_sync_at}",
            f"drained in {self.drain_s:.1f}s",
            self.verdict.summary(),
            f"replay equals the live archive: {self.replay_equal}",
            f"services that died on their own: {self.died or 'none'}; exit codes {self.exit_codes}",
            self.obituaries,
        ]).rstrip()


class Convergence:
    """Sets up, runs and checks one convergence run in ``workdir``."""

    def __init__(self, plan: Plan, sim: Simulator, bus: BusSettings, workdir: Path,
                 broker: KafkaBroker | None = None, api: str = "ews") -> None:
        self.plan, self.sim, self.workdir = plan, sim, workdir
        where = "Kafka" if bus.uses_kafka else "the embedded bus"
        scale_out = plan.extractors > 1 or plan.publishers > 1
        if scale_out:
            where += f" with {plan.extractors} extractors and {plan.publishers} publishers" \
                f" on {bus.partitions} partitions"
        self.report = Report(plan, where + (" through Graph" if api == "graph" else ""))
        sim.add_service_account(SERVICE, SERVICE_PASSWORD, impersonate={"*"})
        graph = None
        if api == "graph":
            assert sim.ca_file is not None, "a Graph run needs a TLS simulator (msal: https only)"
            sim.graph.controls["register_app"](client_id=GRAPH_CLIENT_ID, secret=GRAPH_SECRET)
            graph = GraphSource(sim.graph.auth.tenant_id, sim.authority_url, sim.graph_url,
                                sim.ca_file)
        self.mailboxes = populate(sim.control, plan.mailboxes, plan.messages, plan.seed,
                                  "sim.example", "user-password-1")
        Generator(sim.control, plan.seed + 2).messages(self.mailboxes[0], plan.big_mailbox)
        standby = frozenset({f"extractor {plan.extractors}", f"publisher {plan.publishers}"}
                            if scale_out else ())
        self.stack = Stack(workdir, bus, sim.endpoint_url, self.mailboxes, graph,
                           extractors=plan.extractors, publishers=plan.publishers,
                           standby=standby)
        self.journal = Journal()
        self.user = RandomUser(sim.control, self.mailboxes, plan.seed, self.view, self.journal)
        self.chaos = Chaos(sim, self.stack, broker, random.Random(plan.seed + 3),
                           graph=graph is not None, scale_out=scale_out)

    def view(self) -> ArchiveView:
        """The archive as it is now."""
        return ArchiveView.read(self.stack.engine)

    def verdict(self) -> Verdict:
        """The archive compared with the ground truth, now."""
        truths = [Truth(self.sim.control.ground_truth(m), self.journal) for m in self.mailboxes]
        return compare(truths, self.view())

    def run(self) -> Report:
        """The whole run; the stack is left stopped."""
        try:
            self.stack.start()
            self.report.killed_initial_sync_at = self.chaos.kill_extractor_mid_initial_sync(120)
            self._wait_live()
            self._act_under_faults()
            self.sim.faults.clear()
            self.sim.graph.faults.clear()
            self._drain()
            self._check_replay()
        finally:
            if not self.report.died:
                self.report.died = self.stack.died()
                self.report.obituaries = self.stack.obituaries()
            self.stack.kill_all()
        return self.report

    def _wait_live(self, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.stack.extractor_status()
            if all(status.get(m, {}).get("state") == "Live" for m in self.mailboxes):
                return
            time.sleep(0.5)
        raise AssertionError(f"initial sync not done in {timeout_s}s: "
                             f"{self.stack.extractor_status()}")

    def _act_under_faults(self) -> None:
        injecting = threading.Thread(target=self._inject, name="chaos")
        injecting.start()
        try:
            pause = 1.0 / self.plan.rate
            while self.user.actions < self.plan.actions or injecting.is_alive():
                if not self.user.step():
                    self.report.skipped += 1
                time.sleep(pause)
        finally:
            injecting.join()
        self.report.actions = self.user.done
        self.report.faults = self.chaos.done

    def _inject(self) -> None:
        for kind in self.chaos.schedule(self.plan.fault_rounds):
            time.sleep(self.plan.fault_every_s)
            self.chaos.apply(kind)

    def _drain(self) -> None:
        """Wait until the archive equals the truth and nothing more arrives (or time is up)."""
        started = time.monotonic()
        deadline = started + self.plan.drain_timeout_s
        while time.monotonic() < deadline:
            assert not self.stack.died(), (
                f"died: {self.stack.died()}\n{self.stack.obituaries()}")
            if self.verdict().equal and self._quiet():
                break
            time.sleep(1.0)
        self.report.verdict = self.verdict()
        self.report.drain_s = time.monotonic() - started
        if not self.report.verdict.equal:  # for whoever investigates
            truths = {m: self.sim.control.ground_truth(m) for m in self.mailboxes}
            (self.workdir / "truth.json").write_text(json.dumps(truths, indent=1))

    def _progress(self) -> tuple[int, ...]:
        with self.stack.engine.connect() as conn:
            return tuple(int(conn.execute(query).scalar_one() or 0) for query in (
                select(func.count()).select_from(message_history),
                select(func.count()).select_from(folder_history),
                select(func.max(mailbox_status.c.updated_time)),
            ))

    def _quiet(self) -> bool:
        """Whether the archive took nothing new for ``quiet_s``."""
        before = self._progress()
        time.sleep(self.plan.quiet_s)
        return self._progress() == before

    def _check_replay(self) -> None:
        """Stop the sources, let the publisher finish, then replay into a new database."""
        services = self.stack.services
        sources = ["listener", "push listener", *self.stack.members("extractor")]
        codes = {name: services[name].stop() for name in sources if name in services}
        while not self._quiet():
            pass
        for name in self.stack.members("publisher"):
            codes[name] = services[name].stop()
        codes["archive"] = services["archive"].stop()
        self.report.exit_codes = codes
        live = archive_snapshot(self.stack.engine)
        target = self.workdir / "replayed.sqlite3"
        done = mfr_replay(self.stack.config, target)
        self.report.replay_output = done.stdout + done.stderr[-2000:]
        if done.returncode != 0:
            self.report.replay_equal = False
            return
        replayed = open_engine(f"sqlite:///{target}")
        try:
            self.report.replay_equal = archive_snapshot(replayed) == live
        finally:
            replayed.dispose()
