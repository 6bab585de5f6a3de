"""Lifecycle notifications over real HTTP: subscriptionRemoved, missed and reauthorizationRequired,
on demand from the control API and when they naturally fall due; pauses and expiry."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from simulator import Simulator, SimulatorSection
from simulator.graph.ids import to_graph
from simulator.settings import GraphSection
from tests.simulator.graph.receiver import Receiver, expiry, graph_client, subscribe


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def own() -> Iterator[Simulator]:
    """A simulator of the test's own, whose clock it may advance."""
    settings = SimulatorSection(port=0, poll_s=0.02, graph=GraphSection(delivery_poll_s=0.02))
    with Simulator(settings) as simulator:
        yield simulator


def _events(receiver: Receiver) -> list[str]:
    return [n["lifecycleEvent"] for n in receiver.notifications("/lifecycle")]


def _wait_events(receiver: Receiver, count: int) -> list[str]:
    receiver.wait_for(lambda r: len(_events(r)) >= count, what=f"{count} lifecycle events")
    return _events(receiver)


def _control(sim: Simulator, action: str, **body: object) -> httpx.Response:
    return httpx.post(f"{sim.url}/control/graph/{action}", json=body)


def test_a_removed_subscription_says_so_and_goes_quiet(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    created = subscribe(graph, sim, f"users/{smtp}/messages", receiver).json()
    removed = _control(sim, "remove_subscriptions", ids=[created["id"]])
    assert removed.json() == {"result": [created["id"]]}
    assert _wait_events(receiver, 1) == ["subscriptionRemoved"]
    (notice,) = receiver.notifications("/lifecycle")
    assert notice["subscriptionId"] == created["id"]
    assert notice["clientState"] == "secret-state"
    assert notice["tenantId"] == sim.settings.graph.tenant_id
    assert notice["subscriptionExpirationDateTime"] == created["expirationDateTime"]
    assert "resource" not in notice
    assert graph.get(f"/subscriptions/{created['id']}").status_code == 404
    sim.control.create_item(smtp, "inbox")
    time.sleep(0.3)
    assert receiver.notifications("/notify") == []


def test_losing_access_to_the_mailbox_removes_the_subscription(
    sim: Simulator, smtp: str, receiver: Receiver
) -> None:
    client_id = str(uuid.uuid4())
    sim.graph.auth.register(client_id, secret="s", mailboxes={smtp})
    token = sim.graph.auth.issue_token(client_id)
    with httpx.Client(
        base_url=sim.graph_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as scoped:
        sid = subscribe(scoped, sim, f"users/{smtp}/messages", receiver).json()["id"]
        time.sleep(0.2)
        assert _events(receiver) == []
        sim.graph.auth.register(client_id, mailboxes={"someone.else@sim.example"})
        assert _wait_events(receiver, 1) == ["subscriptionRemoved"]
        assert receiver.notifications("/lifecycle")[0]["subscriptionId"] == sid
        assert scoped.get("/subscriptions").json()["value"] == []


def test_missed_on_demand_leaves_the_subscription_working(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    sid = subscribe(graph, sim, f"users/{smtp}/messages", receiver).json()["id"]
    assert _control(sim, "lifecycle", event="missed", ids=[sid]).json() == {"result": [sid]}
    assert _wait_events(receiver, 1) == ["missed"]
    item = sim.control.create_item(smtp, "inbox")
    receiver.wait_for(lambda r: r.notifications("/notify"))
    assert receiver.notifications("/notify")[0]["resourceData"]["id"] == to_graph(item)
    assert _control(sim, "lifecycle", event="renamed", ids=[sid]).status_code == 400
    assert _control(sim, "lifecycle", event="missed", ids=["nope"]).status_code == 400


def test_without_a_lifecycle_url_nothing_is_sent(
    sim: Simulator, smtp: str, graph: httpx.Client, receiver: Receiver
) -> None:
    sid = subscribe(graph, sim, f"users/{smtp}/messages", receiver, lifecycle=False).json()["id"]
    assert sim.graph.controls["lifecycle"]("reauthorizationRequired", [sid]) == [sid]
    assert sim.graph.controls["remove_subscriptions"]([sid]) == [sid]
    time.sleep(0.3)
    assert [r.path for r in receiver.received] == ["/notify"]  # the handshake only


def test_an_unanswered_challenge_pauses_notifications_until_reauthorized(
    own: Simulator, receiver: Receiver
) -> None:
    smtp = "challenged@sim.example"
    own.control.create_mailbox(smtp)
    with graph_client(own) as graph:
        sid = subscribe(graph, own, f"users/{smtp}/messages", receiver).json()["id"]
        assert own.graph.controls["lifecycle"]("reauthorizationRequired") == [sid]
        assert _wait_events(receiver, 1) == ["reauthorizationRequired"]
        early = own.control.create_item(smtp, "inbox", subject="still flowing")
        receiver.wait_for(lambda r: len(r.notifications("/notify")) == 1)
        own.clock.advance(601)  # the grace time passes without an answer
        time.sleep(0.1)
        assert own.graph.controls["subscriptions"]()[0]["paused"] is True
        own.control.create_item(smtp, "inbox", subject="lost in the pause")
        time.sleep(0.3)
        assert len(receiver.notifications("/notify")) == 1
        assert graph.post(f"/subscriptions/{sid}/reauthorize").status_code == 204
        after = own.control.create_item(smtp, "inbox", subject="flowing again")
        receiver.wait_for(lambda r: len(r.notifications("/notify")) == 2)
        ids = [n["resourceData"]["id"] for n in receiver.notifications("/notify")]
        assert ids == [to_graph(early), to_graph(after)]
        # A renewal answers a challenge too.
        own.graph.controls["lifecycle"]("reauthorizationRequired", [sid])
        _wait_events(receiver, 2)
        own.clock.advance(601)
        renewed = graph.patch(
            f"/subscriptions/{sid}", json={"expirationDateTime": expiry(own, 3000)}
        )
        assert renewed.status_code == 200
        own.control.create_item(smtp, "inbox")
        receiver.wait_for(lambda r: len(r.notifications("/notify")) == 3)


def test_reauthorization_is_required_as_expiry_nears_and_expiry_ends_it(
    own: Simulator, receiver: Receiver
) -> None:
    smtp = "expiring@sim.example"
    own.control.create_mailbox(smtp)
    with graph_client(own) as graph:
        sid = subscribe(graph, own, f"users/{smtp}/messages", receiver, minutes=120).json()["id"]
        time.sleep(0.2)
        assert _events(receiver) == []  # two hours left: no challenge yet
        own.clock.advance(61 * 60)  # 59 minutes left
        assert _wait_events(receiver, 1) == ["reauthorizationRequired"]
        own.clock.advance(15 * 60)  # ...and again every 15 minutes
        assert _wait_events(receiver, 2) == ["reauthorizationRequired"] * 2
        time.sleep(0.2)
        assert len(_events(receiver)) == 2
        own.clock.advance(45 * 60)  # past the expirationDateTime: gone, without a word
        time.sleep(0.2)
        assert graph.get(f"/subscriptions/{sid}").status_code == 404
        assert graph.get("/subscriptions").json()["value"] == []
        own.control.create_item(smtp, "inbox")
        time.sleep(0.3)
        assert receiver.notifications("/notify") == []
        assert len(_events(receiver)) == 2


def test_no_challenge_at_birth_nor_after_a_renewal(own: Simulator, receiver: Receiver) -> None:
    smtp = "renewed@sim.example"
    own.control.create_mailbox(smtp)
    with graph_client(own) as graph:
        sid = subscribe(graph, own, f"users/{smtp}/messages", receiver, minutes=60).json()["id"]
        time.sleep(0.2)
        assert _events(receiver) == []  # within the last hour, but just authorized
        own.clock.advance(16 * 60)
        assert _wait_events(receiver, 1) == ["reauthorizationRequired"]
        renewed = graph.patch(
            f"/subscriptions/{sid}", json={"expirationDateTime": expiry(own, 4000)}
        )
        assert renewed.status_code == 200
        own.clock.advance(20 * 60)
        time.sleep(0.3)
        assert _events(receiver) == ["reauthorizationRequired"]
        own.control.create_item(smtp, "inbox")
        receiver.wait_for(lambda r: len(r.notifications("/notify")) == 1)
