"""Blocking reads of one mailbox through Microsoft Graph, returned in the extractor's types: the
Graph side of ``extractor.reader.Reader``, for Exchange Online where EWS is going away.

Every request goes through ``mfr.graph.GraphClient`` (token, per-mailbox throttle and Retry-After,
retries, errors translated) with ``Prefer: IdType="ImmutableId"``, because the header "only
applies to the request it is included with" (outlook-immutable-id.md): an id read without it
would be a default id that changes on the next move.

* **Folder tree**: ``mailFolders/delta`` (mailfolder-delta.md), all pages of a round, upserts and
  ``@removed``. That function takes ``$select`` only (its page lists no ``$expand``, and the
  simulator, following it, refuses one), and v1.0's mailFolder has no class property (the CSDL),
  so PR_CONTAINER_CLASS (``String 0x3613``) is read once per folder not seen before, with
  ``GET mailFolders/{id}?$select=id&$expand=singleValueExtendedProperties($filter=...)``,
  batched. Graph lists only mail folders there, so non-mail folders never reach the tree.
* **Messages**: ``mailFolders/{id}/messages/delta`` (delta-query-messages.md: ``$select``,
  ``$expand`` and ``Prefer: odata.maxpagesize`` are supported), ``$select`` only MISSION.md's
  fields plus the extended properties for sensitivity, class, size and search key. A delta entry
  carries the metadata already, so a page's snapshots need no second read. The nextLink or
  deltaLink of a page is the folder's sync state: the extractor checkpoints it per page exactly
  as it does EWS's SyncState; the links encode the query options (delta-query-overview.md), so a
  resumed page needs nothing else.
* **Messages by id**: ``GET users/{id}/messages/{immutable id}``, batched, for ids a delta
  reported gone (where did it go?) and ids a notification named.
* **Counting** for the drift check: ``GET mailFolders/{id}/messages`` (mailfolder-list-messages.md)
  with ``$top=1000``, ``$select=id`` and the class and sensitivity extended properties: what the
  filters need and nothing else, 1,000 messages a request. Not the delta: a count must not move
  (or need) a sync state, and a delta page carries each message's metadata.
* **Well-known folders** by name, ``GET mailFolders/{name}?$select=id`` (mailfolder.md), one
  batch; ``recoverableitemsdeletions`` too, so a message found there is known to be soft-deleted.

An expired or invalid delta link is a ``GraphSyncResetError`` (410, ``syncStateNotFound``,
``resyncRequired``) that the caller answers by starting that scope over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from extractor import graphmodel
from extractor.cycle import ChangeKind, ItemChange
from extractor.graphbatch import GraphGets, relative_url, user_path
from extractor.model import FolderSnapshot, ItemSnapshot
from extractor.reader import ExchangeApi, HierarchyPage, ItemsPage
from mfr.graph import GraphClient

IMMUTABLE_IDS = 'IdType="ImmutableId"'
WELL_KNOWN = (
    "msgfolderroot", "inbox", "sentitems", "deleteditems", "drafts", "junkemail", "outbox",
    "recoverableitemsdeletions",
)  # fmt: skip
DUMPSTER = "recoverableitemsdeletions"


class GraphReader:
    """Reads one mailbox through Graph; every method blocks (call it from a worker thread)."""

    api: ExchangeApi = "Graph"
    stable_ids = True  # immutable ids

    def __init__(
        self, client: GraphClient, mailbox: str, *, page_size: int = 100, batch: bool = True
    ) -> None:
        self._client = client
        self.mailbox = mailbox
        self._user = user_path(mailbox)
        self._headers = {"Prefer": IMMUTABLE_IDS}
        self._paged = {"Prefer": f"odata.maxpagesize={page_size}, {IMMUTABLE_IDS}"}
        self.gets = GraphGets(client, mailbox, self._headers, batch=batch)
        self._classes: dict[str, str | None] = {}  # folder id -> PR_CONTAINER_CLASS

    def _get(self, link: str, doing: str, headers: dict[str, str]) -> dict[str, Any]:
        self.gets.round_trips += 1
        return self._client.get_json(
            link, mailbox=self.mailbox, doing=f"{doing} for {self.mailbox}", headers=headers
        )

    def well_known_folders(self) -> dict[str, str]:
        """Folder id -> well-known name, for msgfolderroot, the standard mail folders and the
        Recoverable Items deletions folder (those the mailbox has)."""
        urls = {
            name: relative_url(f"{self._user}/mailFolders/{name}", {"$select": "id"})
            for name in WELL_KNOWN
        }
        found = self.gets.get(urls, f"reading the well-known folders of {self.mailbox}")
        return {str(body["id"]): name for name, body in found.items() if body}

    def hierarchy(self, sync_state: str | None) -> HierarchyPage:
        """Folder changes since ``sync_state`` (a delta link; everything, when None)."""
        link = sync_state or relative_url(
            f"{self._user}/mailFolders/delta", {"$select": ",".join(graphmodel.FOLDER_FIELDS)}
        )
        upserts: list[dict[str, Any]] = []
        deletes: list[str] = []
        while True:
            page = self._get(link, "mailFolders delta", self._paged)
            for entry in page.get("value") or ():
                if graphmodel.removed(entry):
                    deletes.append(str(entry["id"]))
                else:
                    upserts.append(entry)
            next_link = page.get("@odata.nextLink")
            if not isinstance(next_link, str):
                break
            link = next_link
        classes = self._folder_classes([str(e["id"]) for e in upserts])
        return HierarchyPage(
            [graphmodel.folder(e, classes.get(str(e["id"]))) for e in upserts],
            deletes,
            str(page.get("@odata.deltaLink") or link),
        )

    def _folder_classes(self, folder_ids: Sequence[str]) -> dict[str, str | None]:
        unknown = [f for f in dict.fromkeys(folder_ids) if f not in self._classes]
        if unknown:
            urls = {
                f: relative_url(f"{self._user}/mailFolders/{f}", graphmodel.FOLDER_CLASS_QUERY)
                for f in unknown
            }
            for folder_id, body in self.gets.get(urls, "reading folder classes").items():
                self._classes[folder_id] = (
                    graphmodel.extended(body, graphmodel.CONTAINER_CLASS) if body else None
                )
        return {f: self._classes.get(f) for f in folder_ids}

    def items_page(self, folder_id: str, sync_state: str | None) -> ItemsPage:
        """The next page of a folder's message delta (from the start, when None)."""
        link = sync_state or relative_url(
            f"{self._user}/mailFolders/{folder_id}/messages/delta", graphmodel.MESSAGE_QUERY
        )
        page = self._get(link, f"messages delta of folder {folder_id}", self._paged)
        changes: list[ItemChange] = []
        snapshots: dict[str, ItemSnapshot] = {}
        for entry in page.get("value") or ():
            item_id = str(entry["id"])
            if graphmodel.removed(entry):
                changes.append(ItemChange(ChangeKind.DELETE, item_id, folder_id))
                continue
            # Graph does not say whether an entry is new or changed; the cycle knows the ids.
            changes.append(ItemChange(ChangeKind.UPDATE, item_id, folder_id))
            snapshots[item_id] = graphmodel.item(entry)
        next_link, delta_link = page.get("@odata.nextLink"), page.get("@odata.deltaLink")
        state = next_link if isinstance(next_link, str) else delta_link
        if not isinstance(state, str):
            raise ValueError(f"a delta page of {self.mailbox} carries neither link")
        return ItemsPage(changes, state, not isinstance(next_link, str), snapshots)

    def folders(self, folder_ids: Sequence[str]) -> dict[str, FolderSnapshot]:
        """Nothing: Graph has no folder events to check, its tree check is the folder delta."""
        return {}

    def classes(self, folder_id: str) -> list[tuple[str | None, str | None]]:
        """Class and sensitivity of every message in the folder, for the drift check: the
        folder's message list, ``id`` and the two extended properties only, 1,000 a page, one
        request per page (nextLinks followed on Graph's host only, by the client)."""
        link = relative_url(
            f"{self._user}/mailFolders/{folder_id}/messages", graphmodel.COUNT_QUERY
        )
        doing = f"counting the messages of folder {folder_id} for {self.mailbox}"
        found: list[tuple[str | None, str | None]] = []
        for page in self._client.pages(
            link, mailbox=self.mailbox, doing=doing, headers=self._headers
        ):
            self.gets.round_trips += 1
            entries = page.get("value") or []
            if not isinstance(entries, list) or not all(isinstance(m, dict) for m in entries):
                raise ValueError(f"{doing}: the page's value is not a list of messages")
            found += [graphmodel.classes(m) for m in entries]
        return found

    def items(self, item_ids: Sequence[str]) -> dict[str, ItemSnapshot]:
        """The messages that still exist, wherever they are now, by immutable id."""
        urls = {
            i: relative_url(f"{self._user}/messages/{quote(i, safe='=')}", graphmodel.MESSAGE_QUERY)
            for i in dict.fromkeys(item_ids)
        }
        if not urls:
            return {}
        found = self.gets.get(urls, f"reading messages of {self.mailbox}")
        return {i: graphmodel.item(body) for i, body in found.items() if body}
