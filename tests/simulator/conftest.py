"""Fixtures for the simulator's tests: one simulator for the session, served over real HTTP with
every response checked against Microsoft's messages.xsd, and exchangelib accounts pointed at it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, Version
from exchangelib.version import EXCHANGE_2016

from simulator import Simulator, SimulatorSection

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "shared" / "reference" / "ews-schema"
_names = itertools.count(1)


def schema_dir() -> Path:
    """Where messages.xsd is (the project's ../shared/reference); missing is an error, not a
    skip."""
    if not (SCHEMA_DIR / "messages.xsd").is_file():
        raise RuntimeError(f"Microsoft's EWS schema is not at {SCHEMA_DIR}")
    return SCHEMA_DIR


@pytest.fixture(scope="session")
def sim() -> Iterator[Simulator]:
    """The session's simulator, validating every response body against messages.xsd."""
    settings = SimulatorSection(
        port=0,
        validate_responses=True,
        schema_dir=schema_dir(),
        keepalive_s=0.5,
        poll_s=0.02,
        push_retry_initial_s=0.3,
    )
    with Simulator(settings) as simulator:
        yield simulator
    assert simulator.validator is not None
    assert simulator.validator.failures == []


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults armed by one test never leak into the next; nor do invalid responses go unnoticed."""
    yield
    if "sim" in request.fixturenames:
        simulator: Simulator = request.getfixturevalue("sim")
        simulator.faults.clear()
        assert simulator.validator is not None
        failures = list(simulator.validator.failures)
        simulator.validator.failures.clear()
        assert failures == [], failures


@pytest.fixture
def smtp(sim: Simulator) -> str:
    """A fresh, empty mailbox of the test's own."""
    address = f"user{next(_names)}@sim.example"
    sim.control.create_mailbox(address, password="pw-" + address)
    return address


def new_smtp(sim: Simulator, **kwargs: str) -> str:
    """Create another fresh mailbox."""
    address = f"user{next(_names)}@sim.example"
    sim.control.create_mailbox(address, password="pw-" + address, **kwargs)
    return address


AccountFactory = Callable[..., Account]


@pytest.fixture
def account(sim: Simulator) -> AccountFactory:
    """Make exchangelib Accounts impersonating mailboxes through a service account of the test's
    own: exchangelib pools HTTP sessions (and their cookies, X-BackEndOverrideCookie included) per
    credentials, so a shared login would carry one test's affinity into the next."""
    service = f"svc{next(_names)}@sim.example"
    sim.add_service_account(service, "svc-pw", impersonate={"*"})

    default_version = Version(EXCHANGE_2016)

    def make(
        address: str,
        *,
        user: str | None = None,
        password: str | None = None,
        version: Version | str | None = "default",
    ) -> Account:
        config = Configuration(
            service_endpoint=sim.endpoint_url,
            credentials=Credentials(user or service, password or "svc-pw"),
            auth_type=BASIC,
            # exchangelib's default pool is one HTTP session per login: a hanging streaming
            # connection would block every other request of the same login.
            max_connections=4,
            version=default_version if version == "default" else version,
        )
        return Account(address, config=config, autodiscover=False, access_type=IMPERSONATION)

    return make
