"""Streaming mode when things go wrong in Exchange: killed connections, expired subscriptions, a
mailbox moved to another back-end, throttling. Nothing is lost: every affected mailbox gets its
events or a resync (handling-notification-related-errors-in-ews-in-exchange.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mfr.settings import BusSettings
from simulator import Simulator
from tests.listener.conftest import SERVICE, Make, new_mailboxes
from tests.listener.harness import Changes, Harness, wait_for


def _streaming(sim: Simulator, count: int | None = None) -> None:
    """Wait until every live subscription is read over a connection."""
    def ready() -> bool:
        subs = sim.control.subscriptions()
        return (count is None or len(subs) == count) and all(s["connections"] for s in subs)

    wait_for(ready, 30, "every subscription on a connection")


def _covered(changes: Changes, mailbox: str, item_id: str, since: datetime) -> bool:
    """The change made at ``since`` reached the bus as an event, or a resync came after it."""
    events = changes.of(mailbox)
    return any(e["id"] == item_id for e in events) or any(
        e["event_type"] == "Resync" and e["received_time"] >= since for e in events)


def _later_changes_arrive(sim: Simulator, harness: Harness, mailboxes: list[str]) -> None:
    items = {m: sim.control.create_item(m, subject="after recovery") for m in mailboxes}
    harness.changes.until(lambda e: {x["id"] for x in e} >= set(items.values()), 60,
                          "changes after recovery")


def _sub_ids(sim: Simulator) -> dict[str, str]:
    return {s["mailbox"]: s["id"] for s in sim.control.subscriptions()}


def test_killed_connections_lose_no_change(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """Cutting the streaming connections: changes made around the cut arrive as events or are
    covered by a resync of their mailbox; the connections come back and carry later changes."""
    mailboxes = new_mailboxes(sim, 24)
    harness = make_listener(embedded_bus, mailboxes=mailboxes)
    _streaming(sim, 24)
    since = sim.clock.now()
    sim.faults.drop_streams(3)
    items = {m: sim.control.create_item(m, subject="around the cut") for m in mailboxes}
    changes = harness.changes
    changes.until(lambda e: all(_covered(changes, m, i, since) for m, i in items.items()), 60,
                  "every change or a resync")
    assert any(e["reason"] == "streaming connection lost" for e in changes.events)
    assert "dropped" in harness.get("/metrics").text
    _streaming(sim, 24)
    _later_changes_arrive(sim, harness, mailboxes)


def test_expired_subscriptions_are_replaced_and_resynced(
    sim: Simulator, make_listener: Make, any_bus: BusSettings
) -> None:
    """ErrorSubscriptionNotFound for some subscriptions: those mailboxes are subscribed again and
    resynced (after the new subscription exists), the others carry on undisturbed."""
    mailboxes = new_mailboxes(sim, 12)
    harness = make_listener(any_bus, mailboxes=mailboxes)
    _streaming(sim, 12)
    before = _sub_ids(sim)
    expired = mailboxes[:4]
    since = sim.clock.now()
    sim.control.expire_subscriptions([before[m] for m in expired])
    items = {m: sim.control.create_item(m, subject="meanwhile") for m in mailboxes}
    changes = harness.changes
    changes.until(lambda e: all(_covered(changes, m, i, since) for m, i in items.items()), 60,
                  "every change or a resync")
    for mailbox in expired:
        [resync] = [e for e in changes.of(mailbox, "Resync") if e["received_time"] >= since]
        assert resync["reason"] == "ErrorSubscriptionNotFound"
    assert not [e for m in mailboxes[4:] for e in changes.of(m, "Resync")
                if e["received_time"] >= since]
    after = _sub_ids(sim)
    assert all(after[m] != before[m] for m in expired)
    _streaming(sim, 12)
    _later_changes_arrive(sim, harness, mailboxes)


def test_a_mailbox_moved_to_another_backend_follows_it(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """A mailbox moved to another back-end (its subscription ends, as Exchange's move does) is
    subscribed again, lands in that back-end's group, is resynced and streams from there."""
    [mover] = new_mailboxes(sim, 1, backend="MBX01")
    stay = new_mailboxes(sim, 3, backend="MBX02")
    harness = make_listener(embedded_bus, mailboxes=[mover, *stay])
    _streaming(sim, 4)
    status: dict[str, Any] = harness.get("/status").json()["mailboxes"]
    assert status[mover]["group"].startswith("MBX01")
    old = _sub_ids(sim)[mover]
    with sim.store.lock:  # the simulator has no move operation yet: move it by hand
        sim.store.require(mover).backend = "MBX02"
    since = sim.clock.now()
    sim.control.expire_subscriptions([old])
    changes = harness.changes
    changes.until(lambda e: any(x["mailbox"] == mover and x["event_type"] == "Resync"
                                and x["received_time"] >= since for x in e), 30, "resync")
    status = harness.get("/status").json()["mailboxes"]
    assert status[mover]["group"] == status[stay[0]]["group"]
    assert [s["backend"] for s in sim.control.subscriptions() if s["mailbox"] == mover] == ["MBX02"]
    sim.clock.advance(61)  # ConnectionTimeout: the group's next connection carries the mover
    _streaming(sim, 4)
    _later_changes_arrive(sim, harness, [mover, *stay])


def test_server_busy_back_off_is_honoured(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """After ErrorServerBusy with BackOffMilliseconds, no request of the service account reaches
    the server before the back-off has elapsed, for Subscribe and for GetStreamingEvents alike
    (ews-throttling-in-exchange.md); the simulator's request log is the witness."""
    mailboxes = new_mailboxes(sim, 8)
    sim.faults.throttle(next_n=1, back_off_ms=1500, operations=["Subscribe"])
    harness = make_listener(embedded_bus, mailboxes=mailboxes, subscribe_concurrency=1)
    _streaming(sim, 8)
    _assert_quiet_after_busy(sim, "Subscribe", 1.5)
    sim.request_log.clear()
    sim.faults.throttle(next_n=1, back_off_ms=1200, operations=["GetStreamingEvents"])
    sim.clock.advance(61)  # connections close at ConnectionTimeout and are opened again
    wait_for(lambda: any(e.result == "ErrorServerBusy" for e in sim.request_log.entries()), 20,
             "a throttled GetStreamingEvents")
    _streaming(sim, 8)
    _assert_quiet_after_busy(sim, "GetStreamingEvents", 1.2)
    assert 'mfr_listener_throttled_total{code="ErrorServerBusy"}' in harness.get("/metrics").text
    _later_changes_arrive(sim, harness, mailboxes)


def _assert_quiet_after_busy(sim: Simulator, operation: str, back_off_s: float) -> None:
    mine = [e for e in sim.request_log.entries() if e.account == SERVICE]
    [busy] = [e for e in mine if e.result == "ErrorServerBusy"]
    assert busy.operation == operation
    answered = busy.at + busy.duration_s
    # Requests already on their way when the busy answer left are not the client's choice.
    later = [e.at for e in mine if e.at > answered + 0.05]
    assert later, "requests went on after the back-off"
    assert min(later) >= answered + back_off_s - 0.01
