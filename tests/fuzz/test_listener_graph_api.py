"""The listener's Graph webhooks (Graph mode, against the TLS simulator) fuzzed with
schemathesis: random validation tokens and notification collections, genuine subscription ids
among them, over a real socket: no request gets a 5xx."""

from __future__ import annotations

from listener.app import create_app
from mfr.settings import BusSettings
from simulator import Simulator
from tests.fuzz.fuzzing import fuzz
from tests.fuzz.listener_schema import listener_document
from tests.listener.graph.conftest import (  # noqa: F401 - fixtures
    Make,
    embedded_bus,
    make_listener,
    new_mailboxes,
    sim,
    tls_dir,
)

EXAMPLES = 10


def test_fuzzing_the_graph_webhooks_finds_no_server_error(
    sim: Simulator,  # noqa: F811 - the fixture imported above
    make_listener: Make,  # noqa: F811
    embedded_bus: BusSettings,  # noqa: F811
) -> None:
    """POST /graph/notifications and /graph/lifecycle with random bodies and tokens: 0 answers
    5xx (a wrong body is 400/413/415, a forged notification 202, as Graph expects)."""
    harness = make_listener(embedded_bus, new_mailboxes(sim, 1))
    genuine = [(s["id"], s["clientState"]) for s in sim.graph.controls["subscriptions"]()]
    assert genuine
    document = listener_document(create_app(harness.listener), genuine)
    document["paths"] = {p: v for p, v in document["paths"].items() if p.startswith("/graph/")}
    report = fuzz(document, harness.url, examples=EXAMPLES)
    print(f"graph fuzz: {report.requests} requests, statuses {sorted(report.statuses.items())}")
    assert report.findings == [], "\n".join(report.findings)
    assert 202 in report.statuses
