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

from exchangelib.properties import (
    CopiedEvent,
    CreatedEvent,
    DeletedEvent,
    FreeBusyChangedEvent,
    ModifiedEvent,
    MovedEvent,
    NewMailEvent,
    Notification,
    OldTimestampEvent,
    StatusEvent,
    TimestampEvent,
)

from mfr.topics import normalise_mailbox

_TYPES: dict[type[Any], str] = {
    CopiedEvent: "Copied",
    CreatedEvent: "Created",
    DeletedEvent: "Deleted",
    ModifiedEvent: "Modified",
    MovedEvent: "Moved",
    NewMailEvent: "NewMail",
    FreeBusyChangedEvent: "FreeBusyChanged",
}


@dataclass(frozen=True)
class Batch:
    """The change events of one notification, and the watermark to resume after it."""

    events: list[dict[str, Any]]
    watermark: str | None


def now_utc() -> datetime:
    """The time a record is received (timezone-aware)."""
    return datetime.now(UTC)


def _id(element: Any) -> str | None:
    return None if element is None else element.id


def _change_key(event: TimestampEvent) -> str | None:
    target = event.item_id if event.item_id is not None else event.folder_id
    return None if target is None else target.changekey


def _time(value: Any) -> datetime | None:
    # exchangelib's EWSDateTime carries its own tzinfo class; the codec wants a plain datetime.
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = datetime(*value.timetuple()[:6], value.microsecond, tzinfo=UTC)
    return datetime.fromtimestamp(value.timestamp(), UTC)


def _datum(mailbox: str, source: str, subscription_id: str | None, previous: str | None,
           event: TimestampEvent, received: datetime) -> dict[str, Any]:
    is_item = event.item_id is not None
    moved = isinstance(event, OldTimestampEvent)
    old_id = None
    if moved:
        old_id = _id(event.old_item_id) if is_item else _id(event.old_folder_id)
    return {
        "event_id": str(uuid.uuid4()),
        "mailbox": normalise_mailbox(mailbox),
        "event_type": _TYPES[type(event)],
        "target": "Item" if is_item else "Folder",
        "id": _id(event.item_id) if is_item else _id(event.folder_id),
        "change_key": _change_key(event),
        "parent_folder_id": _id(event.parent_folder_id),
        "old_id": old_id,
        "old_parent_folder_id": _id(event.old_parent_folder_id) if moved else None,
        "unread_count": event.unread_count if isinstance(event, ModifiedEvent) else None,
        "watermark": event.watermark,
        "previous_watermark": previous,
        "subscription_id": subscription_id,
        "source": source,
        "reason": None,
        "event_time": _time(event.timestamp),
        "received_time": received,
    }


def change_events(mailbox: str, source: str, notification: Notification) -> Batch:
    """The ChangeEvent datums of one notification (StatusEvents only move the watermark)."""
    received = now_utc()
    events: list[dict[str, Any]] = []
    watermark: str | None = None
    for event in notification.events or []:
        watermark = event.watermark or watermark
        if isinstance(event, StatusEvent) or type(event) not in _TYPES:
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
