"""The listener's HTTP API (push mode, against the simulator) fuzzed from its OpenAPI document
with schemathesis over a real socket: no request gets a 5xx."""

from __future__ import annotations

from listener.app import create_app
from mfr.settings import BusSettings
from simulator import Simulator
from tests.fuzz.fuzzing import fuzz
from tests.fuzz.listener_schema import listener_document
from tests.listener.conftest import (  # noqa: F401 - fixtures
    Make,
    embedded_bus,
    make_listener,
    new_mailboxes,
    sim,
)

EXAMPLES = 8


def test_fuzzing_the_push_listener_finds_no_server_error(
    sim: Simulator,  # noqa: F811 - the fixture imported above
    make_listener: Make,  # noqa: F811
    embedded_bus: BusSettings,  # noqa: F811
) -> None:
    """Health, readiness, metrics, status and the push callback (random tokens, random SOAP
    bodies): 0 answers 5xx."""
    mailboxes = new_mailboxes(sim, 2)
    harness = make_listener(embedded_bus, mode="push", mailboxes=mailboxes)
    document = listener_document(create_app(harness.listener))
    report = fuzz(document, harness.url, examples=EXAMPLES)
    print(f"listener fuzz: {report.requests} requests, statuses {sorted(report.statuses.items())}")
    assert report.findings == [], "\n".join(report.findings)
    assert report.requests > 50
