"""The shadow test (issue 12): one simulated Exchange, replicated once through EWS and once
through Graph by two complete pipelines; both archives equal the ground truth and each other."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from mfr.settings import BusSettings
from simulator import Simulator, SimulatorSection
from simulator.generator import populate
from tests.convergence.oracle import ArchiveView, Journal, Truth, compare
from tests.convergence.services import (
    GRAPH_CLIENT_ID,
    GRAPH_SECRET,
    SERVICE,
    SERVICE_PASSWORD,
    GraphSource,
    Stack,
)
from tests.convergence.shadow import differences, seen_by_both
from tests.convergence.user import RandomUser

SEED, MAILBOXES, MESSAGES, ACTIONS, RATE = 5, 4, 20, 120, 6.0


def _bus(workdir: Path) -> BusSettings:
    return BusSettings(embedded_path=workdir / "bus.sqlite3", session_timeout_s=2.0,
                       topic_prefix=f"sh{uuid.uuid4().hex[:8]}")


def _wait_live(stack: Stack, mailboxes: list[str], timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = stack.extractor_status()
        if all(status.get(m, {}).get("state") == "Live" for m in mailboxes):
            return
        time.sleep(0.5)
    raise AssertionError(f"initial sync not done: {stack.extractor_status()}")


@pytest.mark.timeout(600)
def test_ews_and_graph_replicate_the_same_mailboxes_alike(tmp_path: Path) -> None:
    section = SimulatorSection(port=0, tls=True, tls_dir=tmp_path / "tls", keepalive_s=0.5,
                               poll_s=0.05, push_retry_initial_s=1.0)
    with Simulator(section) as sim:
        assert sim.ca_file is not None
        sim.add_service_account(SERVICE, SERVICE_PASSWORD, impersonate={"*"})
        sim.graph.controls["register_app"](client_id=GRAPH_CLIENT_ID, secret=GRAPH_SECRET)
        mailboxes = populate(sim.control, MAILBOXES, MESSAGES, SEED, "sim.example", "pw-1")
        (tmp_path / "ews").mkdir()
        (tmp_path / "graph").mkdir()
        ews = Stack(tmp_path / "ews", _bus(tmp_path / "ews"), sim.endpoint_url, mailboxes,
                    ca_file=sim.ca_file)
        graph = Stack(tmp_path / "graph", _bus(tmp_path / "graph"), sim.endpoint_url, mailboxes,
                      GraphSource(sim.graph.auth.tenant_id, sim.authority_url, sim.graph_url,
                                  sim.ca_file))
        stacks = {"EWS": ews, "Graph": graph}
        journal = Journal()
        try:
            for stack in stacks.values():
                stack.start()
            for stack in stacks.values():
                _wait_live(stack, mailboxes)

            def views() -> tuple[ArchiveView, ArchiveView]:
                return ArchiveView.read(ews.engine), ArchiveView.read(graph.engine)

            user = RandomUser(sim.control, mailboxes, SEED, lambda: seen_by_both(*views()),
                              journal)
            while user.actions < ACTIONS:
                user.step()
                time.sleep(1.0 / RATE)
            deadline = time.monotonic() + 180.0
            while time.monotonic() < deadline:
                truths = [Truth(sim.control.ground_truth(m), journal) for m in mailboxes]
                verdicts = {name: compare(truths, ArchiveView.read(s.engine))
                            for name, s in stacks.items()}
                if all(v.equal for v in verdicts.values()) and not differences(*views()):
                    break
                time.sleep(2.0)
            for name, stack in stacks.items():
                assert not stack.died(), f"{name}: {stack.died()}\n{stack.obituaries()}"
        finally:
            for stack in stacks.values():
                stack.kill_all()
        print(f"shadow: {MAILBOXES} mailboxes, actions {sum(user.done.values())}: "
              + ", ".join(f"{k} {n}" for k, n in sorted(user.done.items())))
        for name, verdict in verdicts.items():
            print(f"through {name}: {verdict.summary()}")
            assert verdict.equal, f"through {name}: {verdict.summary()}"
        found = differences(*views())
        print(f"EWS archive and Graph archive differ in {len(found)} ways")
        assert not found, "\n".join(found)
