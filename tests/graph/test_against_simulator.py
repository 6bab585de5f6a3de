"""``mfr.graph`` against the simulator's Graph face over real TLS: msal gets app-only tokens
from the simulator's authority (a secret and a certificate), the client reads and pages through
deltas, honours Retry-After, and reports a refused mailbox with its cause instead of retrying."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mfr.graph import GraphClient, GraphSettings
from mfr.graph.errors import GraphAccessDeniedError, GraphSyncResetError
from mfr.retry import RetryPolicy
from simulator import Simulator, SimulatorSection
from tests.graph.simulated import graph_settings


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    tls = tmp_path_factory.mktemp("tls")
    with Simulator(SimulatorSection(port=0, tls=True, tls_dir=tls)) as simulator:
        simulator.control.create_mailbox("ann@sim.example")
        simulator.control.create_mailbox("bob@sim.example")
        for n in range(25):
            simulator.control.create_item("ann@sim.example", "inbox", subject=f"Hello {n}")
        yield simulator


def settings(sim: Simulator, **credential: object) -> GraphSettings:
    return graph_settings(sim, **credential)


def test_a_secret_gets_tokens_and_deltas_page_to_a_delta_link(sim: Simulator) -> None:
    client = GraphClient(settings(sim))
    try:
        inbox = client.get_json(
            "users/ann@sim.example/mailFolders/inbox", mailbox="ann@sim.example", doing="d"
        )
        pages = list(
            client.pages(
                f"users/ann@sim.example/mailFolders/{inbox['id']}/messages/delta",
                mailbox="ann@sim.example",
                doing="delta",
                params={"$select": "subject"},
                headers={"Prefer": 'odata.maxpagesize=10, IdType="ImmutableId"'},
            )
        )
    finally:
        client.close()
    assert len(pages) == 3
    assert sum(len(p["value"]) for p in pages) == 25
    assert "@odata.deltaLink" in pages[-1]
    assert len(sim.request_log.entries(operation="graph.token")) >= 1


def test_a_certificate_gets_tokens(sim: Simulator, tmp_path: Path) -> None:
    made = sim.graph.controls["register_app"](client_id="cert-app", new_certificate=True)
    pem = tmp_path / "app.pem"
    pem.write_text(made["private_key_pem"] + made["certificate_pem"])
    client = GraphClient(
        settings(sim, client_id="cert-app", client_secret=None, certificate_path=pem)
    )
    try:
        user = client.get_json("users/bob@sim.example", mailbox="bob@sim.example", doing="d")
    finally:
        client.close()
    assert user["userPrincipalName"] == "bob@sim.example"


def test_retry_after_is_honoured(sim: Simulator) -> None:
    sim.graph.faults.throttle(next_n=1, retry_after_s=1)
    client = GraphClient(settings(sim))
    try:
        client.get_json("users/bob@sim.example", mailbox="bob@sim.example", doing="d")
    finally:
        client.close()
    entries = sim.request_log.entries(operation="graph.user.get", mailbox="bob@sim.example")
    throttled, passed = entries[-2], entries[-1]
    assert throttled.status == 429
    assert passed.status == 200
    assert passed.at - throttled.at >= 1.0


def test_a_mailbox_outside_the_policy_is_refused_with_its_cause(sim: Simulator) -> None:
    sim.graph.controls["register_app"](
        client_id="scoped-app", secret="scoped-secret", mailboxes=["ann@sim.example"]
    )
    client = GraphClient(
        settings(sim, client_id="scoped-app", client_secret="scoped-secret"),
        policy=RetryPolicy(attempts=3, first_wait_s=0.01, max_wait_s=0.01),
    )
    try:
        with pytest.raises(GraphAccessDeniedError, match="Access to OData is disabled"):
            client.get_json("users/bob@sim.example", mailbox="bob@sim.example", doing="d")
    finally:
        client.close()
    refused = sim.request_log.entries(operation="graph.user.get", mailbox="bob@sim.example")
    assert [e.status for e in refused].count(403) == 1


def test_an_expired_delta_token_means_start_over(sim: Simulator) -> None:
    client = GraphClient(settings(sim))
    try:
        pages = list(
            client.pages(
                "users/ann@sim.example/mailFolders/inbox/messages/delta",
                mailbox="ann@sim.example",
                doing="delta",
            )
        )
        sim.graph.controls["expire_delta_tokens"](smtp="ann@sim.example")
        with pytest.raises(GraphSyncResetError):
            client.get_json(pages[-1]["@odata.deltaLink"], mailbox="ann@sim.example", doing="d")
    finally:
        client.close()


def test_a_wrong_secret_is_reported_not_retried(sim: Simulator) -> None:
    client = GraphClient(settings(sim, client_secret="wrong"))
    try:
        with pytest.raises(GraphAccessDeniedError, match="AADSTS7000215"):
            client.get_json("users/ann@sim.example", mailbox="ann@sim.example", doing="d")
    finally:
        client.close()
