"""From notifications to ChangeEvent datums: one per EWS event, one per Graph change
notification, the folder-tree checks Graph needs, plus resyncs.

A StatusEvent is a keep-alive that only moves the watermark on; it is not written to the bus (it
says nothing changed), but its watermark is kept, so a push subscription can resume from it.

A Graph change notification names the message (``resourceData.id``, an immutable id because every
subscription is created with ``Prefer: IdType="ImmutableId"``, outlook-immutable-id.md) but not
its folder, change key or time (outlook-change-notifications-overview.md, "notifications without
resource data"): those fields stay null, and the extractor's delta queries say the rest. Graph has
no notifications for mail folders at all, so the listener writes a folder ``Modified`` of source
``Poll`` on a timer, and the extractor reads the folder tree's delta when it sees one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from listener.notificationxml import EwsEvent, EwsNotification
from mfr.topics import normalise_mailbox

# What each EWS event kind is called on the changes topic (a StatusEvent is not written).
_TYPES = {"Copied", "Created", "Deleted", "Modified", "Moved", "NewMail", "FreeBusyChanged"}


@dataclass(frozen=True)
class Batch:
    """The change events of one notification, and the watermark to resume after it."""

    events: list[dict[str, Any]]
    watermark: str | None


def now_utc() -> datetime:
    """The time a record is received (timezone-aware)."""
    return datetime.now(UTC)


def _id(pair: tuple[str | None, str | None] | None) -> str | None:
    return None if pair is None else pair[0]


def _datum(mailbox: str, source: str, subscription_id: str | None, previous: str | None,
           event: EwsEvent, received: datetime) -> dict[str, Any]:
    is_item = event.item_id is not None
    target = event.item_id if is_item else event.folder_id
    moved = event.kind in ("Moved", "Copied")
    old_id = None
    if moved:
        old_id = _id(event.old_item_id) if is_item else _id(event.old_folder_id)
    return {
        "event_id": str(uuid.uuid4()),
        "mailbox": normalise_mailbox(mailbox),
        "event_type": event.kind,
        "target": "Item" if is_item else "Folder",
        "id": _id(target),
        "change_key": None if target is None else target[1],
        "parent_folder_id": _id(event.parent_folder_id),
        "old_id": old_id,
        "old_parent_folder_id": _id(event.old_parent_folder_id) if moved else None,
        "unread_count": event.unread_count if event.kind == "Modified" else None,
        "watermark": event.watermark,
        "previous_watermark": previous,
        "subscription_id": subscription_id,
        "source": source,
        "reason": None,
        "event_time": event.timestamp,
        "received_time": received,
    }


def change_events(mailbox: str, source: str, notification: EwsNotification) -> Batch:
    """The ChangeEvent datums of one notification (StatusEvents only move the watermark)."""
    received = now_utc()
    events: list[dict[str, Any]] = []
    watermark: str | None = None
    for event in notification.events:
        watermark = event.watermark or watermark
        if event.kind not in _TYPES:
            continue
        events.append(_datum(mailbox, source, notification.subscription_id,
                             notification.previous_watermark, event, received))
    return Batch(events, watermark)


GRAPH_CHANGE_TYPES = {"created": "Created", "updated": "Modified", "deleted": "Deleted"}
HIERARCHY_CHECK = "hierarchy check"


def _blank(mailbox: str, event_type: str, target: str, source: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "mailbox": normalise_mailbox(mailbox),
        "event_type": event_type,
        "target": target,
        "id": None,
        "change_key": None,
        "parent_folder_id": None,
        "old_id": None,
        "old_parent_folder_id": None,
        "unread_count": None,
        "watermark": None,
        "previous_watermark": None,
        "subscription_id": None,
        "source": source,
        "reason": None,
        "event_time": None,
        "received_time": now_utc(),
    }


def graph_change_event(mailbox: str, subscription_id: str, change_type: str,
                       message_id: str) -> dict[str, Any]:
    """The ChangeEvent of one Graph change notification (``change_type`` created, updated or
    deleted; ``message_id`` its ``resourceData.id``)."""
    datum = _blank(mailbox, GRAPH_CHANGE_TYPES[change_type], "Item", "Webhook")
    datum.update(id=message_id, subscription_id=subscription_id)
    return datum


def hierarchy_check_event(mailbox: str) -> dict[str, Any]:
    """The periodic folder-tree check of a Graph mailbox (Graph has no folder notifications)."""
    datum = _blank(mailbox, "Modified", "Folder", "Poll")
    datum["reason"] = HIERARCHY_CHECK
    return datum


def resync_event(mailbox: str, reason: str, subscription_id: str | None = None,
                 source: str = "Sync") -> dict[str, Any]:
    """A Resync: events of ``mailbox`` may have been missed, so the extractor syncs it fully."""
    datum = _blank(mailbox, "Resync", "Mailbox", source)
    datum.update(subscription_id=subscription_id, reason=reason)
    return datum
