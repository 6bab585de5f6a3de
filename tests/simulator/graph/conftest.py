"""Fixtures for the Graph face's tests: one simulator for the package (EWS responses checked
against messages.xsd, every Graph JSON body the tests receive checked against the v1.0 CSDL),
tokens, and HTTP clients pointed at ``/v1.0``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from simulator import Simulator, SimulatorSection
from simulator.settings import GraphSection
from tests.simulator.conftest import schema_dir
from tests.simulator.graph.csdl import check_body

# Delivery timings shrunk so retries and slow-endpoint rules play out in a test's seconds.
FAST_GRAPH = GraphSection(
    validation_timeout_s=2.0,
    ack_timeout_s=1.0,
    slow_threshold_s=0.9,
    retry_initial_s=0.3,
    retry_window_s=30.0,
)


@pytest.fixture(scope="package")
def sim() -> Iterator[Simulator]:
    """The package's simulator, serving EWS and Graph over real HTTP."""
    settings = SimulatorSection(
        port=0,
        validate_responses=True,
        schema_dir=schema_dir(),
        keepalive_s=0.5,
        poll_s=0.02,
        push_retry_initial_s=0.3,
        graph=FAST_GRAPH,
    )
    with Simulator(settings) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def _clean_graph_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Graph faults armed by one test never leak into the next."""
    yield
    if "sim" in request.fixturenames:
        simulator: Simulator = request.getfixturevalue("sim")
        simulator.graph.faults.clear()


def check_response(response: httpx.Response) -> None:
    """An httpx response hook: every JSON body a test receives goes through the CSDL check."""
    if "json" in response.headers.get("content-type", ""):
        response.read()
        check_body(response.json())


@pytest.fixture
def token(sim: Simulator) -> str:
    """An access token of the simulator's registered application (Mail.Read, every mailbox)."""
    return sim.graph.auth.issue_token(sim.settings.graph.client_id)


@pytest.fixture
def graph(sim: Simulator, token: str) -> Iterator[httpx.Client]:
    """A raw HTTP client on Graph's version root, authenticated, every JSON body checked."""
    with httpx.Client(
        base_url=sim.graph_url,
        headers={"Authorization": f"Bearer {token}"},
        event_hooks={"response": [check_response]},
        timeout=30,
    ) as client:
        yield client
