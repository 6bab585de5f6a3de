"""One sync cycle of a mailbox's messages: from what SyncFolderItems and GetItem said, and the
notifications that prompted it, to the messages' new states.

This is where moves stay moves. EWS gives a moved item a new id, and SyncFolderItems reports it as
a delete in one folder and a create in another. A create is paired with a delete (1) when a Moved
notification names both ids, else (2) when both carry the same PR_SEARCH_KEY and Internet
Message-ID — the delete may also be one the next cycle will report, when GetItem already no
longer finds the old id — else (3) when it matches a message an earlier cycle saw vanish from
every folder (the two halves of a move fell into different cycles). A paired create keeps the
message's key. A create that matches a message still alive elsewhere is a copy and gets a key of
its own. Deletes nobody claims are deletions, kept with their last known folder.

With ``stable_ids`` (Graph's immutable ids, outlook-immutable-id.md) none of that guessing is
needed, and none is done: a message is its id. An id arriving in a folder is that message, moved,
restored, or new; a gone id found alive elsewhere (the snapshot the caller looked up) is a move;
an id leaving a folder it is no longer known in (it already arrived elsewhere) is ignored; an id
never seen before is a new message, also when its search key matches another (a copy). Pure
logic: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from extractor.filters import FilterSettings, Verdict
from extractor.hierarchy import HierarchyOutcome
from extractor.model import DeleteKind, ItemSnapshot, MessageState


class ChangeKind(StrEnum):
    """SyncFolderItems change types."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    READ_FLAG = "read_flag_change"


@dataclass(frozen=True)
class ItemChange:
    """One change SyncFolderItems reported for a folder."""

    kind: ChangeKind
    item_id: str
    folder_id: str
    is_read: bool | None = None


@dataclass
class Hints:
    """What the cycle's notifications said, beyond "something changed"."""

    moved_from: dict[str, str] = field(default_factory=dict)  # new item id -> old item id
    soft_deleted: set[str] = field(default_factory=set)  # ids moved out of replicated folders
    hard_deleted: set[str] = field(default_factory=set)  # ids of Deleted events
    vanished: set[str] = field(default_factory=set)  # known ids GetItem no longer finds


class Folders(Protocol):
    """The mailbox's replicated folders, as the hierarchy sync knows them."""

    def key_of(self, folder_id: str) -> str | None:
        """The folder key of a replicated folder; None if the folder is not replicated."""

    def in_deleted_items(self, folder_id: str) -> bool:
        """Whether the folder is Deleted Items or lies beneath it."""


class Known(Protocol):
    """The states the extractor last published for this mailbox."""

    def by_item_id(self, item_id: str) -> MessageState | None:
        """The message whose current EWS id this is."""

    def by_key(self, message_key: str) -> MessageState | None:
        """The message with this key."""

    def by_fingerprint(self, fingerprint: tuple[str | None, str | None]) -> list[MessageState]:
        """Messages with this search key and Message-ID (copies share them)."""

    def in_folder(self, folder_key: str) -> list[MessageState]:
        """Messages whose current folder is this one."""


@dataclass
class Cycle:
    """Resolves one cycle; ``resolve`` returns the states that changed."""

    mailbox: str
    filters: FilterSettings
    folders: Folders
    known: Known
    now: datetime
    hints: Hints = field(default_factory=Hints)
    stable_ids: bool = False  # ids survive moves (Graph immutable ids)
    _out: dict[str, MessageState] = field(default_factory=dict)

    def resolve(
        self, changes: Iterable[ItemChange], snapshots: Mapping[str, ItemSnapshot]
    ) -> list[MessageState]:
        """New states for every message the changes touched, in a stable order."""
        changes = list(changes)
        deleted = {c.item_id: c for c in changes if c.kind is ChangeKind.DELETE
                   and not (self.stable_ids and c.item_id in snapshots)}
        claimed: set[str] = set()
        for change in changes:
            snapshot = snapshots.get(change.item_id)
            if change.kind is ChangeKind.CREATE and snapshot is not None:
                self._created(snapshot, deleted, claimed)
            elif change.kind is ChangeKind.UPDATE and snapshot is not None:
                self._updated(snapshot, deleted, claimed)
            elif change.kind is ChangeKind.DELETE and snapshot is not None and self.stable_ids:
                self._updated(snapshot, deleted, claimed)  # gone from here, alive there: moved
            elif change.kind is ChangeKind.READ_FLAG:
                self._read_flag(change)
        for item_id, change in deleted.items():
            if item_id not in claimed:
                self._deleted(change)
        return list(self._out.values())

    def folders_changed(self, outcome: HierarchyOutcome) -> list[MessageState]:
        """States of the messages inside folders that were deleted, removed or restored."""
        for key in outcome.trashed | outcome.gone:
            for message in self._in_folder(key):
                self._emit(self._with_folder_deleted(message, gone=key in outcome.gone))
        for key in outcome.restored:
            for message in self._in_folder(key):
                if message.delete_kind is DeleteKind.FOLDER_DELETED:
                    self._emit(message.evolve(deleted=False, deleted_time=None,
                                              delete_kind=None, last_known_folder_key=key))
        return list(self._out.values())

    def _in_folder(self, folder_key: str) -> list[MessageState]:
        found = {m.message_key: m for m in self.known.in_folder(folder_key)}
        found.update({k: m for k, m in self._out.items() if m.folder_key == folder_key})
        return [m for m in found.values() if m.folder_key == folder_key]

    def _with_folder_deleted(self, message: MessageState, gone: bool) -> MessageState:
        if gone:
            message = message.evolve(item_id=None, folder_key=None)
        if message.deleted:
            return message
        return message.evolve(deleted=True, deleted_time=self.now,
                              delete_kind=DeleteKind.FOLDER_DELETED,
                              last_known_folder_key=message.last_known_folder_key)

    def _current(self, item_id: str) -> MessageState | None:
        for state in self._out.values():
            if state.item_id == item_id:
                return state
        if not self.stable_ids:
            return self.known.by_item_id(item_id)
        # A message's key is the first id it had, which an immutable id keeps being: this also
        # finds a message that was deleted (its item_id cleared) and has now come back.
        found = self._out.get(item_id) or self.known.by_item_id(item_id) or \
            self.known.by_key(item_id)
        return self._out.get(found.message_key, found) if found is not None else None

    def _emit(self, state: MessageState) -> None:
        previous = self._out.get(state.message_key) or self.known.by_key(state.message_key)
        if previous != state:
            self._out[state.message_key] = state

    def _created(
        self, item: ItemSnapshot, deleted: Mapping[str, ItemChange], claimed: set[str]
    ) -> None:
        same = self._current(item.item_id)
        if same is not None:  # a sync from scratch reports known items as created again
            self._place(same, item)
            return
        origin = self._origin(item, deleted, claimed)
        if origin is not None:
            claimed.add(origin.item_id or "")
            self._place(origin, item)
        elif self.filters.verdict(item) is Verdict.REPLICATE:
            self._place(None, item)

    def _origin(
        self, item: ItemSnapshot, deleted: Mapping[str, ItemChange], claimed: set[str]
    ) -> MessageState | None:
        if self.stable_ids:
            return None  # an id never seen is a message never seen: new, or a copy
        old_id = self.hints.moved_from.get(item.item_id)
        if old_id is not None and old_id not in claimed:
            found = self._current(old_id)
            if found is not None:
                return found
        if item.search_key is None and item.internet_message_id is None:
            return None
        candidates = self.known.by_fingerprint(item.fingerprint)
        for candidate in candidates:
            gone = candidate.item_id in deleted or candidate.item_id in self.hints.vanished
            if gone and candidate.item_id not in claimed:
                return candidate
        # Its other half came in an earlier cycle (the create is in a folder first synced now,
        # or the process died between the two) and was taken for a deletion: a message gone
        # from every folder that reappears is the same message, moved or recovered.
        for candidate in candidates:
            latest = self._out.get(candidate.message_key, candidate)
            if latest.deleted and latest.item_id is None and \
                    f"key:{latest.message_key}" not in claimed:
                claimed.add(f"key:{latest.message_key}")
                return latest
        return None

    def _updated(
        self, item: ItemSnapshot, deleted: Mapping[str, ItemChange], claimed: set[str]
    ) -> None:
        known = self._current(item.item_id)
        if known is None:
            self._created(item, deleted, claimed)  # e.g. no longer Private, or a new class
        else:
            self._place(known, item)

    def _read_flag(self, change: ItemChange) -> None:
        known = self._current(change.item_id)
        if known is None or known.item is None or known.withdrawn:
            return
        item = ItemSnapshot(**{**known.item.__dict__, "is_read": change.is_read})
        self._emit(known.evolve(item=item))

    def _place(self, known: MessageState | None, item: ItemSnapshot) -> None:
        """The state of a message now found as ``item`` (created, moved, or updated)."""
        folder_key = self.folders.key_of(item.parent_folder_id)
        if folder_key is None:
            return
        base = known or MessageState(self.mailbox, item.item_id, folder_key)
        verdict = self.filters.verdict(item)
        if verdict is not Verdict.REPLICATE:
            if known is not None and not known.withdrawn:
                self._emit(base.evolve(withdrawn=True, withdrawn_time=self.now, item=None,
                                       item_id=item.item_id, folder_key=folder_key))
            return
        state = base.evolve(item=item, item_id=item.item_id, folder_key=folder_key,
                            withdrawn=False, withdrawn_time=None)
        if self.folders.in_deleted_items(item.parent_folder_id):
            state = self._into_deleted_items(base, state, folder_key)
        else:
            state = state.evolve(last_known_folder_key=folder_key, deleted=False,
                                 deleted_time=None, delete_kind=None)
        self._emit(state)

    def _into_deleted_items(
        self, before: MessageState, state: MessageState, folder_key: str
    ) -> MessageState:
        if before.deleted:
            return state
        last_known = before.folder_key if before.folder_key else folder_key
        return state.evolve(deleted=True, deleted_time=self.now, last_known_folder_key=last_known,
                            delete_kind=DeleteKind.MOVED_TO_DELETED_ITEMS)

    def _deleted(self, change: ItemChange) -> None:
        item_id = change.item_id
        known = self._current(item_id)
        if known is None or known.item_id != item_id:
            return
        if self.stable_ids and known.folder_key != self.folders.key_of(change.folder_id):
            return  # it left a folder it had already left: its arrival elsewhere was seen first
        self._emit(known.evolve(
            item_id=None,
            folder_key=None,
            deleted=True,
            deleted_time=known.deleted_time if known.deleted else self.now,
            delete_kind=self._delete_kind(known, item_id),
            last_known_folder_key=known.last_known_folder_key
            if known.deleted else known.folder_key or known.last_known_folder_key,
        ))

    def _delete_kind(self, known: MessageState, item_id: str) -> DeleteKind:
        if known.deleted and known.delete_kind is DeleteKind.MOVED_TO_DELETED_ITEMS:
            return DeleteKind.DELETED_ITEMS_EMPTIED
        if item_id in self.hints.hard_deleted:
            return DeleteKind.HARD_DELETED
        if item_id in self.hints.soft_deleted:
            return DeleteKind.SOFT_DELETED
        return known.delete_kind or DeleteKind.UNKNOWN
