"""What one EWS request acts as and on: the caller, the mailbox, the back-end, the budget.

Folder and item ids in a request are resolved here, with Exchange's error codes for ids that are
malformed, unknown, or belong to a mailbox the caller may not open.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from simulator.accounts import Account
from simulator.errors import EwsError
from simulator.faults import Faults
from simulator.ids import IdKind, decode_id
from simulator.mailbox import Mailbox
from simulator.model import Folder, Item
from simulator.settings import Limits
from simulator.soap import child, local, text_of
from simulator.store import Store


@dataclass(slots=True)
class Context:
    """One request's identity and target."""

    store: Store
    account: Account
    mailbox: Mailbox | None
    impersonating: bool
    api_version: str
    backend: str
    budget: str
    limits: Limits
    faults: Faults | None = None  # what should go wrong (SyncFolderItems' lost changes)

    def target(self) -> Mailbox:
        """The mailbox the request acts on (error when the caller has none)."""
        if self.mailbox is None:
            raise EwsError("ErrorNonExistentMailbox", "The caller has no mailbox to act on.")
        return self.mailbox

    def _open(self, mailbox: Mailbox) -> Mailbox:
        if mailbox is self.mailbox:
            return mailbox
        if self.account.mailbox and self.account.mailbox.lower() == mailbox.smtp.lower():
            return mailbox
        raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")

    def folder(self, element: etree._Element) -> tuple[Mailbox, Folder]:
        """Resolve a FolderId or DistinguishedFolderId element."""
        if local(element) == "DistinguishedFolderId":
            return self._distinguished(element)
        decoded = decode_id(element.get("Id") or "")
        if decoded is None or decoded.kind is not IdKind.FOLDER:
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
        mailbox = self.store.mailboxes.get(decoded.mailbox_no)
        if mailbox is None:
            raise EwsError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        mailbox = self._open(mailbox)
        folder = mailbox.folders.get(decoded.serial)
        if folder is None:
            raise EwsError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        return mailbox, folder

    def _distinguished(self, element: etree._Element) -> tuple[Mailbox, Folder]:
        name = (element.get("Id") or "").strip()
        owner = child(element, "Mailbox")
        smtp = None if owner is None else text_of(owner, "EmailAddress")
        if smtp:
            found = self.store.mailbox(smtp)
            if found is None:
                raise EwsError("ErrorNonExistentMailbox", f"No mailbox with such guid ({smtp}).")
            mailbox = self._open(found)
        else:
            mailbox = self.target()
        serial = mailbox.distinguished.get(name)
        if serial is None:
            raise EwsError(
                "ErrorFolderNotFound", "The specified folder could not be found in the store."
            )
        return mailbox, mailbox.folders[serial]

    def item(self, element: etree._Element) -> tuple[Mailbox, Item]:
        """Resolve an ItemId element."""
        decoded = decode_id(element.get("Id") or "")
        if decoded is None or decoded.kind is not IdKind.ITEM:
            raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.")
        mailbox = self.store.mailboxes.get(decoded.mailbox_no)
        if mailbox is None:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        mailbox = self._open(mailbox)
        item = mailbox.item(decoded.serial)
        if item is None:
            raise EwsError("ErrorItemNotFound", "The specified object was not found in the store.")
        return mailbox, item
