"""Blocking reads of one mailbox from EWS, through exchangelib, returned in the extractor's types.

Every call goes through ``EwsConnection.call`` (throttle, back-off, retries, error translation).
Sync follows Microsoft's best practice: SyncFolderItems with IdOnly, page by page, then GetItem in
batches for exactly the metadata fields MISSION.md lists (never bodies or attachments).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from exchangelib import ExtendedProperty, Message
from exchangelib.errors import ErrorItemNotFound
from exchangelib.items.base import ID_ONLY
from exchangelib.properties import FolderId
from exchangelib.services import SyncFolderItems
from exchangelib.services.sync_folder_hierarchy import SyncFolder
from exchangelib.util import MNS

from extractor.cycle import ChangeKind, ItemChange
from extractor.model import Address, FolderSnapshot, ItemSnapshot
from extractor.reader import ExchangeApi, HierarchyPage, ItemsPage
from mfr.ews import EwsConnection

MAX_CHANGES_PER_PAGE = 512  # SyncFolderItems' maximum
ITEM_FIELDS = (
    "parent_folder_id", "item_class", "sensitivity", "subject", "sender", "author",
    "to_recipients", "cc_recipients", "bcc_recipients", "datetime_sent", "datetime_received",
    "datetime_created", "last_modified_time", "size", "importance", "is_read", "flag_status",
    "categories", "has_attachments", "message_id", "conversation_id", "search_key",
)
WELL_KNOWN = {
    "msg_folder_root": "msgfolderroot", "inbox": "inbox", "sent": "sentitems",
    "trash": "deleteditems", "drafts": "drafts", "junk": "junkemail", "outbox": "outbox",
}


__all__ = [  # the page types stay importable from here, as before the Reader seam
    "FLAG_STATUS", "ITEM_FIELDS", "WELL_KNOWN", "HierarchyPage", "ItemsPage", "MailboxReader",
    "register_fields",
]


class SearchKey(ExtendedProperty):  # type: ignore[misc]
    """PR_SEARCH_KEY (0x300B): kept when a message moves, shared by its copies."""

    property_tag = 0x300B
    property_type = "Binary"


class FlagStatus(ExtendedProperty):  # type: ignore[misc]
    """PR_FLAG_STATUS (0x1090): 0 not flagged, 1 complete, 2 flagged. exchangelib does not model
    the Exchange 2013+ Flag element; this property works on every version."""

    property_tag = 0x1090
    property_type = "Integer"


FLAG_STATUS = {0: "NotFlagged", 1: "Complete", 2: "Flagged"}


def register_fields() -> None:
    """Teach exchangelib's Message the extended properties we read (once per process)."""
    for name, prop in (("search_key", SearchKey), ("flag_status", FlagStatus)):
        try:
            Message.get_field_by_fieldname(name)
        except Exception:  # noqa: BLE001 - exchangelib raises a plain error for unknown fields
            Message.register(name, prop)


class _SyncFolderItems(SyncFolderItems):  # type: ignore[misc]
    """exchangelib reads an answer's SyncState before it looks for an error, so an error answer
    (ErrorInvalidSyncStateData above all, which says "sync again from scratch") surfaced as an
    AttributeError. Such an answer has no SyncState: it goes straight to the error check."""

    def _get_element_container(self, message: Any, name: Any = None) -> Any:
        if message.find(f"{{{MNS}}}SyncState") is None:
            return super(SyncFolder, self)._get_element_container(message=message, name=name)
        return super()._get_element_container(message=message, name=name)


class MailboxReader:
    """Reads one mailbox for the extractor through EWS (``extractor.reader.Reader``); every
    method blocks (call it from a worker thread)."""

    api: ExchangeApi = "Ews"
    stable_ids = False  # EWS ids change on every move

    def __init__(self, connection: EwsConnection, mailbox: str, batch_size: int = 100) -> None:
        register_fields()
        self._connection = connection
        self.mailbox = mailbox
        self._batch_size = batch_size

    def _call(self, doing: str, operation: Any) -> Any:
        return self._connection.call(self.mailbox, f"{doing} for {self.mailbox}", operation)

    def well_known_folders(self) -> dict[str, str]:
        """Folder id -> distinguished name, for the root and the standard mail folders."""
        account = self._connection.account(self.mailbox)

        def read() -> dict[str, str]:
            return {getattr(account, attr).id: name for attr, name in WELL_KNOWN.items()}

        found: dict[str, str] = self._call("GetFolder", read)
        return found

    def hierarchy(self, sync_state: str | None) -> HierarchyPage:
        """Folder changes since ``sync_state`` (everything, when None)."""
        account = self._connection.account(self.mailbox)

        def read() -> HierarchyPage:
            root = account.msg_folder_root
            upserts, deletes = [], []
            for change, folder in root.sync_hierarchy(sync_state=sync_state):
                if change == "delete":
                    deletes.append(folder.id)
                else:
                    upserts.append(_folder(folder))
            return HierarchyPage(upserts, deletes, root.folder_sync_state)

        page: HierarchyPage = self._call("SyncFolderHierarchy", read)
        return page

    def items_page(self, folder_id: str, sync_state: str | None) -> ItemsPage:
        """The next page of item changes in a folder (IdOnly)."""
        account = self._connection.account(self.mailbox)

        def read() -> ItemsPage:
            service = _SyncFolderItems(account=account)
            changes = [
                _item_change(kind, value, folder_id)
                for kind, value in service.call(
                    folder=FolderId(id=folder_id), shape=ID_ONLY, additional_fields=set(),
                    sync_state=sync_state, ignore=None,
                    max_changes_returned=MAX_CHANGES_PER_PAGE, sync_scope=None,
                )
            ]
            state = service.sync_state or sync_state or ""
            last = bool(service.includes_last_item_in_range) or state == sync_state
            return ItemsPage(changes, state, last)

        page: ItemsPage = self._call("SyncFolderItems", read)
        return page

    def items(self, item_ids: Sequence[str]) -> dict[str, ItemSnapshot]:
        """Metadata of the items that still exist, by id, fetched in batches."""
        found: dict[str, ItemSnapshot] = {}
        # Outside the calls: account() may itself need a request slot, and a call holds one.
        account = self._connection.account(self.mailbox) if item_ids else None
        for start in range(0, len(item_ids), self._batch_size):
            batch = list(item_ids[start:start + self._batch_size])
            found.update(self._call("GetItem", lambda b=batch: self._fetch(account, b)))
        return found

    @staticmethod
    def _fetch(account: Any, batch: Iterable[str]) -> dict[str, ItemSnapshot]:
        results = list(account.fetch(ids=[(i, None) for i in batch],
                                     only_fields=list(ITEM_FIELDS)))
        # Items gone since the sync (moved again, deleted) come back as ErrorItemNotFound: the
        # next cycle's sync reports what became of them. Any other error fails the cycle, to be
        # tried again: skipping the item would lose it, as the sync state moves past it.
        failed = [r for r in results if isinstance(r, Exception)
                  and not isinstance(r, ErrorItemNotFound)]
        if failed:
            raise failed[0]
        return {r.id: _item(r) for r in results if not isinstance(r, Exception)}


def _item_change(kind: str, value: Any, folder_id: str) -> ItemChange:
    if kind == "read_flag_change":
        item_id, is_read = value
        return ItemChange(ChangeKind.READ_FLAG, item_id.id, folder_id, is_read=is_read)
    return ItemChange(ChangeKind(kind), value.id, folder_id)


def _folder(folder: Any) -> FolderSnapshot:
    parent = getattr(folder, "parent_folder_id", None)
    return FolderSnapshot(
        folder_id=folder.id,
        parent_folder_id=parent.id if parent is not None else None,
        display_name=folder.name or "",
        folder_class=folder.folder_class,
        change_key=folder.changekey,
        total_count=folder.total_count,
        unread_count=folder.unread_count,
        child_folder_count=folder.child_folder_count,
    )


def _address(mailbox: Any) -> Address | None:
    if mailbox is None:
        return None
    return Address(mailbox.name, mailbox.email_address, mailbox.routing_type)


def _addresses(mailboxes: Any) -> tuple[Address, ...]:
    return tuple(a for a in (_address(m) for m in mailboxes or ()) if a is not None)


def _when(value: Any) -> datetime | None:
    """A plain UTC datetime to the millisecond: exchangelib's EWSDateTime cannot even be
    compared with other aware datetimes, and Avro keeps milliseconds."""
    if value is None:
        return None
    plain = datetime.fromtimestamp(value.timestamp(), tz=UTC)
    return plain.replace(microsecond=plain.microsecond // 1000 * 1000)


def _item(item: Any) -> ItemSnapshot:
    flag = getattr(item, "flag_status", None)
    conversation = getattr(item, "conversation_id", None)
    search_key = getattr(item, "search_key", None)
    parent = getattr(item, "parent_folder_id", None)
    return ItemSnapshot(
        item_id=item.id,
        parent_folder_id=parent.id if parent is not None else "",
        item_class=getattr(item, "item_class", None),
        change_key=item.changekey,
        sensitivity=getattr(item, "sensitivity", None),
        subject=getattr(item, "subject", None),
        sender=_address(getattr(item, "sender", None)),
        author=_address(getattr(item, "author", None)),
        to_recipients=_addresses(getattr(item, "to_recipients", None)),
        cc_recipients=_addresses(getattr(item, "cc_recipients", None)),
        bcc_recipients=_addresses(getattr(item, "bcc_recipients", None)),
        datetime_sent=_when(getattr(item, "datetime_sent", None)),
        datetime_received=_when(getattr(item, "datetime_received", None)),
        datetime_created=_when(getattr(item, "datetime_created", None)),
        last_modified_time=_when(getattr(item, "last_modified_time", None)),
        size=getattr(item, "size", None),
        importance=getattr(item, "importance", None),
        is_read=getattr(item, "is_read", None),
        flag_status=FLAG_STATUS.get(flag, "NotFlagged") if flag is not None else None,
        categories=tuple(getattr(item, "categories", None) or ()),
        has_attachments=getattr(item, "has_attachments", None),
        internet_message_id=getattr(item, "message_id", None),
        conversation_id=getattr(conversation, "id", None) if conversation is not None else None,
        search_key=base64.b64encode(search_key).decode() if isinstance(search_key, bytes)
        else search_key,
    )
