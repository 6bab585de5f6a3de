"""EWS notifications read straight from their XML, for streaming and push alike.

Every change reaches the pipeline as a ``m:Notification`` element (a GetStreamingEvents answer or
a SendNotification push). exchangelib made an object of each (``Notification``, an event object
per event, a ``FolderId``/``ItemId`` object per id, an ``EWSDateTime`` per time stamp, each field
looked up through its metaclass) only for ``events.py`` to copy a dozen strings out: about a
third of the listener's CPU per change. exchangelib still sends the requests, reads the SOAP
envelopes and their errors; the notification element itself is read here with lxml. The meaning
is exchangelib's (types.xsd's NotificationType and BaseNotificationEventType): an event kind it
does not know is skipped, empty text reads as absent, a time stamp that does not parse is None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from exchangelib.services import SendNotification

from mfr.ews.values import read_datetime, read_int, type_children

Id = tuple[str | None, str | None]
# The event kinds of NotificationType's choice, by element name.
KINDS = frozenset({"CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent",
                   "NewMailEvent", "StatusEvent", "FreeBusyChangedEvent"})
_IDS = {"ItemId": "item_id", "FolderId": "folder_id", "ParentFolderId": "parent_folder_id",
        "OldItemId": "old_item_id", "OldFolderId": "old_folder_id",
        "OldParentFolderId": "old_parent_folder_id"}


@dataclass(frozen=True)
class EwsEvent:
    """One event of a notification: ``kind`` is its element's name without ``Event``
    ("Created", "Moved", "Status", ...); an id is its element's ``(Id, ChangeKey)``, None when
    the element is not there."""

    kind: str
    watermark: str | None = None
    timestamp: datetime | None = None
    item_id: Id | None = None
    folder_id: Id | None = None
    parent_folder_id: Id | None = None
    old_item_id: Id | None = None
    old_folder_id: Id | None = None
    old_parent_folder_id: Id | None = None
    unread_count: int | None = None


@dataclass(frozen=True)
class EwsNotification:
    """One ``m:Notification``: its subscription, the watermark before it, and its events."""

    subscription_id: str | None
    previous_watermark: str | None
    more_events: bool
    events: tuple[EwsEvent, ...]


def read_notification(elem: Any) -> EwsNotification:
    """The notification an ``m:Notification`` element holds."""
    subscription_id = previous = None
    more = False
    events: list[EwsEvent] = []
    for name, child in type_children(elem):
        if name == "SubscriptionId":
            subscription_id = child.text or None
        elif name == "PreviousWatermark":
            previous = child.text or None
        elif name == "MoreEvents":
            more = (child.text or "").strip().lower() in ("true", "on")
        elif name in KINDS:
            events.append(_event(name, child))
    return EwsNotification(subscription_id, previous, more, tuple(events))


def _event(name: str, elem: Any) -> EwsEvent:
    values: dict[str, Any] = {}
    for field, child in type_children(elem):
        if field in _IDS:
            values[_IDS[field]] = (child.get("Id"), child.get("ChangeKey"))
        elif field == "Watermark":
            values["watermark"] = child.text or None
        elif field == "TimeStamp" and child.text:
            values["timestamp"] = read_datetime(child.text.strip())
        elif field == "UnreadCount" and child.text:
            values["unread_count"] = read_int(child.text.strip())
    return EwsEvent(kind=name.removesuffix("Event"), **values)


class PushNotifications(SendNotification):  # type: ignore[misc]
    """exchangelib's SendNotification (the parser of pushed bodies, and the answers to them),
    reading each notification with ``read_notification``."""

    def _elem_to_obj(self, elem: Any) -> EwsNotification:
        return read_notification(elem)
