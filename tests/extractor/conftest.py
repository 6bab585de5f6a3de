"""Fixtures for the extractor's integration tests: a real simulator over HTTP, validating every
response against Microsoft's schema, and the service account the extractor impersonates with."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from mfr.ews import EwsConnection, ExchangeSettings, RetryPolicy
from simulator import Simulator, SimulatorSection

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ews-schema"
SERVICE, PASSWORD = "svc-extractor@sim.example", "extractor-pw"
_names = itertools.count(1)


@pytest.fixture(scope="session")
def sim() -> Iterator[Simulator]:
    """One simulator for the extractor's tests."""
    settings = SimulatorSection(port=0, validate_responses=True, schema_dir=SCHEMA_DIR)
    with Simulator(settings) as simulator:
        simulator.add_service_account(SERVICE, PASSWORD, impersonate={"*"})
        yield simulator
    assert simulator.validator is not None
    assert simulator.validator.failures == []


@pytest.fixture
def smtp(sim: Simulator) -> str:
    """A fresh mailbox of the test's own."""
    address = f"extract{next(_names)}@sim.example"
    sim.control.create_mailbox(address)
    return address


@pytest.fixture
def connection(sim: Simulator) -> EwsConnection:
    """The extractor's EWS access, as production builds it, pointed at the simulator."""
    settings = ExchangeSettings(
        endpoint=sim.endpoint_url,  # type: ignore[arg-type]
        auth="basic",
        service_account=SERVICE,
        password=PASSWORD,  # type: ignore[arg-type]
        version="Exchange2016",
    )
    return EwsConnection(settings, policy=RetryPolicy(attempts=3, first_wait_s=0.01))
