"""The control interface: change mailboxes as a user or an admin would, and read the ground truth.

Objects are addressed the way tests know them: mailboxes by SMTP address, folders by EWS id, a
distinguished name ("inbox") or a path ("/Inbox/Projects", relative to Top of Information Store, or
"//Recoverable Items/Deletions" from the root), items by their current EWS id. Every method takes
the
store lock, so it is safe from any thread while the server runs.
"""

from __future__ import annotations

from typing import Any

from simulator import actions, folderactions
from simulator.errors import SimulatorError
from simulator.ids import IdKind, decode_id
from simulator.mailbox import Mailbox
from simulator.model import DeleteType, Folder, Item
from simulator.store import Store
from simulator.truth import ground_truth, item_view


class Control:
    """Mailbox changes and read-back, for tests (Python) and the JSON control API."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- resolution ------------------------------------------------------------------------
    def _mailbox(self, smtp: str) -> Mailbox:
        return self.store.require(smtp)

    def _folder(self, mailbox: Mailbox, ref: str) -> Folder:
        if ref in mailbox.distinguished:
            return mailbox.folders[mailbox.distinguished[ref]]
        if ref.startswith("/"):
            return self._by_path(mailbox, ref)
        decoded = decode_id(ref)
        if decoded and decoded.kind is IdKind.FOLDER and decoded.mailbox_no == mailbox.number:
            folder = mailbox.folders.get(decoded.serial)
            if folder is not None:
                return folder
        raise SimulatorError(f"no folder {ref!r} in {mailbox.smtp}")

    def _by_path(self, mailbox: Mailbox, path: str) -> Folder:
        start = "root" if path.startswith("//") else "msgfolderroot"
        folder = mailbox.folder_by_name(start)
        for name in [p for p in path.split("/") if p]:
            match = [mailbox.folders[c] for c in folder.children if mailbox.folders[c].name == name]
            if not match:
                raise SimulatorError(f"no folder {path!r} in {mailbox.smtp}")
            folder = match[0]
        return folder

    def _item(self, mailbox: Mailbox, item_id: str) -> Item:
        decoded = decode_id(item_id)
        item = None
        if decoded and decoded.kind is IdKind.ITEM and decoded.mailbox_no == mailbox.number:
            item = mailbox.item(decoded.serial)
        if item is None:
            raise SimulatorError(f"no item {item_id!r} in {mailbox.smtp} (ids change on move)")
        return item

    # --- mailboxes and folders -------------------------------------------------------------
    def create_mailbox(
        self,
        smtp: str,
        name: str | None = None,
        *,
        password: str | None = None,
        backend: str | None = None,
    ) -> dict[str, Any]:
        """Create a mailbox; returns its address, back-end and distinguished folder ids."""
        mailbox = self.store.create_mailbox(smtp, name, password=password, backend=backend)
        return self.mailbox_info(mailbox.smtp)

    def mailbox_info(self, smtp: str) -> dict[str, Any]:
        """A mailbox's address, display name, back-end and distinguished folder ids."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            return {
                "smtp": mailbox.smtp,
                "name": mailbox.address.name,
                "backend": mailbox.backend,
                "folders": {d: mailbox.folder_id(s) for d, s in mailbox.distinguished.items()},
            }

    def folder_id(self, smtp: str, folder: str) -> str:
        """The EWS id of a folder given by name, path or id."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            return mailbox.folder_id(self._folder(mailbox, folder).serial)

    def create_folder(
        self, smtp: str, parent: str, name: str, folder_class: str | None = "IPF.Note"
    ) -> str:
        """Create a folder of any class; returns its id."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            folder = folderactions.create_folder(
                mailbox, self._folder(mailbox, parent), name, folder_class
            )
            return mailbox.folder_id(folder.serial)

    def rename_folder(self, smtp: str, folder: str, name: str) -> str:
        """Rename a folder; returns its (unchanged) id."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            found = folderactions.rename_folder(mailbox, self._folder(mailbox, folder), name)
            return mailbox.folder_id(found.serial)

    def move_folder(self, smtp: str, folder: str, destination: str) -> str:
        """Move a folder under another; returns its (unchanged) id."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            found = folderactions.move_folder(
                mailbox, self._folder(mailbox, folder), self._folder(mailbox, destination)
            )
            return mailbox.folder_id(found.serial)

    def delete_folder(self, smtp: str, folder: str, delete_type: str = "HardDelete") -> None:
        """Delete a folder with a DeleteType (HardDelete, SoftDelete, MoveToDeletedItems)."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            folderactions.delete_folder(
                mailbox, self._folder(mailbox, folder), DeleteType(delete_type)
            )

    def empty_folder(
        self,
        smtp: str,
        folder: str = "deleteditems",
        delete_type: str = "SoftDelete",
        delete_subfolders: bool = False,
    ) -> None:
        """Empty a folder (by default: empty Deleted Items into Recoverable Items)."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            folderactions.empty_folder(
                mailbox,
                self._folder(mailbox, folder),
                DeleteType(delete_type),
                delete_subfolders=delete_subfolders,
            )

    # --- items -----------------------------------------------------------------------------
    def create_item(
        self, smtp: str, folder: str = "inbox", *, new_mail: bool = True, **fields: Any
    ) -> str:
        """Create an item (any class, sensitivity, read state...); returns its id."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            item = actions.create_item(
                mailbox, self._folder(mailbox, folder), new_mail=new_mail, **fields
            )
            return mailbox.item_id(item.serial)

    def update_item(self, smtp: str, item_id: str, **changes: Any) -> str:
        """Change an item's properties; returns its (unchanged) id."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            item = actions.update_item(mailbox, self._item(mailbox, item_id), **changes)
            return mailbox.item_id(item.serial)

    def move_item(self, smtp: str, item_id: str, destination: str) -> str:
        """Move an item; returns its new id."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            item = actions.move_item(
                mailbox, self._item(mailbox, item_id), self._folder(mailbox, destination)
            )
            return mailbox.item_id(item.serial)

    def copy_item(self, smtp: str, item_id: str, destination: str) -> str:
        """Copy an item; returns the copy's id."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            item = actions.copy_item(
                mailbox, self._item(mailbox, item_id), self._folder(mailbox, destination)
            )
            return mailbox.item_id(item.serial)

    def delete_item(
        self, smtp: str, item_id: str, delete_type: str = "MoveToDeletedItems"
    ) -> str | None:
        """Delete an item with a DeleteType; returns its new id (None when hard-deleted)."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            item = actions.delete_item(
                mailbox, self._item(mailbox, item_id), DeleteType(delete_type)
            )
            return None if item is None else mailbox.item_id(item.serial)

    def item(self, smtp: str, item_id: str) -> dict[str, Any]:
        """One live item's properties."""
        with self.store.lock:
            mailbox = self._mailbox(smtp)
            return item_view(mailbox, self._item(mailbox, item_id))

    # --- subscriptions and truth -----------------------------------------------------------
    def expire_subscriptions(self, ids: list[str] | None = None) -> int:
        """End subscriptions at once, as an Exchange restart would (all when ``ids`` is None)."""
        with self.store.lock:
            return self.store.subscriptions.expire(ids)

    def subscriptions(self) -> list[dict[str, Any]]:
        """The live subscriptions: id, kind, mailbox, back-end, owner."""
        with self.store.lock:
            now = self.store.clock.monotonic()
            return [
                {
                    "id": s.id,
                    "kind": s.kind.value,
                    "mailbox": s.mailbox.smtp,
                    "backend": s.backend,
                    "owner": s.owner,
                    "connections": s.connections,
                }
                for s in self.store.subscriptions.live(now)
            ]

    def ground_truth(self, smtp: str) -> dict[str, Any]:
        """Everything about a mailbox: its folders and items, including deleted ones and where."""
        with self.store.lock:
            return ground_truth(self._mailbox(smtp))

    def mailboxes(self) -> list[str]:
        """Every mailbox's SMTP address."""
        with self.store.lock:
            return [mailbox.smtp for mailbox in self.store.mailboxes.values()]
