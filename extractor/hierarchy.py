"""One sync cycle of a mailbox's folder tree: from SyncFolderHierarchy's changes to folder states,
and to the folders whose messages must now be shown as deleted (or live again).

Folder ids are stable in EWS, so a folder's key is its id. Deleting a folder in Outlook moves it
(with its subfolders) into Deleted Items: such a folder is shown deleted at the last place it had
outside Deleted Items, and so are its messages. A folder removed for good (hard delete, or emptied
from Deleted Items) stays in the archive marked deleted, its messages with it. Pure logic: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from extractor.filters import FilterSettings
from extractor.model import FolderSnapshot, FolderState

DELETED_ITEMS = "deleteditems"


@dataclass
class FolderTree:
    """Every folder of the mailbox's message store that sync reported, replicated or not."""

    root_id: str
    distinguished: dict[str, str] = field(default_factory=dict)  # folder id -> e.g. "inbox"
    folders: dict[str, FolderSnapshot] = field(default_factory=dict)
    states: dict[str, FolderState] = field(default_factory=dict)  # published, by folder key
    api: str = "Ews"  # the Exchange API whose folder ids these are

    def knows(self, folder_id: str) -> bool:
        """Whether the folder is in the tree, or is the root or a well-known folder."""
        return folder_id in self.folders or folder_id in self.distinguished or \
            folder_id == self.root_id

    def ancestors(self, folder_id: str) -> list[str]:
        """The folder's parents, nearest first, up to (not including) the root."""
        chain: list[str] = []
        current = self.folders.get(folder_id)
        while current is not None and current.parent_folder_id not in (None, self.root_id):
            parent = current.parent_folder_id or ""
            if parent in chain:  # a cycle means inconsistent data: stop rather than loop
                break
            chain.append(parent)
            current = self.folders.get(parent)
        return chain

    def in_deleted_items(self, folder_id: str) -> bool:
        """Whether the folder is Deleted Items or lies beneath it."""
        return any(
            self.distinguished.get(f) == DELETED_ITEMS
            for f in [folder_id, *self.ancestors(folder_id)]
        )

    def same_shape(self, now: dict[str, FolderSnapshot], folder_ids: Iterable[str]) -> bool:
        """Whether the folders, as read ``now``, still sit in the tree as it knows them: only
        their counts of items may differ.

        SyncFolderHierarchy never reports a change of TotalCount or UnreadCount
        (syncfolderhierarchy-operation.md), so a Modified event for a new or read message would
        cost a hierarchy sync that finds nothing. A folder renamed, moved or re-classed differs
        here; a subfolder moved in or out (a folder moved to Deleted Items raises only Modified
        events for the two parents) changes ChildFolderCount against the children the tree
        holds. A folder missing from ``now`` is gone: not the same shape."""
        for folder_id in folder_ids:
            was, found = self.folders.get(folder_id), now.get(folder_id)
            if was is None or found is None or (
                    found.display_name, found.parent_folder_id, found.folder_class) != (
                    was.display_name, was.parent_folder_id, was.folder_class):
                return False
            children = sum(1 for f in self.folders.values() if f.parent_folder_id == folder_id)
            if found.child_folder_count != children:
                return False
        return True

    def key_of(self, folder_id: str) -> str | None:
        """The key of a replicated folder; None if it is not replicated (or not known)."""
        state = self.states.get(folder_id)
        return state.folder_key if state is not None and not state.gone else None


@dataclass
class HierarchyOutcome:
    """What a hierarchy cycle changed."""

    states: list[FolderState] = field(default_factory=list)
    trashed: set[str] = field(default_factory=set)  # folders now deleted, still in Exchange
    gone: set[str] = field(default_factory=set)  # folders no longer in Exchange at all
    restored: set[str] = field(default_factory=set)  # folders moved back out of Deleted Items


@dataclass
class HierarchyCycle:
    """Applies one page of hierarchy changes to the tree and says what changed."""

    mailbox: str
    filters: FilterSettings
    tree: FolderTree
    now: datetime

    def apply(self, upserts: list[FolderSnapshot], deletes: list[str]) -> HierarchyOutcome:
        """Apply created/updated folders, then deleted folder ids."""
        outcome = HierarchyOutcome()
        for snapshot in upserts:
            self.tree.folders[snapshot.folder_id] = snapshot
        for snapshot in upserts:
            self._upsert(snapshot, outcome)
            for descendant in self._descendants(snapshot.folder_id):  # moved with their parent
                self._upsert(self.tree.folders[descendant], outcome)
        for folder_id in deletes:
            self._remove(folder_id, outcome)
        return outcome

    def _upsert(self, snapshot: FolderSnapshot, outcome: HierarchyOutcome) -> None:
        if not self.filters.replicates_folder(snapshot):
            return
        before = self.tree.states.get(snapshot.folder_id)
        trashed = self._trashed(snapshot.folder_id)
        parent = self._replicated_parent(snapshot)
        state = FolderState(self.mailbox, snapshot.folder_id, snapshot, parent)
        if trashed:
            # Shown where the user last had it: the parent it had before entering Deleted Items.
            was_trashed = before is not None and before.deleted
            state = FolderState(
                self.mailbox, snapshot.folder_id, snapshot,
                parent_folder_key=before.parent_folder_key if before is not None else parent,
                deleted=True,
                deleted_time=before.deleted_time if before is not None and was_trashed
                else self.now,
            )
            if not was_trashed:
                outcome.trashed.add(snapshot.folder_id)
        elif before is not None and before.deleted:
            outcome.restored.add(snapshot.folder_id)
        self._publish(state, before, outcome)

    def _trashed(self, folder_id: str) -> bool:
        # Deleted Items itself is a normal folder; what lies beneath it was deleted by the user.
        return self.tree.distinguished.get(folder_id) != DELETED_ITEMS and \
            self.tree.in_deleted_items(folder_id)

    def _replicated_parent(self, snapshot: FolderSnapshot) -> str | None:
        parent = snapshot.parent_folder_id
        if parent is None or parent == self.tree.root_id:
            return None
        parent_snapshot = self.tree.folders.get(parent)
        if parent_snapshot is None or not self.filters.replicates_folder(parent_snapshot):
            return None
        return parent

    def _remove(self, folder_id: str, outcome: HierarchyOutcome) -> None:
        for descendant in self._descendants(folder_id):
            self._remove_one(descendant, outcome)
        self._remove_one(folder_id, outcome)

    def _descendants(self, folder_id: str) -> list[str]:
        return [f for f in self.tree.folders if folder_id in self.tree.ancestors(f)]

    def _remove_one(self, folder_id: str, outcome: HierarchyOutcome) -> None:
        self.tree.folders.pop(folder_id, None)
        before = self.tree.states.get(folder_id)
        if before is None or before.gone:
            return
        outcome.gone.add(folder_id)
        outcome.trashed.discard(folder_id)
        state = FolderState(
            self.mailbox, folder_id, before.snapshot, before.parent_folder_key, deleted=True,
            deleted_time=before.deleted_time if before.deleted else self.now, gone=True,
        )
        self._publish(state, before, outcome)

    def _publish(
        self, state: FolderState, before: FolderState | None, outcome: HierarchyOutcome
    ) -> None:
        self.tree.states[state.folder_key] = state
        if state != before:
            outcome.states.append(state)
