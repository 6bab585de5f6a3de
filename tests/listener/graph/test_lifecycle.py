"""Graph's lifecycle notifications, renewal and restarts: reauthorizationRequired is answered,
subscriptionRemoved and expiry lead to a new subscription and a resync, missed to a resync;
subscriptions are renewed before they expire (on the simulator's clock, advanced); a restarted
listener replaces its own stale subscriptions and resyncs every mailbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from listener.graphsubscriber import graph_time
from mfr.graph import GraphClient
from mfr.settings import BusSettings
from simulator import Simulator
from tests.graph.simulated import graph_settings
from tests.kafka.broker import free_port
from tests.listener.graph.conftest import Make, close_client, new_mailboxes
from tests.listener.harness import wait_for
from tests.simulator.graph.receiver import Receiver


def _subscription(sim: Simulator, mailbox: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        s for s in sim.graph.controls["subscriptions"]() if s["mailbox"] == mailbox
    ]
    [one] = found
    return one


def test_reauthorization_required_is_answered(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """The challenge is answered with /reauthorize; nothing is written for it."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = make_listener(embedded_bus, [mailbox])
    sub = _subscription(sim, mailbox)
    sim.graph.controls["lifecycle"](event="reauthorizationRequired", ids=[sub["id"]])
    wait_for(
        lambda: bool(sim.request_log.entries(operation="graph.subscription.reauthorize")),
        20,
        "reauthorize called",
    )
    wait_for(lambda: not _subscription(sim, mailbox)["challengeOpen"], 10, "challenge answered")
    assert _subscription(sim, mailbox)["id"] == sub["id"]
    metrics = harness.get("/metrics").text
    assert 'mfr_listener_lifecycle_events_total{event="reauthorizationRequired"} 1.0' in metrics
    assert 'mfr_listener_subscriptions_renewed_total{how="reauthorize"} 1.0' in metrics
    assert len(harness.changes.read()) == 1  # the start resync only


def test_missed_resyncs_the_mailbox(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """``missed``: a Resync of that mailbox, source Webhook, naming the subscription."""
    mailboxes = new_mailboxes(sim, 2)
    harness = make_listener(embedded_bus, mailboxes)
    sub = _subscription(sim, mailboxes[1])
    sim.graph.controls["lifecycle"](event="missed", ids=[sub["id"]])
    events = harness.changes.until(lambda e: any(x["reason"] == "missed" for x in e), 20, "resync")
    [missed] = [e for e in events if e["reason"] == "missed"]
    assert (
        missed["mailbox"],
        missed["event_type"],
        missed["target"],
        missed["source"],
        missed["subscription_id"],
    ) == (mailboxes[1], "Resync", "Mailbox", "Webhook", sub["id"])
    delivered = [d for d in sim.graph.controls["deliveries"]() if d["kind"] == "lifecycle"]
    assert [d["status"] for d in delivered] == [202]


def test_a_removed_subscription_is_recreated_then_the_mailbox_resynced(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """``subscriptionRemoved``: a new subscription, then a Resync; changes flow on the new one,
    and the old one's id is no longer accepted."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = make_listener(embedded_bus, [mailbox])
    old = _subscription(sim, mailbox)
    sim.graph.controls["remove_subscriptions"]([old["id"]])
    events = harness.changes.until(
        lambda e: any(x["reason"] == "subscriptionRemoved" for x in e), 20, "resync"
    )
    new = _subscription(sim, mailbox)
    assert new["id"] != old["id"]
    assert new["clientState"] != old["clientState"]
    [resync] = [e for e in events if e["reason"] == "subscriptionRemoved"]
    assert (resync["event_type"], resync["source"]) == ("Resync", "Webhook")
    item = sim.control.create_item(mailbox, "inbox", subject="after")
    immutable = sim.graph.controls["message_ids"](mailbox, item)["immutableId"]
    events = harness.changes.until(lambda e: any(x["id"] == immutable for x in e), 20, "change")
    assert [e["subscription_id"] for e in events if e["id"] == immutable] == [new["id"]]
    status = harness.get("/status").json()["mailboxes"][mailbox]
    assert status["subscription_id"] == new["id"]
    assert 'recreated_total{reason="subscriptionRemoved"} 1.0' in harness.get("/metrics").text


def test_subscriptions_are_renewed_before_they_expire(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """Less than renew_before_min left: PATCH expirationDateTime; the same subscription lives
    past its first expiry and still delivers."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = make_listener(
        embedded_bus, [mailbox], graph={"subscription_minutes": 10, "renew_before_min": 5}
    )
    first = _subscription(sim, mailbox)
    sim.clock.advance(6 * 60)
    wait_for(
        lambda: _subscription(sim, mailbox)["expirationDateTime"] != first["expirationDateTime"],
        20,
        "renewed",
    )
    sim.clock.advance(5 * 60)  # past the first expiry
    again = _subscription(sim, mailbox)
    assert again["id"] == first["id"]
    assert str(again["expirationDateTime"]) > str(first["expirationDateTime"])
    item = sim.control.create_item(mailbox, "inbox", subject="still subscribed")
    immutable = sim.graph.controls["message_ids"](mailbox, item)["immutableId"]
    harness.changes.until(lambda e: any(x["id"] == immutable for x in e), 20, "delivered")
    assert [e["reason"] for e in harness.changes.events if e["event_type"] == "Resync"] == [
        "listener started"
    ]
    assert 'mfr_listener_subscriptions_renewed_total{how="renew"}' in harness.get("/metrics").text


def test_an_expired_subscription_is_created_anew_and_resynced(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """The listener could not renew in time (here: the clock jumped past the expiry): a new
    subscription, and a Resync, since changes meanwhile were never notified."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = make_listener(
        embedded_bus, [mailbox], graph={"subscription_minutes": 10, "renew_before_min": 1}
    )
    first = _subscription(sim, mailbox)
    sim.clock.advance(11 * 60)
    events = harness.changes.until(
        lambda e: any(x["reason"] == "subscription expired" for x in e), 20, "resync"
    )
    assert _subscription(sim, mailbox)["id"] != first["id"]
    assert [e["source"] for e in events if e["reason"] == "subscription expired"] == ["Sync"]


def test_a_restart_replaces_its_own_stale_subscriptions_and_resyncs(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """Subscriptions left by the last run (same notification URL) are deleted and made anew,
    every mailbox resynced; another deployment's subscription (another URL) is left alone."""
    mailboxes = new_mailboxes(sim, 3)
    port = free_port()
    first = make_listener(embedded_bus, mailboxes, port=port)
    before = {s["id"] for s in sim.graph.controls["subscriptions"]()}
    first.stop()
    other = GraphClient(graph_settings(sim))
    with Receiver() as receiver:
        foreign = other.call(
            "POST",
            "subscriptions",
            mailbox=mailboxes[0],
            doing="d",
            json={
                "changeType": "created",
                "notificationUrl": receiver.url("/notify"),
                "resource": f"users/{mailboxes[0]}/messages",
                "clientState": "theirs",
                "expirationDateTime": graph_time(sim.clock.now() + timedelta(minutes=60)),
            },
        ).json()["id"]
        close_client(other)
        second = make_listener(embedded_bus, mailboxes, port=port)
        live = sim.graph.controls["subscriptions"]()
        mine = [s for s in live if s["notificationUrl"] == second.url + "/graph/notifications"]
        assert sorted(s["mailbox"] for s in mine) == mailboxes
        assert not before & {s["id"] for s in mine}
        assert foreign in {s["id"] for s in live}
        assert len(sim.request_log.entries(operation="graph.subscription.delete")) == 3
    events = second.changes.until(lambda e: len(e) >= 6, 20, "two rounds of resyncs")
    assert [e["reason"] for e in events] == ["listener started"] * 6


@pytest.mark.parametrize("event", ["missed", "reauthorizationRequired"])
def test_a_lifecycle_notification_for_another_subscription_is_dropped(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings, event: str
) -> None:
    """Lifecycle notifications are checked like changes: a subscription of someone else (the
    same application, another URL) delivering to us by mistake is not acted on."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = make_listener(embedded_bus, [mailbox])
    body = (
        b'{"value":[{"subscriptionId":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07",'
        b'"clientState":"x","lifecycleEvent":"' + event.encode() + b'"}]}'
    )
    assert harness.post("/graph/lifecycle", body).status_code == 202
    assert not sim.request_log.entries(operation="graph.subscription.reauthorize")
    assert len(harness.changes.read()) == 1
