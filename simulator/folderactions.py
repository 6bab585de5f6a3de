"""Folder actions on a mailbox — create, rename, move, delete, empty — with Exchange's events.

A folder keeps its id wherever it goes. Moving a folder raises Moved for it (same id, old parent)
and Modified for both parents; deleting one raises Deleted and Modified for its parent; a folder
moved to Deleted Items raises, for a subscription on all folders, only the two Modified events
(pull-notifications-for-ews-deletion-related-mailbox-events-in-exchange.md).
"""

from __future__ import annotations

from simulator.actions import delete_item
from simulator.errors import SimulatorError
from simulator.events import Audience, EventType
from simulator.mailbox import Mailbox
from simulator.model import DeleteType, Folder, Purged


def create_folder(mailbox: Mailbox, parent: Folder, name: str, folder_class: str | None) -> Folder:
    """Create a folder of any class under ``parent``."""
    if any(mailbox.folders[c].name.lower() == name.lower() for c in parent.children):
        raise SimulatorError(f"a folder named {name!r} already exists there")
    folder = mailbox.add_folder(parent.serial, name, folder_class)
    mailbox.emit(EventType.CREATED, folder=folder, parent=parent.serial)
    mailbox.folder_modified(parent.serial)
    return folder


def rename_folder(mailbox: Mailbox, folder: Folder, name: str) -> Folder:
    """Give a folder a new display name."""
    _refuse_distinguished(folder)
    folder.name = name
    mailbox.touch_folder(folder)
    assert folder.parent is not None  # noqa: S101 - only the root has no parent
    mailbox.emit(EventType.MODIFIED, folder=folder, parent=folder.parent)
    return folder


def move_folder(
    mailbox: Mailbox, folder: Folder, destination: Folder, audience: Audience = Audience.BOTH
) -> Folder:
    """Move a folder (and its subtree) under another parent; its id does not change."""
    _refuse_distinguished(folder)
    if mailbox.is_under(destination.serial, folder.serial):
        raise SimulatorError("cannot move a folder into itself or its own subfolder")
    old_parent = folder.parent
    assert old_parent is not None  # noqa: S101 - only the root has no parent
    mailbox.reparent(folder, destination.serial)
    mailbox.touch_folder(folder)
    mailbox.emit(
        EventType.MOVED,
        folder=folder,
        parent=destination.serial,
        old_parent=old_parent,
        audience=audience,
    )
    mailbox.folder_modified(old_parent)
    mailbox.folder_modified(destination.serial)
    return folder


def delete_folder(mailbox: Mailbox, folder: Folder, how: DeleteType) -> None:
    """Delete a folder the way ``how`` says."""
    _refuse_distinguished(folder)
    if how is DeleteType.MOVE_TO_DELETED_ITEMS:
        move_folder(mailbox, folder, mailbox.folder_by_name("deleteditems"), Audience.FOLDERS)
        return
    parent = folder.parent
    assert parent is not None  # noqa: S101 - only the root has no parent
    dumpster = mailbox.folder_by_name("recoverableitemsdeletions")
    for sub in reversed(mailbox.subtree(folder.serial)):
        for item in list(sub.items.values()):
            _dispose_quietly(mailbox, item.serial, sub, dumpster, how)
        mailbox.forget_folder(sub, how.value)
    mailbox.emit(EventType.DELETED, folder=folder, parent=parent)
    mailbox.folder_modified(parent)


def _dispose_quietly(
    mailbox: Mailbox, serial: int, folder: Folder, dumpster: Folder, how: DeleteType
) -> None:
    """Dispose of an item of a deleted folder: Exchange raises no item events for these."""
    item = folder.items[serial]
    mailbox.unplace(item)
    if how is DeleteType.HARD_DELETE:
        mailbox.purged.append(Purged(item, folder.serial, mailbox.now(), how.value))
        return
    item.serial = mailbox.next_serial()
    item.deleted_from = folder.serial
    mailbox.place(item, dumpster)


def empty_folder(
    mailbox: Mailbox, folder: Folder, how: DeleteType, *, delete_subfolders: bool = False
) -> None:
    """Delete every item of a folder (and, optionally, its subfolders), as EmptyFolder does."""
    for item in list(folder.items.values()):
        delete_item(mailbox, item, how)
    if delete_subfolders:
        for child in list(folder.children):
            delete_folder(mailbox, mailbox.folders[child], how)


def _refuse_distinguished(folder: Folder) -> None:
    if folder.distinguished is not None:
        raise SimulatorError(f"{folder.distinguished} is a distinguished folder; it cannot change")
