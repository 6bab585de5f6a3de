"""The ground truth of a mailbox, as plain data: what a replica should converge to.

Folders carry id, parent, path, class and whether they are in the IPM subtree (below Top of
Information Store). Items carry their current id, a stable ``origin`` (the same message across
moves),
their metadata, and a ``deleted`` record when they were deleted: how, from which folder, and where
they
are now (Deleted Items, the Recoverable Items dumpster, or purged).
"""

from __future__ import annotations

import base64
from typing import Any

from simulator.mailbox import Mailbox
from simulator.model import Address, Folder, Item
from simulator.soap import ews_datetime


def _address(address: Address | None) -> dict[str, str] | None:
    return None if address is None else {"name": address.name, "email": address.email}


def _when(mailbox: Mailbox, item: Item, name: str) -> str | None:
    value = getattr(item, name)
    return None if value is None else ews_datetime(value)


def item_view(mailbox: Mailbox, item: Item, folder: int | None = None) -> dict[str, Any]:
    """One item's metadata as plain data."""
    where = item.folder if folder is None else folder
    return {
        "id": mailbox.item_id(item.serial),
        "origin": item.origin,
        "folder_id": mailbox.folder_id(where),
        "item_class": item.item_class,
        "subject": item.subject,
        "sensitivity": item.sensitivity.value,
        "importance": item.importance.value,
        "size": item.size,
        "received": _when(mailbox, item, "received"),
        "sent": _when(mailbox, item, "sent"),
        "is_read": item.is_read,
        "flag": item.flag.value,
        "categories": list(item.categories),
        "has_attachments": item.has_attachments,
        "internet_message_id": item.internet_message_id,
        "sender": _address(item.sender),
        "to": [_address(a) for a in item.to],
        "cc": [_address(a) for a in item.cc],
        "search_key": base64.b64encode(item.search_key).decode(),
        "deleted": None,
    }


def _folder_view(mailbox: Mailbox, folder: Folder, ipm: int) -> dict[str, Any]:
    return {
        "id": mailbox.folder_id(folder.serial),
        "parent_id": None if folder.parent is None else mailbox.folder_id(folder.parent),
        "name": folder.name,
        "path": mailbox.path(folder.serial),
        "folder_class": folder.folder_class,
        "distinguished": folder.distinguished,
        "in_ipm_subtree": mailbox.is_under(folder.serial, ipm) and folder.serial != ipm,
        "total": len(folder.items),
        "unread": folder.unread_count(),
        "deleted": None,
    }


def ground_truth(mailbox: Mailbox) -> dict[str, Any]:
    """A mailbox's folders and items, live and deleted."""
    ipm = mailbox.distinguished["msgfolderroot"]
    deleted_items = mailbox.distinguished["deleteditems"]
    folders = [_folder_view(mailbox, f, ipm) for f in mailbox.folders.values()]
    for removed in mailbox.removed_folders:
        view = {
            "id": mailbox.folder_id(removed.folder.serial),
            "parent_id": None
            if removed.last_parent is None
            else mailbox.folder_id(removed.last_parent),
            "name": removed.folder.name,
            "folder_class": removed.folder.folder_class,
            "deleted": {"how": removed.how, "at": ews_datetime(removed.deleted_at)},
        }
        folders.append(view)
    items = []
    for item in mailbox.items():
        view = item_view(mailbox, item)
        if item.deleted_from is not None:
            how = "MoveToDeletedItems" if item.folder == deleted_items else "SoftDelete"
            view["deleted"] = {
                "how": how,
                "from_folder_id": mailbox.folder_id(item.deleted_from),
                "now_in": mailbox.path(item.folder),
            }
        items.append(view)
    for purged in mailbox.purged:
        view = item_view(mailbox, purged.item, purged.last_folder)
        # Purged from Deleted Items, it was still deleted from the folder it had been in before.
        origin = purged.item.deleted_from
        gone: dict[str, Any] = {
            "how": purged.how,
            "from_folder_id": mailbox.folder_id(purged.last_folder if origin is None else origin),
            "at": ews_datetime(purged.deleted_at),
            "now_in": None,
        }
        view["deleted"] = gone
        items.append(view)
    return {"mailbox": mailbox.smtp, "backend": mailbox.backend, "folders": folders, "items": items}
