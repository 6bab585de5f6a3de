"""User actions on a mailbox, each raising the events Microsoft documents for it.

Event sequences follow pull-notifications-for-ews-deletion-related-mailbox-events-in-exchange.md
(the Exchange Online and Exchange 2013 columns) and
notification-subscriptions-mailbox-events-and-ews-
in-exchange.md: a new message raises Created + NewMail and a Modified for its folder; a move raises
Moved (new item id, OldItemId, OldParentFolderId) and Modified for both folders; a copy raises
Copied;
the three delete types differ as the deletion page's table says, including what a subscription on
all folders sees instead of one on named folders.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime
from enum import StrEnum
from typing import Any

from simulator.errors import SimulatorError
from simulator.events import Audience, EventType
from simulator.mailbox import Mailbox
from simulator.model import (
    Address,
    DeleteType,
    FlagStatus,
    Folder,
    Importance,
    Item,
    Purged,
    Sensitivity,
)

# Fields a control call may set on an item, and the ones whose change counts only as a read change.
ITEM_FIELDS = frozenset(
    f.name
    for f in dataclasses.fields(Item)
    if f.name
    not in {
        "serial",
        "origin",
        "folder",
        "version",
        "last_touch",
        "last_content_touch",
        "deleted_from",
    }
)
READ_ONLY_CHANGE = frozenset({"is_read"})


_ENUMS: dict[str, type[StrEnum]] = {
    "sensitivity": Sensitivity,
    "importance": Importance,
    "flag": FlagStatus,
}
_TIMES = frozenset({"received", "sent", "created", "modified"})


def _address(value: Any) -> Address:
    if isinstance(value, Address):
        return value
    if isinstance(value, str):
        return Address(value.partition("@")[0], value)
    if isinstance(value, dict) and "email" in value:
        return Address(str(value.get("name") or value["email"]), str(value["email"]))
    raise SimulatorError(f"not an address: {value!r}")


def coerce(fields: dict[str, Any]) -> dict[str, Any]:
    """Item fields from plain data (JSON): enum names, ISO dates, addresses as dicts or strings."""
    unknown = set(fields) - ITEM_FIELDS
    if unknown:
        raise SimulatorError(f"unknown item fields: {sorted(unknown)}")
    out = dict(fields)
    try:
        for name, enum in _ENUMS.items():
            if name in out and not isinstance(out[name], enum):
                out[name] = enum(out[name])
        for name in _TIMES & out.keys():
            if isinstance(out[name], str):
                out[name] = datetime.fromisoformat(out[name].replace("Z", "+00:00"))
    except ValueError as exc:
        raise SimulatorError(str(exc)) from exc
    if "sender" in out and out["sender"] is not None:
        out["sender"] = _address(out["sender"])
    for name in ("to", "cc"):
        if name in out:
            out[name] = [_address(a) for a in out[name]]
    if "categories" in out:
        out["categories"] = [str(c) for c in out["categories"]]
    if "search_key" in out and isinstance(out["search_key"], str):
        out["search_key"] = out["search_key"].encode()
    return out


def _search_key(mailbox: Mailbox, serial: int) -> bytes:
    return hashlib.blake2b(f"{mailbox.smtp}/{serial}".encode(), digest_size=16).digest()


def create_item(mailbox: Mailbox, folder: Folder, *, new_mail: bool = True, **fields: Any) -> Item:
    """Create an item in a folder (a delivery raises NewMail too)."""
    fields = coerce(fields)
    serial = mailbox.next_serial()
    now = mailbox.now()
    item = Item(serial=serial, origin=serial, folder=folder.serial, **fields)
    item.created = item.created or now
    item.received = item.received or now
    item.modified = now
    item.search_key = item.search_key or _search_key(mailbox, serial)
    item.internet_message_id = (
        item.internet_message_id or f"<{serial}.{mailbox.number}@sim.example>"
    )
    mailbox.place(item, folder)
    mailbox.emit(EventType.CREATED, item_serial=serial, parent=folder.serial)
    if new_mail:
        mailbox.emit(EventType.NEW_MAIL, item_serial=serial, parent=folder.serial)
    mailbox.folder_modified(folder.serial)
    return item


def update_item(mailbox: Mailbox, item: Item, **changes: Any) -> Item:
    """Change an item's properties in place (its id stays, its change key changes)."""
    changes = coerce(changes)
    read_changed = "is_read" in changes and changes["is_read"] != item.is_read
    for name, value in changes.items():
        setattr(item, name, value)
    mailbox.touch_item(item, content=not set(changes) <= READ_ONLY_CHANGE)
    mailbox.emit(EventType.MODIFIED, item_serial=item.serial, parent=item.folder)
    if read_changed:
        mailbox.folder_modified(item.folder)
    return item


def _relocate(mailbox: Mailbox, item: Item, destination: Folder) -> tuple[Item, Folder]:
    """Move an item to another folder under a new serial; returns it and the folder it left."""
    source = mailbox.unplace(item)
    moved = dataclasses.replace(
        item, serial=mailbox.next_serial(), categories=list(item.categories)
    )
    moved.version += 1
    mailbox.place(moved, destination)
    return moved, source


def move_item(mailbox: Mailbox, item: Item, destination: Folder) -> Item:
    """Move an item: it gets a new id; Moved names the old id and old parent."""
    if destination.serial == item.folder:
        return item
    moved, source = _relocate(mailbox, item, destination)
    moved.deleted_from = None
    mailbox.emit(
        EventType.MOVED,
        item_serial=moved.serial,
        parent=destination.serial,
        old_item_serial=item.serial,
        old_parent=source.serial,
    )
    mailbox.folder_modified(source.serial)
    mailbox.folder_modified(destination.serial)
    return moved


def copy_item(mailbox: Mailbox, item: Item, destination: Folder) -> Item:
    """Copy an item: a new item (new id, new search key) with the same properties."""
    serial = mailbox.next_serial()
    copy = dataclasses.replace(
        item,
        serial=serial,
        origin=serial,
        version=0,
        categories=list(item.categories),
        search_key=_search_key(mailbox, serial),
        deleted_from=None,
    )
    mailbox.place(copy, destination)
    mailbox.emit(
        EventType.COPIED,
        item_serial=serial,
        parent=destination.serial,
        old_item_serial=item.serial,
        old_parent=item.folder,
    )
    mailbox.folder_modified(destination.serial)
    return copy


def delete_item(mailbox: Mailbox, item: Item, how: DeleteType) -> Item | None:
    """Delete an item the way ``how`` says; returns where it went (None when purged)."""
    deleted_items = mailbox.folder_by_name("deleteditems")
    if how is DeleteType.MOVE_TO_DELETED_ITEMS and item.folder != deleted_items.serial:
        return _move_to_deleted_items(mailbox, item, deleted_items)
    if how is DeleteType.HARD_DELETE:
        _hard_delete(mailbox, item)
        return None
    return _soft_delete(mailbox, item)


def _move_to_deleted_items(mailbox: Mailbox, item: Item, deleted_items: Folder) -> Item:
    moved, source = _relocate(mailbox, item, deleted_items)
    moved.deleted_from = source.serial
    mailbox.emit(
        EventType.MOVED,
        item_serial=moved.serial,
        parent=deleted_items.serial,
        old_item_serial=item.serial,
        old_parent=source.serial,
        audience=Audience.FOLDERS,
    )
    everything = mailbox.all_items
    mailbox.emit(
        EventType.DELETED, item_serial=item.serial, parent=everything, audience=Audience.ALL_FOLDERS
    )
    mailbox.emit(
        EventType.CREATED,
        item_serial=moved.serial,
        parent=everything,
        audience=Audience.ALL_FOLDERS,
    )
    mailbox.folder_modified(source.serial)
    mailbox.folder_modified(deleted_items.serial)
    return moved


def _soft_delete(mailbox: Mailbox, item: Item) -> Item:
    dumpster = mailbox.folder_by_name("recoverableitemsdeletions")
    moved, source = _relocate(mailbox, item, dumpster)
    moved.deleted_from = item.deleted_from if item.deleted_from is not None else source.serial
    mailbox.emit(
        EventType.MOVED,
        item_serial=moved.serial,
        parent=dumpster.serial,
        old_item_serial=item.serial,
        old_parent=source.serial,
        audience=Audience.FOLDERS,
    )
    mailbox.emit(
        EventType.DELETED,
        item_serial=item.serial,
        parent=source.serial,
        audience=Audience.ALL_FOLDERS,
    )
    mailbox.emit(
        EventType.DELETED,
        item_serial=item.serial,
        parent=mailbox.all_items,
        audience=Audience.ALL_FOLDERS,
    )
    mailbox.folder_modified(source.serial)
    return moved


def _hard_delete(mailbox: Mailbox, item: Item) -> None:
    source = mailbox.unplace(item)
    mailbox.purged.append(Purged(item, source.serial, mailbox.now(), DeleteType.HARD_DELETE.value))
    mailbox.emit(EventType.DELETED, item_serial=item.serial, parent=source.serial)
    mailbox.emit(
        EventType.DELETED,
        item_serial=item.serial,
        parent=mailbox.all_items,
        audience=Audience.ALL_FOLDERS,
    )
    mailbox.folder_modified(source.serial)
