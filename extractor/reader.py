"""What a mailbox sync needs from Exchange, whichever API answers: the seam between the sync logic
(``mailbox.py``, ``cycle.py``, ``hierarchy.py``) and the two readers, EWS (``exchange.py``) and
Microsoft Graph (``graphreader.py``).

The two differ in one way the sync logic must know about, ``stable_ids``. EWS item ids change when
an item moves (ews-identifiers-in-exchange.md), so a move is a delete plus a create that must be
paired by other means. Graph immutable ids do not change within the mailbox
(outlook-immutable-id.md: "will NOT change if the item is moved to a different folder"), so the
same id leaving one folder and arriving in another *is* the move, and an id gone from a folder
can be looked up to learn where it went. Everything else, the pages, the sync states and what
they mean, is the same shape on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from extractor.cycle import ItemChange
from extractor.model import FolderSnapshot, ItemSnapshot
from mfr.ews.errors import EwsNotFoundError, EwsSyncStateInvalidError
from mfr.graph.errors import GraphNotFoundError, GraphSyncResetError

ExchangeApi = Literal["Ews", "Graph"]  # the contract's ExchangeApi symbols

# A saved sync state the server no longer accepts: sync that scope again from scratch.
SYNC_STATE_LOST: tuple[type[Exception], ...] = (EwsSyncStateInvalidError, GraphSyncResetError)
# The folder (or mailbox object) asked about is not there any more.
NOT_FOUND: tuple[type[Exception], ...] = (EwsNotFoundError, GraphNotFoundError)


@dataclass(frozen=True)
class HierarchyPage:
    """What the folder-tree sync reported since the last sync state (all pages of it)."""

    upserts: list[FolderSnapshot]
    deletes: list[str]
    sync_state: str


@dataclass(frozen=True)
class ItemsPage:
    """One page of a folder's item sync. ``snapshots`` holds the metadata of changed items the
    page already carried (Graph's delta does; EWS's IdOnly sync does not), so they need no
    second read."""

    changes: list[ItemChange]
    sync_state: str
    last_page: bool
    snapshots: dict[str, ItemSnapshot] = field(default_factory=dict)


class Reader(Protocol):
    """Reads one mailbox for the extractor; every method blocks (call it from a worker thread)."""

    mailbox: str
    api: ExchangeApi
    stable_ids: bool  # item ids survive moves (see the module docstring)

    def well_known_folders(self) -> dict[str, str]:
        """Folder id -> distinguished name, for the root and the standard mail folders."""
        ...

    def hierarchy(self, sync_state: str | None) -> HierarchyPage:
        """Folder changes since ``sync_state`` (everything, when None)."""
        ...

    def items_page(self, folder_id: str, sync_state: str | None) -> ItemsPage:
        """The next page of item changes in a folder (from the start, when None)."""
        ...

    def folders(self, folder_ids: Sequence[str]) -> dict[str, FolderSnapshot]:
        """The folders' place in the tree now (name, parent, class, child count), by id; a
        folder missing from the answer is gone. Empty when the API has no such cheap read."""
        ...

    def items(self, item_ids: Sequence[str]) -> dict[str, ItemSnapshot]:
        """Metadata of the items that still exist, by id; missing ids are gone."""
        ...

    def classes(self, folder_id: str) -> list[tuple[str | None, str | None]] | None:
        """Item class and sensitivity of every item in the folder (what the filters need to
        count it, for the drift check); None when this reader cannot tell."""
        ...
