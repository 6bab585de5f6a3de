"""One sync cycle of one mailbox: hierarchy first, then the folders that need it.

* First sight of a mailbox (or a resync): the whole hierarchy, then every replicated folder.
* A folder without a finished initial sync is synced page by page, with a checkpoint after every
  page, so a crash in a 100,000-message folder resumes at the page where it stopped.
* Otherwise the cycle is incremental: all pages of all affected folders are gathered first and
  resolved together, so a move between two folders pairs up as one message.
* A SyncState (or Graph delta link) Exchange no longer accepts means that scope is synced again
  from scratch; known items keep their keys (they are recognised by id), and known messages the
  new listing lacks are looked up (Graph) or taken as deleted (EWS), so no delete is lost. Such a
  listing is checkpointed only once complete: a crash in it means starting it over, since only a
  complete listing tells what is missing.
* Graph (``Reader.stable_ids``): a message a delta reports gone is looked up by its immutable id.
  Alive in a replicated folder, it moved there; in Recoverable Items it was soft-deleted (the
  dumpster, outlook's ``recoverableitemsdeletions``); not found, hard-deleted; anywhere else it
  left the mail folders, which counts as a delete as it does for EWS. A message in a folder the
  tree does not know yet means the tree is read again first. Notifications name only a message
  (Graph does not say the folder): its folder comes from what we know, else from reading it.
* A rescan (``SyncRequest.rescan``: an admin's or the drift check's request) reads a folder again
  from scratch as a lost sync state does, then publishes every state placed there again, changed
  or not, with newer versions: what it repairs may be a consumer's loss (a message gone from the
  archive behind the pipeline's back), which the extractor's own memory does not show. Keys are
  kept, so nothing is duplicated; what the listing lacks is marked deleted, never removed.
* Checkpoints and the tree belong to one API (``Reader.api``): another API's are no resume point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog

from extractor.checkpoints import Checkpoints
from extractor.cycle import ChangeKind, Cycle, Hints, ItemChange
from extractor.drift import DriftCheck
from extractor.filters import FilterSettings
from extractor.hierarchy import FolderTree, HierarchyCycle
from extractor.model import FolderState, ItemSnapshot, MessageState
from extractor.publish import StatePublisher, now_utc
from extractor.reader import NOT_FOUND, SYNC_STATE_LOST, Reader
from extractor.requests import ALL, SyncRequest
from extractor.store import StateStore

log = structlog.get_logger(__name__)
DUMPSTER = "recoverableitemsdeletions"  # Recoverable Items: where a soft delete puts a message
REPUBLISH_BATCH = 500  # states a rescan publishes again per flush


@dataclass
class SyncResult:
    """What a cycle did, for status and metrics."""

    folders: int = 0
    messages: int = 0
    pages: int = 0
    initial_sync: bool = False
    rescanned: int = 0  # folders read again from scratch
    drifted: int = 0  # folders whose count differed from the archive's


class MailboxSync:
    """Runs sync cycles for one mailbox (blocking: call from a worker thread)."""

    def __init__(
        self,
        reader: Reader,
        store: StateStore,
        checkpoints: Checkpoints,
        publisher: StatePublisher,
        filters: FilterSettings,
    ) -> None:
        self.mailbox = reader.mailbox
        self._reader = reader
        self._store = store
        self._checkpoints = checkpoints
        self._publisher = publisher
        self._filters = filters
        self.on_progress: Callable[[str, float], None] = lambda mailbox, percent: None
        self.drift: DriftCheck | None = None  # how to compare counts with the archive
        self._progress = (0, 0)  # (items synced, items expected) of this cycle's initial syncs

    def run(self, request: SyncRequest) -> SyncResult:
        """One cycle; returns what it published."""
        result = SyncResult()
        tree = self._store.tree(self.mailbox)
        if tree is not None and tree.api != self._reader.api:
            tree = None  # another API's folder ids: start over
        first = tree is None or self._checkpoints.get(self.mailbox, None) is None
        if tree is None:
            tree = self._new_tree()
        if request.messages:
            request.folders |= self._folders_of(tree, request)
        if first or request.full or request.hierarchy or ALL in request.rescan or \
                self._tree_changed(tree, request.folder_checks):
            self._sync_hierarchy(tree, result, from_scratch=first or ALL in request.rescan)
        replicated = [k for k, s in tree.states.items() if not s.gone]
        fresh = [f for f in replicated if self._needs_initial(f)]
        wanted = set(replicated) if first or request.full else request.folders & set(replicated)
        self._incremental(tree, sorted(wanted - set(fresh)), request, result)
        # Again: the incremental part may have found new folders in the tree.
        replicated = [k for k, s in tree.states.items() if not s.gone]
        fresh = [f for f in replicated if self._needs_initial(f)]
        expected = sum(tree.folders[f].total_count or 0 for f in fresh if f in tree.folders)
        self._progress = (0, expected)
        for folder_id in fresh:
            self._initial(tree, folder_id, result)
        if fresh:  # catch what changed in the folders synced before the last one finished
            self._incremental(tree, sorted(set(replicated) - set(fresh)), request, result)
        for folder_id in self._to_rescan(tree, request, result):
            self._rescan(tree, folder_id, result)
        return result

    # --- repair --------------------------------------------------------------------------------
    def _to_rescan(self, tree: FolderTree, request: SyncRequest, result: SyncResult) -> list[str]:
        """Ids of the folders to read from scratch: those asked for, and those whose count
        differs from the archive's (now that the cycle has caught up with Exchange)."""
        live = {s.folder_key: f for f, s in tree.states.items() if not s.gone}
        keys = set(live) if ALL in request.rescan else request.rescan & set(live)
        if request.drift and self.drift is not None:
            found = self.drift.differing(self._reader, tree, self._filters)
            result.drifted = len(found)
            keys |= {d.folder_key for d in found}
        return [live[k] for k in sorted(keys)]

    def _rescan(self, tree: FolderTree, folder_id: str, result: SyncResult) -> None:
        """The folder listed from scratch, then every state placed in it published again."""
        log.info("folder read again from scratch", mailbox=self.mailbox, folder=folder_id)
        self._initial(tree, folder_id, result, resync=True)
        key = tree.key_of(folder_id)
        if key is None:
            return
        placed = self._store.view(self.mailbox).placed_at(key)
        for start in range(0, max(len(placed), 1), REPUBLISH_BATCH):
            self._commit(folders=[tree.states[folder_id]] if start == 0 else (),
                         messages=placed[start:start + REPUBLISH_BATCH])
        result.rescanned += 1
        result.folders += 1
        result.messages += len(placed)

    # --- hierarchy ---------------------------------------------------------------------------
    def _new_tree(self) -> FolderTree:
        known = self._reader.well_known_folders()
        root = next(i for i, name in known.items() if name == "msgfolderroot")
        tree = FolderTree(root, {i: n for i, n in known.items() if i != root},
                          api=self._reader.api)
        # The folders already published (a lost tree, or a mailbox taken over from another
        # extractor): the listing from scratch that follows must see which of them are gone.
        for state in self._store.folder_states(self.mailbox, self._reader.api):
            tree.states[state.folder_key] = state
            if not state.gone:
                tree.folders[state.snapshot.folder_id] = state.snapshot
        return tree

    def _folders_of(self, tree: FolderTree, request: SyncRequest) -> set[str]:
        """The folders holding the messages a Graph notification named: where we know them,
        else where Graph has them now; a folder the tree does not know asks for the tree."""
        view = self._store.view(self.mailbox)
        folders: set[str] = set()
        unknown: list[str] = []
        for message_id in sorted(request.messages):
            known = view.by_item_id(message_id) or view.by_key(message_id)
            if known is not None and known.folder_key:
                folders.add(known.folder_key)
            else:
                unknown.append(message_id)
        for snapshot in self._reader.items(unknown).values():
            folders.add(snapshot.parent_folder_id)
            if not tree.knows(snapshot.parent_folder_id):
                request.hierarchy = True
        return folders

    def _tree_changed(self, tree: FolderTree, folder_ids: set[str]) -> bool:
        """Whether Modified events on these folders may mean more than a count change (one
        GetFolder; see ``FolderTree.same_shape`` and the README)."""
        if not folder_ids:
            return False
        if not all(f in tree.folders for f in folder_ids):
            return True
        return not tree.same_shape(self._reader.folders(sorted(folder_ids)), folder_ids)

    def _sync_hierarchy(self, tree: FolderTree, result: SyncResult, from_scratch: bool) -> None:
        checkpoint = self._checkpoints.get(self.mailbox, None)
        state = None if from_scratch or checkpoint is None else checkpoint["sync_state"]
        try:
            page = self._reader.hierarchy(state)
        except SYNC_STATE_LOST:
            log.warning("hierarchy sync state rejected; listing every folder", mailbox=self.mailbox)
            state, page = None, self._reader.hierarchy(None)
        if state is not None and not page.upserts and not page.deletes:
            # Nothing changed (Graph's periodic tree check, mostly): the saved state still
            # leads here, so nothing is written, not even a checkpoint.
            return
        upserts = [replace(f, distinguished_name=tree.distinguished.get(f.folder_id))
                   for f in page.upserts]
        deletes = list(page.deletes)
        if state is None:  # a full listing: what it lacks is gone
            listed = {f.folder_id for f in upserts}
            deletes += [f for f in tree.folders if f not in listed]
        now = now_utc()
        outcome = HierarchyCycle(self.mailbox, self._filters, tree, now).apply(upserts, deletes)
        messages = self._cycle(tree, Hints(), now).folders_changed(outcome)
        checkpoint = self._checkpoint(None, page.sync_state, phase="Live")
        self._commit(outcome.states, messages, tree, [checkpoint])
        for folder_id in outcome.gone:
            self._checkpoints.forget(self.mailbox, folder_id)
        result.folders += len(outcome.states)
        result.messages += len(messages)

    # --- items ---------------------------------------------------------------------------------
    def _cycle(self, tree: FolderTree, hints: Hints, now: datetime) -> Cycle:
        return Cycle(self.mailbox, self._filters, tree, self._store.view(self.mailbox), now, hints,
                     stable_ids=self._reader.stable_ids)

    def _needs_initial(self, folder_id: str) -> bool:
        checkpoint = self._checkpoints.get(self.mailbox, folder_id)
        return checkpoint is None or checkpoint["phase"] == "InitialSync"

    def _initial(
        self, tree: FolderTree, folder_id: str, result: SyncResult, resync: bool = False
    ) -> None:
        """Page through a folder from its checkpoint (or the start), publishing every page. A
        ``resync`` lists the folder again from scratch, after its sync state was lost."""
        checkpoint = {} if resync else self._checkpoints.get(self.mailbox, folder_id) or {}
        state = checkpoint.get("sync_state")
        pages, synced = checkpoint.get("pages", 0), checkpoint.get("items_synced", 0)
        total = checkpoint.get("items_total") or (tree.folders[folder_id].total_count
                                                  if folder_id in tree.folders else None)
        seen: set[str] = set()
        while True:
            try:
                page = self._reader.items_page(folder_id, state)
            except SYNC_STATE_LOST:
                if state is None:
                    raise
                log.warning("sync state rejected; folder listed again", folder=folder_id)
                state, pages, synced, resync = None, 0, 0, True
                seen.clear()
                continue
            changes = list(page.changes)
            seen |= {c.item_id for c in changes if c.kind is not ChangeKind.DELETE}
            if resync and page.last_page:
                changes += self._missing(tree, folder_id, seen)
            messages = self._resolve(tree, changes, Hints(), result, page.snapshots)
            state, pages, synced = page.sync_state, pages + 1, synced + len(page.changes)
            checkpoints = [self._checkpoint(
                folder_id, state, "Live" if page.last_page else "InitialSync", pages=pages,
                items_synced=synced, items_total=total)] if page.last_page or not resync else []
            self._commit(messages=messages, checkpoints=checkpoints)
            result.pages += 1
            result.messages += len(messages)
            result.initial_sync = True
            self._report(len(page.changes))
            if page.last_page:
                return

    def _missing(self, tree: FolderTree, folder_id: str, seen: set[str]) -> list[ItemChange]:
        """After a complete listing from scratch: the messages known in the folder that it
        lacks are gone from it (the deletes the lost sync state would have reported)."""
        key = tree.key_of(folder_id)
        if key is None:
            return []
        known = self._store.view(self.mailbox).in_folder(key)
        return [ItemChange(ChangeKind.DELETE, m.item_id, folder_id) for m in known
                if m.item_id and m.item_id not in seen]

    def _report(self, synced_now: int) -> None:
        synced, expected = self._progress
        self._progress = (synced + synced_now, expected)
        if expected:
            self.on_progress(self.mailbox, min(100.0, 100.0 * (synced + synced_now) / expected))

    def _incremental(
        self, tree: FolderTree, folders: Iterable[str], request: SyncRequest, result: SyncResult
    ) -> None:
        changes: list[ItemChange] = []
        snapshots: dict[str, ItemSnapshot] = {}
        states: dict[str, str] = {}
        vanished = False
        for folder_id in folders:
            try:
                changes += self._pages(folder_id, states, snapshots)
            except SYNC_STATE_LOST:
                log.warning("sync state rejected; folder listed again", folder=folder_id)
                self._initial(tree, folder_id, result, resync=True)
            except NOT_FOUND:
                vanished = True  # the folder went away: the hierarchy will say so
        if states:
            changes += self._unreported(tree, request, changes)
            messages = self._resolve(tree, changes, request.hints, result, snapshots)
            touched = {c.folder_id for c in changes}
            checkpoints = [self._checkpoint(f, s, "Live") for f, s in states.items()
                           if self._moved(f, s, touched)]
            if messages or checkpoints:
                self._commit(messages=messages, checkpoints=checkpoints)
            result.messages += len(messages)
        if vanished:  # (a hierarchy sync the cycle began with ran before the folder vanished)
            self._sync_hierarchy(tree, result, from_scratch=False)

    def _unreported(
        self, tree: FolderTree, request: SyncRequest, changes: list[ItemChange]
    ) -> list[ItemChange]:
        """Graph: messages a notification named, shown live, that no delta of this cycle
        mentions. A message whose arrival was learnt by id (``_locate``) is newer than its
        folder's delta link; deleted before that delta is read again, the delta says nothing of
        it. Taken as gone from where we show it: ``_locate`` finds where it is, or that it is
        not."""
        if not request.messages or not self._reader.stable_ids:
            return []
        mentioned = {c.item_id for c in changes}
        view = self._store.view(self.mailbox)
        unreported = []
        for message_id in sorted(request.messages - mentioned):
            known = view.by_item_id(message_id)
            if known is not None and known.folder_key and tree.key_of(known.folder_key):
                unreported.append(ItemChange(ChangeKind.DELETE, message_id, known.folder_key))
        return unreported

    def _pages(
        self, folder_id: str, states: dict[str, str], snapshots: dict[str, ItemSnapshot]
    ) -> list[ItemChange]:
        checkpoint = self._checkpoints.get(self.mailbox, folder_id) or {}
        state = checkpoint.get("sync_state")
        changes: list[ItemChange] = []
        while True:
            page = self._reader.items_page(folder_id, state)
            changes += page.changes
            snapshots.update(page.snapshots)
            state = page.sync_state
            if page.last_page:
                states[folder_id] = state
                return changes

    def _resolve(
        self, tree: FolderTree, changes: list[ItemChange], hints: Hints, result: SyncResult,
        snapshots: dict[str, ItemSnapshot],
    ) -> list[Any]:
        snapshots = dict(snapshots)
        wanted = [c.item_id for c in changes if c.kind in (ChangeKind.CREATE, ChangeKind.UPDATE)
                  and c.item_id not in snapshots]
        snapshots.update(self._reader.items(list(dict.fromkeys(wanted))))
        if self._reader.stable_ids:
            hints = self._locate(tree, changes, snapshots, hints, result)
        else:
            hints = replace(hints, vanished=self._vanished(changes, snapshots))
        return self._cycle(tree, hints, now_utc()).resolve(changes, snapshots)

    def _locate(
        self, tree: FolderTree, changes: list[ItemChange], snapshots: dict[str, ItemSnapshot],
        hints: Hints, result: SyncResult,
    ) -> Hints:
        """Graph: where the messages a delta reported gone went (see the module docstring).
        Those now in a replicated folder join ``snapshots``: the cycle takes them as moves."""
        view = self._store.view(self.mailbox)
        # Only messages we show can have gone somewhere that matters; never-replicated ones
        # (Private, not mail) leaving a folder cost no lookup.
        gone = [i for i in dict.fromkeys(c.item_id for c in changes if c.kind is
                                         ChangeKind.DELETE and c.item_id not in snapshots)
                if view.by_item_id(i) is not None]
        if not gone:
            return hints
        found = self._reader.items(gone)
        if not all(tree.knows(s.parent_folder_id) for s in found.values()):
            self._sync_hierarchy(tree, result, from_scratch=False)  # a folder made since
        soft, hard = set(hints.soft_deleted), set(hints.hard_deleted)
        for item_id in gone:
            snapshot = found.get(item_id)
            if snapshot is None:
                hard.add(item_id)
            elif tree.key_of(snapshot.parent_folder_id) is not None:
                snapshots[item_id] = snapshot
            elif tree.distinguished.get(snapshot.parent_folder_id) == DUMPSTER:
                soft.add(item_id)
        return replace(hints, soft_deleted=soft, hard_deleted=hard)

    def _vanished(self, changes: list[ItemChange], snapshots: dict[str, Any]) -> set[str]:
        """Known messages a created item may have moved from, whose delete this cycle did not
        report (their folder is synced later): the ones GetItem no longer finds. A copy leaves
        its original in place; a move does not."""
        known = self._store.view(self.mailbox)
        deleted = {c.item_id for c in changes if c.kind is ChangeKind.DELETE}
        suspects: set[str] = set()
        for change in changes:
            item = snapshots.get(change.item_id)
            if change.kind is not ChangeKind.CREATE or item is None or \
                    known.by_item_id(item.item_id) is not None or \
                    (item.search_key is None and item.internet_message_id is None):
                continue
            suspects |= {m.item_id for m in known.by_fingerprint(item.fingerprint)
                         if m.item_id and m.item_id not in deleted}
        if not suspects:
            return set()
        return suspects - set(self._reader.items(sorted(suspects)))

    def _moved(self, folder_id: str, sync_state: str, touched: set[str]) -> bool:
        """Whether a folder's new sync state is worth a checkpoint record. One that reported no
        change leads where the saved one does: an EWS SyncState replays from its own point and
        does not expire, so the saved one stays. A Graph delta link can expire, so it is always
        renewed."""
        previous = self._checkpoints.get(self.mailbox, folder_id)
        if previous is None or previous["phase"] != "Live":
            return True
        if previous["sync_state"] == sync_state:
            return False
        return folder_id in touched or self._reader.api != "Ews"

    def _checkpoint(
        self, folder_id: str | None, sync_state: str | None, phase: str, **progress: Any
    ) -> dict[str, Any]:
        previous = self._checkpoints.get(self.mailbox, folder_id) or {}
        return {
            "exchange_api": self._reader.api,
            "mailbox": self.mailbox,
            "scope": "Hierarchy" if folder_id is None else "Folder",
            "folder_id": folder_id,
            "sync_state": sync_state,
            "phase": phase,
            "pages": progress.get("pages", previous.get("pages", 0)),
            "items_synced": progress.get("items_synced", previous.get("items_synced", 0)),
            "items_total": progress.get("items_total", previous.get("items_total")),
        }

    def _commit(
        self, folders: Sequence[FolderState] = (), messages: Sequence[MessageState] = (),
        tree: FolderTree | None = None, checkpoints: Sequence[dict[str, Any]] = (),
    ) -> None:
        """One step's states and the checkpoints past them: one flush, one store transaction
        (``StatePublisher.states``); the checkpoints count only once the bus has them."""
        self._publisher.states(self.mailbox, folders, messages, tree, checkpoints)
        for datum in checkpoints:
            self._checkpoints.put(datum)
