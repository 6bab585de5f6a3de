"""Push mode against the simulator's SendNotification deliveries over real HTTP: acknowledged only
once on the bus, unknown paths unsubscribed, lost deliveries recovered (sendnotification.md,
subscriptionstatus.md, statusfrequency.md)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest

from listener import subscriber
from listener.affinity import PushSubscribe
from mfr.settings import BusSettings
from simulator import Simulator
from tests.kafka.broker import KafkaBroker
from tests.listener.conftest import Make, new_mailboxes
from tests.listener.harness import Harness, wait_for

PUSH = {"status_frequency_min": 1, "ack_timeout_s": 1.5, "check_every_s": 0.1}


def push_listener(make_listener: Make, bus: BusSettings, mailboxes: list[str],
                  **extra: object) -> Harness:
    configured = [] if "distribution_groups" in extra else mailboxes
    harness = make_listener(bus, mode="push", mailboxes=configured, push=PUSH,
                            bus_flush_timeout_s=3.0, **extra)
    harness.changes.until(lambda e: len(e) >= len(mailboxes), 30, "initial resyncs")
    return harness


def _deliveries(sim: Simulator, subscription_id: str) -> list[str]:
    return [d.outcome for d in sim.push.deliveries if d.subscription_id == subscription_id]


@contextmanager
def embedded_bus_down(path: Path) -> Iterator[None]:
    """Another process's exclusive lock on the embedded bus file: nothing can be stored."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@contextmanager
def kafka_down(broker: KafkaBroker) -> Iterator[None]:
    """The broker stopped, then started again on the same port."""
    broker.stop()
    try:
        yield
    finally:
        broker.restart()


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def bus_and_outage(request: pytest.FixtureRequest, tmp_path: Path
                   ) -> tuple[BusSettings, Callable[[], AbstractContextManager[None]]]:
    """A bus of the test's own, and a way to take it down for a while."""
    if request.param == "embedded":
        path = tmp_path / "bus.sqlite3"
        return BusSettings(embedded_path=path), lambda: embedded_bus_down(path)
    broker: KafkaBroker = request.getfixturevalue("own_kafka")
    settings = BusSettings(kafka_bootstrap_servers=broker.bootstrap, partitions=1,
                           session_timeout_s=6)
    return settings, lambda: kafka_down(broker)


def test_no_ok_until_the_events_are_on_the_bus(
    sim: Simulator, make_listener: Make,
    bus_and_outage: tuple[BusSettings, Callable[[], AbstractContextManager[None]]],
) -> None:
    """With the bus down a notification is refused (Exchange retries it); once the bus is back
    the retry is stored and only then answered OK."""
    bus, outage = bus_and_outage
    [mailbox] = new_mailboxes(sim, 1)
    harness = push_listener(make_listener, bus, [mailbox])
    [subscription] = sim.control.subscriptions()
    with outage():
        item_id = sim.control.create_item(mailbox, subject="while the bus is down")
        wait_for(lambda: _deliveries(sim, subscription["id"]).count("failed") >= 2, 30,
                 "two refused deliveries")
        assert "OK" not in _deliveries(sim, subscription["id"])
    harness.changes.until(lambda e: any(x["id"] == item_id for x in e), 90, "the retried event")
    wait_for(lambda: "OK" in _deliveries(sim, subscription["id"]), 30, "an OK")
    created = [e for e in harness.changes.of(mailbox, "Created") if e["id"] == item_id]
    assert {(e["source"], e["subscription_id"]) for e in created} == {("Push", subscription["id"])}
    assert 'outcome="bus unavailable"' in harness.get("/metrics").text


def test_an_unknown_callback_path_is_answered_unsubscribe(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """A push to a path the listener never issued (or revoked) ends that subscription; a
    mailbox that leaves the selection is unsubscribed the same way."""
    left, stays = new_mailboxes(sim, 2)
    members = {left, stays}
    harness = push_listener(make_listener, embedded_bus, sorted(members),
                            distribution_groups=["team@sim.example"],
                            expand=lambda group: [_member(m) for m in sorted(members)])
    path = harness.listener.mode.callback_path(stays)  # type: ignore[union-attr]
    assert path is not None
    body = _status_notification("not-a-subscription-of-ours")
    answer = httpx.post(f"{harness.url}/push/{'x' * 43}", content=body, timeout=10)
    assert answer.status_code == 200
    assert b"<m:SubscriptionStatus>Unsubscribe</m:SubscriptionStatus>" in answer.content
    members.discard(left)
    assert harness.listener.refresh() == (set(), {left})
    sim.control.create_item(left, subject="after leaving")
    wait_for(lambda: {s["mailbox"] for s in sim.control.subscriptions()} == {stays}, 30,
             "the leaver's subscription ended by Unsubscribe")
    assert "Unsubscribe" in [d.outcome for d in sim.push.deliveries]


def _member(address: str) -> object:
    from exchangelib.properties import Mailbox  # noqa: PLC0415

    return Mailbox(email_address=address, mailbox_type="Mailbox")


def _status_notification(subscription_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"'
        ' xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        "<soap:Body><m:SendNotification><m:ResponseMessages>"
        '<m:SendNotificationResponseMessage ResponseClass="Success">'
        "<m:ResponseCode>NoError</m:ResponseCode><m:Notification>"
        f"<t:SubscriptionId>{subscription_id}</t:SubscriptionId>"
        "<t:PreviousWatermark>AAAA</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>"
        "<t:StatusEvent><t:Watermark>AAAB</t:Watermark></t:StatusEvent>"
        "</m:Notification></m:SendNotificationResponseMessage>"
        "</m:ResponseMessages></m:SendNotification></soap:Body></soap:Envelope>"
    ).encode()


def test_a_delivery_lost_once_is_delivered_again(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """Exchange retries a lost delivery; the event reaches the bus."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = push_listener(make_listener, embedded_bus, [mailbox])
    sim.faults.lose_push(2)
    item_id = sim.control.create_item(mailbox, subject="lost twice")
    harness.changes.until(lambda e: any(x["id"] == item_id for x in e), 30, "the event")


def _advance_until(sim: Simulator, condition: Callable[[], bool], what: str) -> None:
    """Advance the simulator's clock (the listener shares it) until ``condition`` holds."""
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, what
        sim.clock.advance(5)
        time.sleep(0.05)


@pytest.mark.parametrize("watermark_expired", [False, True])
def test_a_subscription_exchange_gave_up_on_is_renewed(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings, watermark_expired: bool
) -> None:
    """When every delivery failed and Exchange ended the subscription, the listener notices the
    missing StatusEvents (twice StatusFrequency) and subscribes again from its last watermark,
    so the missed event is replayed; if the watermark is past the 30-day window, it subscribes
    afresh and resyncs the mailbox (watermark.md)."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = push_listener(make_listener, embedded_bus, [mailbox], clock=sim.clock.monotonic)
    [first] = sim.control.subscriptions()
    sim.faults.lose_push(9)  # the first delivery and its eight retries (30 s doubling to 60 s)
    item_id = sim.control.create_item(mailbox, subject="never delivered")
    _advance_until(sim, lambda: "gave up" in _deliveries(sim, first["id"]),
                   "Exchange gives up the subscription")
    if watermark_expired:
        sim.clock.advance(31 * 24 * 3600)
        sim.control.create_item(mailbox, subject="a month later")
    _advance_until(sim, lambda: [s["id"] for s in sim.control.subscriptions()]
                   not in ([], [first["id"]]), "a renewed subscription")
    if not watermark_expired:
        harness.changes.until(lambda e: any(x["id"] == item_id for x in e), 30, "the replay")
        assert len(harness.changes.of(mailbox, "Resync")) == 1  # only the initial one
        return
    harness.changes.until(lambda e: len([x for x in e if x["event_type"] == "Resync"]) == 2, 30,
                          "a resync")
    assert harness.changes.of(mailbox, "Resync")[-1]["reason"] == "ErrorInvalidWatermark"


def test_a_renewal_exchange_rejects_falls_back_to_a_resync_once(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If Exchange refuses the renewal from the watermark itself (here ErrorSchemaValidation, as it
    answers exchangelib's own m:Watermark), the listener subscribes once without it and resyncs
    the mailbox; it never sends the refused request again."""
    monkeypatch.setattr(subscriber, "WatermarkPushSubscribe", PushSubscribe)  # exchangelib as is
    [mailbox] = new_mailboxes(sim, 1)
    harness = push_listener(make_listener, embedded_bus, [mailbox], clock=sim.clock.monotonic)
    [first] = sim.control.subscriptions()
    sim.faults.lose_push(9)
    sim.control.create_item(mailbox, subject="never delivered")
    _advance_until(sim, lambda: "gave up" in _deliveries(sim, first["id"]),
                   "Exchange gives up the subscription")
    _advance_until(sim, lambda: [s["id"] for s in sim.control.subscriptions()]
                   not in ([], [first["id"]]), "a renewed subscription")
    harness.changes.until(lambda e: len([x for x in e if x["event_type"] == "Resync"]) == 2, 30,
                          "a resync")
    assert harness.changes.of(mailbox, "Resync")[-1]["reason"] == "ErrorSchemaValidation"
    for _ in range(10):  # more than a few check periods: nothing is retried
        sim.clock.advance(5)
        time.sleep(0.05)
    refused = [r for r in sim.request_log.entries("Subscribe", mailbox)
               if r.result == "ErrorSchemaValidation"]
    assert len(refused) == 1
