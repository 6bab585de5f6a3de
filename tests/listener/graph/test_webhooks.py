"""Graph mode end to end: the listener subscribes each mailbox (Graph's validation handshake
against the real app on loopback), a change in the simulator becomes its ChangeEvent on the bus
before Graph gets its 2xx, forged notifications are counted and never written, and the folder
tree gets its periodic Poll events."""

from __future__ import annotations

import json
from typing import Any

from mfr.settings import BusSettings
from simulator import Simulator
from tests.listener.graph.conftest import Make, new_mailboxes


def _delivered(sim: Simulator) -> list[dict[str, Any]]:
    return [d for d in sim.graph.controls["deliveries"]() if d["kind"] == "change"]


def test_each_mailbox_is_subscribed_after_the_handshake_and_resynced(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """One subscription per mailbox on its messages, created, updated and deleted, immutable
    ids, both URLs the listener's, a secret clientState each; every mailbox resynced once."""
    mailboxes = new_mailboxes(sim, 3)
    harness = make_listener(embedded_bus, mailboxes)
    subscriptions = sim.graph.controls["subscriptions"]()
    assert sorted(s["mailbox"] for s in subscriptions) == mailboxes
    for sub in subscriptions:
        assert sub["resource"] == f"users/{sub['mailbox']}/messages"
        assert sub["changeType"] == "created,updated,deleted"
        assert sub["immutableIds"] is True
        assert sub["notificationUrl"] == harness.url + "/graph/notifications"
        assert sub["lifecycleNotificationUrl"] == harness.url + "/graph/lifecycle"
        assert len(sub["clientState"]) >= 43
    assert len({s["clientState"] for s in subscriptions}) == 3
    handshakes = [d for d in sim.graph.controls["deliveries"]() if d["kind"] == "validation"]
    assert len(handshakes) == 6
    assert all(h["outcome"] == "validated" for h in handshakes)
    events = harness.changes.until(lambda e: len(e) >= 3, 20, "the resyncs")
    assert sorted(e["mailbox"] for e in events) == mailboxes
    assert {(e["event_type"], e["target"], e["source"], e["reason"]) for e in events} == {
        ("Resync", "Mailbox", "Sync", "listener started")
    }
    status = harness.get("/status").json()
    assert status["mode"] == "graph"
    ids = {s["mailbox"]: s["id"] for s in subscriptions}
    for mailbox in mailboxes:
        assert status["mailboxes"][mailbox]["subscribed"] is True
        assert status["mailboxes"][mailbox]["subscription_id"] == ids[mailbox]
    ready = harness.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert "mfr_listener_subscriptions 3.0" in harness.get("/metrics").text


def test_changes_become_events_on_the_bus_before_graph_is_answered(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """Created, Modified and Deleted of the message's immutable id, exactly the convention's
    shape; each delivery answered 202 after its events were stored."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = make_listener(embedded_bus, [mailbox])
    [sub] = sim.graph.controls["subscriptions"]()
    item = sim.control.create_item(mailbox, "inbox", subject="hello")
    immutable = sim.graph.controls["message_ids"](mailbox, item)["immutableId"]
    harness.changes.until(lambda e: any(x["event_type"] == "Created" for x in e), 20, "Created")
    sim.control.update_item(mailbox, item, is_read=True)
    harness.changes.until(lambda e: any(x["event_type"] == "Modified" for x in e), 20, "Modified")
    moved = sim.control.move_item(mailbox, item, "archive")
    sim.control.delete_item(mailbox, moved, delete_type="HardDelete")
    harness.changes.until(lambda e: any(x["event_type"] == "Deleted" for x in e), 20, "Deleted")
    changes = [e for e in harness.changes.events if e["target"] == "Item"]
    for event in changes:
        assert event["id"] == immutable  # the same id across the move
        assert event["mailbox"] == mailbox
        assert event["subscription_id"] == sub["id"]
        assert event["source"] == "Webhook"
        assert event["parent_folder_id"] is None
        assert event["change_key"] is None
        assert event["event_time"] is None
        assert event["watermark"] is None
        assert event["previous_watermark"] is None
        assert event["reason"] is None
    assert changes[0]["event_type"] == "Created"
    assert {"Created", "Modified", "Deleted"} <= {e["event_type"] for e in changes}
    delivered = _delivered(sim)
    assert delivered
    assert all(d["status"] == 202 for d in delivered)
    metrics = harness.get("/metrics").text
    assert 'mfr_listener_notifications_total{kind="change"}' in metrics
    assert 'mfr_listener_webhook_ack_seconds_count{outcome="accepted"}' in metrics
    assert harness.get("/status").json()["mailboxes"][mailbox]["last_event"]


def _body(subscription_id: str, client_state: str | None, **extra: Any) -> bytes:
    note: dict[str, Any] = {
        "subscriptionId": subscription_id,
        "changeType": "created",
        "resource": "Users/x/Messages/AAMk",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "id": "AAMkforged"},
        "tenantId": "t",
        **extra,
    }
    if client_state is not None:
        note["clientState"] = client_state
    return json.dumps({"value": [note]}).encode()


def test_forged_notifications_are_counted_and_never_written(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """A wrong clientState, none, or an unknown subscription: 202 (a forger learns nothing),
    counted by reason, nothing on the bus; the genuine flow goes on."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = make_listener(embedded_bus, [mailbox])
    [sub] = sim.graph.controls["subscriptions"]()
    harness.changes.until(lambda e: len(e) == 1, 20, "the start resync")
    forgeries = [
        _body(sub["id"], "guessed-state"),
        _body(sub["id"], None),
        _body("7f105c7d-2dc5-4530-97cd-4e7ae6534c07", sub["clientState"]),
        _body(sub["id"], "guessed", lifecycleEvent="missed"),
    ]
    for body in forgeries:
        for path in ("/graph/notifications", "/graph/lifecycle"):
            assert harness.post(path, body).status_code == 202
    metrics = harness.get("/metrics").text
    assert 'mfr_listener_notifications_dropped_total{reason="client state mismatch"} 4.0' in metrics
    assert 'mfr_listener_notifications_dropped_total{reason="no client state"} 2.0' in metrics
    assert 'mfr_listener_notifications_dropped_total{reason="unknown subscription"} 2.0' in metrics
    item = sim.control.create_item(mailbox, "inbox", subject="genuine")
    immutable = sim.graph.controls["message_ids"](mailbox, item)["immutableId"]
    events = harness.changes.until(lambda e: any(x["id"] == immutable for x in e), 20, "genuine")
    assert [e for e in events if e["id"] == "AAMkforged"] == []
    assert len(events) == 2  # the start resync and the genuine change


def test_the_folder_tree_is_checked_on_a_timer_spread_over_the_interval(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """Each mailbox gets a Poll folder event every hierarchy_interval_s, the mailboxes' checks
    spread over the interval rather than all at once."""
    mailboxes = new_mailboxes(sim, 4)
    harness = make_listener(embedded_bus, mailboxes, graph={"hierarchy_interval_s": 1.0})
    events = harness.changes.until(
        lambda e: all(
            len([x for x in e if x["mailbox"] == m and x["source"] == "Poll"]) >= 2
            for m in mailboxes
        ),
        30,
        "two checks per mailbox",
    )
    polls = [e for e in events if e["source"] == "Poll"]
    for event in polls:
        assert (event["event_type"], event["target"], event["id"]) == ("Modified", "Folder", None)
        assert event["reason"] == "hierarchy check"
        assert event["subscription_id"] is None
    first: dict[str, Any] = {}
    for event in polls:
        first.setdefault(event["mailbox"], event["received_time"])
    spread = (max(first.values()) - min(first.values())).total_seconds()
    assert spread >= 0.4, first  # 4 mailboxes over 1 s, not all at once
    assert "mfr_listener_hierarchy_checks_total" in harness.get("/metrics").text
