"""The listener's pure parts: event mapping, affinity groups, hanging-connection slots, the push
body guard."""

from __future__ import annotations

import threading
import time

import pytest
from lxml import etree

from listener.events import change_events, resync_event
from listener.groups import Groups
from listener.notificationxml import read_notification
from listener.slots import HangingSlots
from listener.xmlguard import BadNotificationError, check_envelope
from mfr.codec import Codec

M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"


def test_a_move_keeps_old_and_new_ids_and_status_only_moves_the_watermark() -> None:
    """Moved carries old id and parent; a StatusEvent writes nothing but its watermark counts."""
    notification = read_notification(etree.fromstring(
        f'<m:Notification xmlns:m="{M}" xmlns:t="{T}"><t:SubscriptionId>s1</t:SubscriptionId>'
        "<t:PreviousWatermark>w0</t:PreviousWatermark><t:MoreEvents>false</t:MoreEvents>"
        '<t:CreatedEvent><t:Watermark>w1</t:Watermark><t:TimeStamp>2026-12-03T10:00:00Z'
        '</t:TimeStamp><t:FolderId Id="f1"/><t:ParentFolderId Id="root"/></t:CreatedEvent>'
        "<t:MovedEvent><t:Watermark>w2</t:Watermark><t:TimeStamp>2026-12-03T10:00:01Z"
        '</t:TimeStamp><t:ItemId Id="new" ChangeKey="ck"/><t:ParentFolderId Id="inbox"/>'
        '<t:OldItemId Id="old"/><t:OldParentFolderId Id="drafts"/></t:MovedEvent>'
        "<t:StatusEvent><t:Watermark>w3</t:Watermark></t:StatusEvent></m:Notification>"))
    batch = change_events("Alice@Example.com", "Push", notification)
    assert batch.watermark == "w3"
    folder, move = batch.events
    assert (folder["event_type"], folder["target"], folder["id"]) == ("Created", "Folder", "f1")
    assert move["mailbox"] == "alice@example.com"
    assert (move["id"], move["old_id"], move["change_key"]) == ("new", "old", "ck")
    assert (move["parent_folder_id"], move["old_parent_folder_id"]) == ("inbox", "drafts")
    assert move["previous_watermark"] == "w0"
    assert move["subscription_id"] == "s1"
    codec = Codec()
    for datum in [*batch.events, resync_event("a@x.com", "mailbox joined")]:
        decoded = codec.decode(codec.encode("ChangeEvent", datum)).datum
        assert decoded["event_id"] == datum["event_id"]


def test_groups_hold_at_most_capacity_per_backend_and_follow_moves() -> None:
    """Mailboxes are grouped by the back-end their cookie names, capacity per group; a mailbox
    whose new subscription names another back-end changes group."""
    groups = Groups(capacity=2)
    for i, cookie in enumerate(["A~1", "A~1", "A~1", "B~2"]):
        groups.place(f"m{i}@x.com", f"s{i}", cookie)
    assert sorted(groups.sizes().values()) == [1, 1, 2]
    name = groups.group_of("m0@x.com")
    assert name is not None
    snapshot = groups.snapshot(name)
    assert snapshot is not None
    assert snapshot.route.anchor == "m0@x.com"
    assert snapshot.route.cookie == "A~1"
    new_group, _ = groups.place("m0@x.com", "s9", "B~2")
    assert new_group == groups.group_of("m3@x.com")
    assert groups.forget_subscription("m0@x.com", "s0") is False  # the old id is not held
    assert groups.forget_subscription("m0@x.com", "s9") is True


def test_slots_never_exceed_the_limit_and_serve_waiters_in_turn() -> None:
    """With more connections than slots, at most the limit is open and everyone gets a turn."""
    slots = HangingSlots(per_key=2, total=2)
    stop = threading.Event()
    served: list[int] = []

    def connection(number: int) -> None:
        assert slots.acquire("svc", stop)
        served.append(number)
        time.sleep(0.05)
        slots.release("svc")

    threads = [threading.Thread(target=connection, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
        time.sleep(0.005)
    for thread in threads:
        thread.join()
    assert sorted(served) == list(range(6))
    assert slots.peak_total == 2


@pytest.mark.parametrize("body", [
    b"", b"garbage", b"<a><b></a>",
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "x">]><r>&a;</r>',
    b"<Envelope/>",
])
def test_the_guard_refuses_what_is_not_a_plain_soap_envelope(body: bytes) -> None:
    """Empty, malformed, DOCTYPE-carrying or non-SOAP bodies are refused with a reason."""
    with pytest.raises(BadNotificationError):
        check_envelope(body)
