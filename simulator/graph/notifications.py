"""Mailbox events as Graph change notifications, and the bodies of lifecycle notifications.

A Graph subscription reads the same event log as an EWS subscription (``mailbox.events``); this
module decides which of those events a subscription on messages hears about, and as what.

- A subscription on one folder (``users/{id}/mailFolders('{id}')/messages``) uses the named-folder
  view of the log (``Audience.FOLDERS``): Created in the folder is ``created``; Modified of an item
  in it is ``updated``; Moved out is ``deleted`` (the id it had there) and Moved in is ``created``
  (its new id); Copied in is ``created``; Deleted is ``deleted``. Soft deletes and moves to
  Deleted Items reach this view as Moved events, so they read as ``deleted`` from the source.
- A subscription on all messages (``users/{id}/messages``) uses the all-folders view
  (``Audience.ALL_FOLDERS``), where Exchange reports a move to Deleted Items as Deleted + Created
  "in" the hidden AllItems search folder. For those the folder that matters is where the item
  really was (a tombstone) or is now, and only items of mail folders below Top of Information
  Store count as messages: an item leaving for Recoverable Items is ``deleted``, a purge from
  Recoverable Items is nothing. The two Deleted events of one soft or hard delete become one.
- NewMail and every folder event produce nothing: ``created`` already says a message arrived, and
  folders are not messages.

A move names the old id (``deleted``) and the new one (``created``), as Graph's default ids change
on a move (outlook-immutable-id.md); a subscription created with ``Prefer: IdType="ImmutableId"``
names both by the immutable id, so its client sees ``deleted`` and ``created`` of one id.

Bodies follow outlook-change-notifications-overview.md ("notifications without resource data"):
``resource`` and ``resourceData.@odata.id`` are ``Users/{user id}/Messages/{message id}``, the
``@odata.type`` is ``#Microsoft.Graph.Message`` as Microsoft spells it there, and ``clientState`` is
echoed only when the subscription has one (changenotification.md: "if any"). Lifecycle bodies are
the payload of change-notifications-lifecycle-events.md: subscription id and expiry, tenant,
clientState and ``lifecycleEvent``, nothing about a resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from simulator.events import Audience, Event, EventType
from simulator.graph.ids import serial_message_id, user_id
from simulator.ids import IdKind, decode_id, mint_change_key
from simulator.mailbox import Mailbox

if TYPE_CHECKING:
    from simulator.graph.subscriptions import GraphSubscription

CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("missed", "subscriptionRemoved", "reauthorizationRequired")
MESSAGE_TYPE = "#Microsoft.Graph.Message"


@dataclass(frozen=True, slots=True)
class Change:
    """One change a subscription is told about: its type and the item serial it names (the
    serial the message had when the change happened)."""

    change_type: str
    serial: int


def graph_time(moment: datetime) -> str:
    """A DateTimeOffset the way Graph writes one: UTC, seven fractional digits, ``Z``."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0Z"


def changes(subscription: GraphSubscription, events: list[Event]) -> list[Change]:
    """The changes ``events`` mean to a subscription, in order, filtered by its change types."""
    mailbox = subscription.mailbox
    found: list[Change] = []
    deleted: set[int] = set()
    for event in events:
        if event.is_folder or event.type in (EventType.NEW_MAIL, EventType.FREE_BUSY_CHANGED):
            continue
        if subscription.folder is None:
            mapped = _all_messages(mailbox, event)
        else:
            mapped = _one_folder(subscription.folder, event)
        for change in mapped:
            if change.change_type == "deleted":
                # A soft or hard delete raises Deleted twice in the all-folders view.
                if change.serial in deleted:
                    continue
                deleted.add(change.serial)
            if change.change_type in subscription.change_types:
                found.append(change)
    return found


def _serial(ews_id: str | None) -> int | None:
    decoded = None if ews_id is None else decode_id(ews_id)
    return None if decoded is None else decoded.serial


def _one_folder(folder: int, event: Event) -> list[Change]:
    serial, old = _serial(event.object_id), _serial(event.old_id)
    if serial is None or not event.audience & Audience.FOLDERS:
        return []
    out = []
    if event.type is EventType.MOVED and event.old_parent_serial == folder and old is not None:
        out.append(Change("deleted", old))
    kinds = {
        EventType.CREATED: "created",
        EventType.COPIED: "created",
        EventType.MOVED: "created",
        EventType.MODIFIED: "updated",
        EventType.DELETED: "deleted",
    }
    kind = kinds.get(event.type)
    if kind is not None and event.parent_serial == folder:
        out.append(Change(kind, serial))
    return out


def _all_messages(mailbox: Mailbox, event: Event) -> list[Change]:
    if not event.audience & Audience.ALL_FOLDERS:
        return []
    serial, old = _serial(event.object_id), _serial(event.old_id)
    if serial is None:
        return []
    parent = event.parent_serial
    if parent == mailbox.all_items:
        # Exchange's all-folders view of a move to Deleted Items: look where the item really was.
        located = _located(mailbox, serial)
        if located is None:
            return []
        parent = located
    if event.type is EventType.MOVED:
        out = []
        source = event.old_parent_serial
        if old is not None and source is not None and is_message_folder(mailbox, source):
            out.append(Change("deleted", old))
        if is_message_folder(mailbox, parent):
            out.append(Change("created", serial))
        return out
    if not is_message_folder(mailbox, parent):
        return []
    kinds = {
        EventType.CREATED: "created",
        EventType.COPIED: "created",
        EventType.MODIFIED: "updated",
        EventType.DELETED: "deleted",
    }
    kind = kinds.get(event.type)
    return [] if kind is None else [Change(kind, serial)]


def _located(mailbox: Mailbox, serial: int) -> int | None:
    """The folder an item serial is in, or was in when it left (its tombstone)."""
    live = mailbox.item_index.get(serial)
    if live is not None:
        return live
    for folder in mailbox.folders.values():
        if serial in folder.tombstones:
            return folder.serial
    for gone in mailbox.purged:
        if gone.item.serial == serial:
            return gone.last_folder
    return None


def is_message_folder(mailbox: Mailbox, serial: int) -> bool:
    """Whether a folder (live or deleted) holds messages for ``/messages``: a mail folder below
    Top of Information Store, not Calendar, Contacts or Recoverable Items."""
    top = mailbox.distinguished["msgfolderroot"]
    removed: dict[int, tuple[int | None, str | None]] | None = None
    current: int | None = serial
    first = True
    for _ in range(1000):  # a guard: the tree is never this deep
        if current is None:
            return False
        if current == top:
            return True
        folder = mailbox.folders.get(current)
        if folder is not None:
            parent, folder_class = folder.parent, folder.folder_class
        else:
            if removed is None:
                removed = {
                    r.folder.serial: (r.last_parent, r.folder.folder_class)
                    for r in mailbox.removed_folders
                }
            if current not in removed:
                return False
            parent, folder_class = removed[current]
        if first and not (folder_class or "IPF.Note").startswith("IPF.Note"):
            return False
        first = False
        current = parent
    return False


def _etag(mailbox: Mailbox, serial: int) -> str:
    """The message's version as an entity tag: its change key now, or the last one it had."""
    item = mailbox.item(serial)
    version = 0
    if item is not None:
        version = item.version
    else:
        moved = mailbox.item_by_origin(mailbox.serial_origin.get(serial, -1))
        if moved is not None:
            version = max(0, moved.version - 1)  # a move bumps the version once
        else:
            version = next((p.item.version for p in mailbox.purged if p.item.serial == serial), 0)
    return f'W/"{mint_change_key(IdKind.ITEM, serial, version)}"'


def change_notification(
    subscription: GraphSubscription, change: Change, tenant_id: str
) -> dict[str, Any]:
    """The changeNotification for one change, ids in the subscription's id format."""
    mailbox = subscription.mailbox
    message = serial_message_id(mailbox, change.serial, immutable=subscription.immutable)
    path = f"Users/{user_id(mailbox.smtp)}/Messages/{message}"
    body: dict[str, Any] = {
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": graph_time(subscription.expires),
        "changeType": change.change_type,
        "resource": path,
        "resourceData": {
            "@odata.type": MESSAGE_TYPE,
            "@odata.id": path,
            "@odata.etag": _etag(mailbox, change.serial),
            "id": message,
        },
        "tenantId": tenant_id,
    }
    if subscription.client_state is not None:
        body["clientState"] = subscription.client_state
    return body


def lifecycle_notification(
    subscription: GraphSubscription, event: str, tenant_id: str
) -> dict[str, Any]:
    """A lifecycle notification (``missed``, ``subscriptionRemoved``,
    ``reauthorizationRequired``) about a subscription."""
    if event not in LIFECYCLE_EVENTS:
        raise ValueError(f"unknown lifecycle event {event!r}; known: {list(LIFECYCLE_EVENTS)}")
    body: dict[str, Any] = {
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": graph_time(subscription.expires),
        "tenantId": tenant_id,
        "lifecycleEvent": event,
    }
    if subscription.client_state is not None:
        body["clientState"] = subscription.client_state
    return body
