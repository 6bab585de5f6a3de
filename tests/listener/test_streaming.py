"""Streaming mode against the simulator over real HTTP: affinity groups within the connection
limits, and every mailbox's changes on the bus."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter

import pytest

from mfr.settings import BusSettings
from mfr.topics import record_key
from simulator import Simulator
from tests.listener.conftest import Make, new_mailboxes
from tests.listener.harness import wait_for


def _sample_open_streams(sim: Simulator, anchors: list[str], stop: threading.Event,
                         peak: list[int]) -> None:
    while not stop.wait(0.02):
        peak[0] = max(peak[0], sum(sim.throttle.open_streams(a) for a in anchors))


def test_a_change_in_a_mailbox_becomes_change_events(
    sim: Simulator, make_listener: Make, any_bus: BusSettings
) -> None:
    """A new message raises Created and NewMail on the changes topic, keyed by the mailbox, after
    the mailbox's initial Resync."""
    [mailbox] = new_mailboxes(sim, 1)
    harness = make_listener(any_bus, mailboxes=[mailbox])
    changes = harness.changes
    changes.until(lambda e: any(x["event_type"] == "Resync" for x in e), what="initial resync")
    wait_for(lambda: all(s["connections"] for s in sim.control.subscriptions()), 10,
             "subscription on a connection")
    item_id = sim.control.create_item(mailbox, subject="hello")
    changes.until(lambda e: any(x["event_type"] == "NewMail" for x in e), what="NewMail")
    [resync] = changes.of(mailbox, "Resync")
    assert resync["reason"] == "listener started"
    [created] = [e for e in changes.of(mailbox, "Created") if e["target"] == "Item"]
    assert created["id"] == item_id
    assert created["source"] == "Streaming"
    assert created["subscription_id"] == sim.control.subscriptions()[0]["id"]
    assert created["watermark"]
    assert created["previous_watermark"]
    assert created["event_time"] is not None
    assert set(changes.keys) == {record_key(mailbox)}


@pytest.mark.timeout(600)
def test_a_thousand_mailboxes_use_the_fewest_connections_within_the_limit(
    sim: Simulator, make_listener: Make, any_bus: BusSettings
) -> None:
    """1,000 mailboxes on three back-ends are read over at most ceil(n/200) connections per
    back-end, never more than the hanging-connection limit at once, and every mailbox's change
    reaches the bus (how-to-maintain-affinity-between-group-of-subscriptions-and-mailbox-server
    .md)."""
    mailboxes = new_mailboxes(sim, 1000)
    per_backend = Counter(sim.control.mailbox_info(m)["backend"] for m in mailboxes)
    harness = make_listener(any_bus, mailboxes=mailboxes, subscribe_concurrency=16,
                            streaming={"hanging_connection_limit": 10,
                                       "connection_timeout_min": 10})
    mode = harness.listener.mode
    groups = mode.groups  # type: ignore[union-attr]
    wait_for(lambda: all(s["connections"] for s in sim.control.subscriptions()), 180,
             "every subscription on a connection")
    stop, peak = threading.Event(), [0]
    anchors = [groups.snapshot(n).route.anchor for n in groups.names()]  # type: ignore[union-attr]
    sampler = threading.Thread(target=_sample_open_streams, args=(sim, anchors, stop, peak))
    sampler.start()
    try:
        backends = Counter(name.split("#")[0] for name in groups.names())
        assert backends == {b: math.ceil(n / 200) for b, n in per_backend.items()}
        opened = Counter(e.backend for e in sim.request_log.entries("GetStreamingEvents"))
        # One connection per group, each on its own back-end.
        assert opened == backends, sim.request_log.entries("GetStreamingEvents")
        item_ids = {m: sim.control.create_item(m, subject=f"to {m}") for m in mailboxes}
        changes = harness.changes
        changes.until(lambda e: {x["id"] for x in e if x["event_type"] == "NewMail"}
                      >= set(item_ids.values()), timeout_s=240, what="every mailbox's NewMail")
    finally:
        stop.set()
        sampler.join()
    assert peak[0] <= 10
    assert mode.slots.peak_total <= 10  # type: ignore[union-attr]
    resyncs = {e["mailbox"] for e in changes.events if e["event_type"] == "Resync"}
    assert resyncs == set(mailboxes)
    for event in changes.events:
        if event["event_type"] == "NewMail":
            assert item_ids[event["mailbox"]] == event["id"]


def test_more_groups_than_slots_take_turns_within_the_limit(
    sim: Simulator, make_listener: Make, embedded_bus: BusSettings
) -> None:
    """With more affinity groups than hanging connections allowed, no more than the limit is
    ever open; the groups take turns at ConnectionTimeout and every change still arrives."""
    mailboxes = new_mailboxes(sim, 16)
    harness = make_listener(embedded_bus, mailboxes=mailboxes,
                            streaming={"hanging_connection_limit": 3,
                                       "subscriptions_per_connection": 2})
    mode = harness.listener.mode
    groups = mode.groups  # type: ignore[union-attr]
    assert len(groups.names()) >= 8
    anchors = [groups.snapshot(n).route.anchor for n in groups.names()]  # type: ignore[union-attr]
    stop, peak = threading.Event(), [0]
    sampler = threading.Thread(target=_sample_open_streams, args=(sim, anchors, stop, peak))
    sampler.start()
    try:
        item_ids = {sim.control.create_item(m, subject="in turn") for m in mailboxes}
        changes = harness.changes
        deadline = time.monotonic() + 60
        while not {e["id"] for e in changes.read()} >= item_ids:
            assert time.monotonic() < deadline, "not every change arrived"
            sim.clock.advance(61)  # ConnectionTimeout: open connections close, waiters go next
            time.sleep(0.3)
    finally:
        stop.set()
        sampler.join()
    assert 0 < peak[0] <= 3
    assert mode.slots.peak_total <= 3  # type: ignore[union-attr]
