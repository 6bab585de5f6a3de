"""Fixtures for the extractor's Graph mode: one simulator over real TLS (Graph needs HTTPS and a
token authority; msal gets app-only tokens from the simulator's), a ``GraphClient`` as production
builds it, and a fresh mailbox per test. The simulator serves EWS over the same TLS for the shadow
check, through the same service account as the EWS tests."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfr.graph import GraphClient
from mfr.retry import RetryPolicy
from simulator import Simulator, SimulatorSection
from tests.extractor.conftest import PASSWORD, SERVICE
from tests.graph.simulated import graph_settings

_names = itertools.count(1)
FAST = RetryPolicy(attempts=6, first_wait_s=0.01, max_wait_s=0.2)


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """The Graph tests' simulator (it replaces the EWS tests' one in this folder)."""
    tls: Path = tmp_path_factory.mktemp("graph-tls")
    with Simulator(SimulatorSection(port=0, tls=True, tls_dir=tls)) as simulator:
        simulator.add_service_account(SERVICE, PASSWORD, impersonate={"*"})
        yield simulator


@pytest.fixture(scope="session")
def client(sim: Simulator) -> Iterator[GraphClient]:
    """One client for every Graph test (as one per process in production)."""
    made = GraphClient(graph_settings(sim), policy=FAST)
    yield made
    made.close()


@pytest.fixture
def smtp(sim: Simulator) -> str:
    """A fresh mailbox of the test's own."""
    address = f"graphx{next(_names)}@sim.example"
    sim.control.create_mailbox(address)
    return address
