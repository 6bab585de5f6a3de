"""Fixtures for the listener's tests: a simulator of the test's own over real HTTP (so faults,
clock jumps and limits never leak between tests), the bus (embedded and real Kafka), and a
listener wired as ``mfr listener`` wires it, serving its app with uvicorn in a thread."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from listener.settings import ListenerSection, ListenerSettings, PushSection, StreamingSection
from mfr.ews import ExchangeSettings, RetryPolicy
from mfr.settings import BusSettings
from simulator import Simulator, SimulatorSection
from tests.kafka.broker import free_port
from tests.listener.harness import Harness

SERVICE, PASSWORD = "svc-listener@sim.example", "listener-pw"
_names = itertools.count(1)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A simulator of the test's own: quick keep-alives and push retries."""
    settings = SimulatorSection(port=0, keepalive_s=0.3, poll_s=0.02, push_retry_initial_s=0.3)
    with Simulator(settings) as simulator:
        simulator.add_service_account(SERVICE, PASSWORD, impersonate={"*"})
        yield simulator


def new_mailboxes(sim: Simulator, count: int, backend: str | None = None) -> list[str]:
    """Create ``count`` fresh mailboxes (spread over back-ends unless one is named)."""
    run = next(_names)
    made = [f"u{run}x{i:04d}@sim.example" for i in range(count)]
    for address in made:
        sim.control.create_mailbox(address, backend=backend)
    return made


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def any_bus(request: pytest.FixtureRequest, tmp_path: Path) -> BusSettings:
    """The embedded bus, then a real Kafka broker."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    if request.param == "embedded":
        return BusSettings(embedded_path=tmp_path / "bus.sqlite3", topic_prefix=prefix)
    return BusSettings(kafka_bootstrap_servers=request.getfixturevalue("kafka_bootstrap"),
                       topic_prefix=prefix, partitions=3, session_timeout_s=6)


@pytest.fixture
def embedded_bus(tmp_path: Path) -> BusSettings:
    """The embedded bus alone (for tests whose subject is not the bus)."""
    return BusSettings(embedded_path=tmp_path / "bus.sqlite3",
                       topic_prefix=f"t{uuid.uuid4().hex[:10]}")


def exchange_settings(sim: Simulator) -> ExchangeSettings:
    """The listener's service account on the simulator."""
    return ExchangeSettings(
        endpoint=sim.endpoint_url,  # type: ignore[arg-type]
        auth="basic",
        service_account=SERVICE,
        password=PASSWORD,  # type: ignore[arg-type]
        version="Exchange2016",
        max_concurrent_requests=8,
    )


Make = Callable[..., Harness]


@pytest.fixture
def make_listener(sim: Simulator) -> Iterator[Make]:
    """Build and start listeners; all are stopped at the end of the test."""
    made: list[Harness] = []

    def make(bus: BusSettings, *, clock: Callable[[], float] | None = None,
             expand: Callable[[str], list[Any]] | None = None, start: bool = True,
             **section: Any) -> Harness:
        section.setdefault("resubscribe_after_s", 0.5)
        streaming = {"silence_timeout_s": 5.0, "retry_after_s": 0.2, "connection_timeout_min": 1,
                     **section.pop("streaming", {})}
        push = dict(section.pop("push", {}))
        port = free_port()
        if section.get("mode") == "push":
            push.setdefault("callback_base_url", f"http://127.0.0.1:{port}/push")
        settings = ListenerSettings(
            exchange=exchange_settings(sim),
            bus=bus,
            listener=ListenerSection(streaming=StreamingSection(**streaming),
                                     push=PushSection(**push), port=port, **section),
        )
        harness = Harness(settings, sim, clock=clock, expand=expand,
                          policy=RetryPolicy(attempts=4, first_wait_s=0.05, max_wait_s=0.5))
        made.append(harness)
        if start:
            harness.start()
        return harness

    yield make
    for harness in made:
        harness.stop()
