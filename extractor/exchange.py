"""Blocking reads of one mailbox from EWS, through exchangelib, returned in the extractor's types.

Every call goes through ``EwsConnection.call`` (throttle, back-off, retries, error translation).
Sync follows Microsoft's best practice: SyncFolderItems with IdOnly, page by page, then GetItem in
batches for exactly the metadata fields MISSION.md lists (never bodies or attachments).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from exchangelib import ExtendedProperty, Folder, Message
from exchangelib.errors import ErrorFolderNotFound, ErrorItemNotFound, MalformedResponseError
from exchangelib.fields import FieldPath
from exchangelib.items.base import ID_ONLY
from exchangelib.properties import FolderId
from exchangelib.services import SyncFolderItems
from exchangelib.services.common import shape_element
from exchangelib.services.sync_folder_hierarchy import SyncFolder
from exchangelib.util import MNS, TNS

from extractor.cycle import ChangeKind, ItemChange
from extractor.folderxml import SnapshotGetFolder
from extractor.itemxml import FLAG_STATUS, SnapshotGetItem, item_shape, read_bool
from extractor.model import FolderSnapshot, ItemSnapshot
from extractor.reader import ExchangeApi, HierarchyPage, ItemsPage
from mfr.ews import EwsConnection

MAX_CHANGES_PER_PAGE = 512  # SyncFolderItems' maximum
FIND_PAGE = 1000  # FindItem's items per page when counting (Exchange's default maximum)
ITEM_FIELDS = (
    "parent_folder_id", "item_class", "sensitivity", "subject", "sender", "author",
    "to_recipients", "cc_recipients", "bcc_recipients", "datetime_sent", "datetime_received",
    "datetime_created", "last_modified_time", "size", "importance", "is_read", "flag_status",
    "categories", "has_attachments", "message_id", "conversation_id", "search_key",
)
FOLDER_FIELDS = ("name", "parent_folder_id", "folder_class", "child_folder_count")
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

    folder_id = ""  # the folder synced, for the changes this answers

    def _elem_to_obj(self, elem: Any) -> ItemChange:
        """A change straight from its XML element: an IdOnly page needs the id alone, not the
        exchangelib item exchangelib would build for every created or updated one."""
        kind = ChangeKind(self.change_types_map[elem.tag])
        holder = elem if kind in (ChangeKind.DELETE, ChangeKind.READ_FLAG) else elem[0]
        item_id = holder.find(f"{{{TNS}}}ItemId")
        if item_id is None or not item_id.get("Id"):
            raise MalformedResponseError(f"a SyncFolderItems {kind} without an ItemId")
        is_read = None
        if kind is ChangeKind.READ_FLAG:
            is_read = read_bool(elem.findtext(f"{{{TNS}}}IsRead") or "")
        return ItemChange(kind, item_id.get("Id"), self.folder_id, is_read=is_read)

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
        self._additional: Any = None  # GetItem's field paths, once known
        self._folder_shape_xml: Any = None  # GetFolder's FolderShape element, once made
        self._item_shape_xml: Any = None  # GetItem's ItemShape element, once made

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
            # exchangelib takes "no state" as "the last state this (cached) root saw": a listing
            # from scratch would then report only what changed since, and every other folder would
            # look gone.
            root.folder_sync_state = sync_state
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
            service.folder_id = folder_id
            changes: list[ItemChange] = list(service.call(
                folder=FolderId(id=folder_id), shape=ID_ONLY, additional_fields=set(),
                sync_state=sync_state, ignore=None, max_changes_returned=MAX_CHANGES_PER_PAGE,
                sync_scope=None,
            ))
            state = service.sync_state or sync_state or ""
            last = bool(service.includes_last_item_in_range) or state == sync_state
            return ItemsPage(changes, state, last)

        page: ItemsPage = self._call("SyncFolderItems", read)
        return page

    def folders(self, folder_ids: Sequence[str]) -> dict[str, FolderSnapshot]:
        """The folders' name, parent, class and child count, by id (GetFolder, one request);
        a folder Exchange no longer has is missing from the answer."""
        if not folder_ids:
            return {}
        account = self._connection.account(self.mailbox)

        def read() -> dict[str, FolderSnapshot]:
            found = list(SnapshotGetFolder(account=account, shape=self._folder_shape(account))
                         .call(folders=folder_ids))
            failed = [f for f in found if isinstance(f, Exception)
                      and not isinstance(f, ErrorFolderNotFound | ErrorItemNotFound)]
            if failed:
                raise failed[0]
            return {f.folder_id: f for f in found if isinstance(f, FolderSnapshot)}

        answer: dict[str, FolderSnapshot] = self._call("GetFolder", read)
        return answer

    def classes(self, folder_id: str) -> list[tuple[str | None, str | None]]:
        """Item class and sensitivity of every item in the folder (FindItem, 1,000 a page)."""
        account = self._connection.account(self.mailbox)

        def read() -> list[tuple[str | None, str | None]]:
            query = Folder(root=account.root, id=folder_id).all()
            query.page_size = FIND_PAGE
            return [(c, s) for c, s in query.values_list("item_class", "sensitivity")]

        found: list[tuple[str | None, str | None]] = self._call("FindItem", read)
        return found

    def items(self, item_ids: Sequence[str]) -> dict[str, ItemSnapshot]:
        """Metadata of the items that still exist, by id, fetched in batches."""
        found: dict[str, ItemSnapshot] = {}
        # Outside the calls: account() may itself need a request slot, and a call holds one.
        account = self._connection.account(self.mailbox) if item_ids else None
        for start in range(0, len(item_ids), self._batch_size):
            batch = list(item_ids[start:start + self._batch_size])
            found.update(self._call("GetItem", lambda b=batch: self._fetch(account, b)))
        return found

    def _fetch(self, account: Any, batch: Iterable[str]) -> dict[str, ItemSnapshot]:
        service = SnapshotGetItem(account=account, chunk_size=self._batch_size,
                                  item_shape=self._item_shape(account))
        results = list(service.call(items=[(i, None) for i in batch],
                                    additional_fields=self._fields(account), shape=ID_ONLY))
        # Items gone since the sync (moved again, deleted) come back as ErrorItemNotFound: the
        # next cycle's sync reports what became of them. Any other error fails the cycle, to be
        # tried again: skipping the item would lose it, as the sync state moves past it.
        failed = [r for r in results if isinstance(r, Exception)
                  and not isinstance(r, ErrorItemNotFound)]
        if failed:
            raise failed[0]
        return {r.item_id: r for r in results if isinstance(r, ItemSnapshot)}

    def _folder_shape(self, account: Any) -> Any:
        """GetFolder's ``FolderShape`` for FOLDER_FIELDS, made once (``folderxml.py``)."""
        if self._folder_shape_xml is None:
            fields = {FieldPath(field=Folder.get_field_by_fieldname(n)) for n in FOLDER_FIELDS}
            self._folder_shape_xml = shape_element(
                tag="m:FolderShape", shape=ID_ONLY, additional_fields=fields,
                version=account.version)
        return self._folder_shape_xml

    def _item_shape(self, account: Any) -> Any:
        """GetItem's ``ItemShape`` for ITEM_FIELDS, made once (``itemxml.py``)."""
        if self._item_shape_xml is None:
            self._item_shape_xml = item_shape(self._fields(account), ID_ONLY, account.version)
        return self._item_shape_xml

    def _fields(self, account: Any) -> Any:
        """ITEM_FIELDS as GetItem's AdditionalProperties, worked out once (as ``fetch`` does)."""
        if self._additional is None:
            folder = Folder(root=account.root)
            self._additional = {f for f in folder.normalize_fields(fields=list(ITEM_FIELDS))
                                if not f.field.is_attribute}
        return self._additional


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
