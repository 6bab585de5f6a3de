"""What changed since a SyncState: the Create/Update/Delete/ReadFlagChange lists of the sync
operations.

Changes are collapsed per object as Exchange does: an object the client never saw is one Create with
its current properties (however often it changed), one it saw and that is gone is one Delete, one it
saw that changed is one Update — or a ReadFlagChange when only its read state changed. Batches are
ordered by when objects last changed, so the position after a partial batch is exact.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from enum import StrEnum

from simulator.mailbox import Mailbox
from simulator.model import Folder, Item


class ChangeKind(StrEnum):
    """The kinds of sync change (element names)."""

    CREATE = "Create"
    UPDATE = "Update"
    DELETE = "Delete"
    READ_FLAG = "ReadFlagChange"


@dataclass(frozen=True, slots=True)
class Change:
    """One change to report: the object's serial (and the live object unless deleted)."""

    key: tuple[int, int]
    kind: ChangeKind
    serial: int
    item: Item | None = None
    folder: Folder | None = None


@dataclass(frozen=True, slots=True)
class Batch:
    """One sync response's worth of changes and the state after it."""

    changes: list[Change]
    known: frozenset[int]
    position: int
    last_in_range: bool


def _cut(
    mailbox: Mailbox, changes: list[Change], known: frozenset[int], position: int, limit: int
) -> Batch:
    changes.sort(key=lambda c: c.key)
    taken = changes[:limit]
    complete = len(changes) <= limit
    added = {c.serial for c in taken if c.kind is ChangeKind.CREATE}
    removed = {c.serial for c in taken if c.kind is ChangeKind.DELETE}
    after = mailbox.seq if complete else max(position, taken[-1].key[0])
    return Batch(taken, frozenset((known - removed) | added), after, complete)


def item_changes(
    mailbox: Mailbox, folder: Folder, known: frozenset[int], position: int, limit: int
) -> Batch:
    """The next batch of item changes in ``folder`` for a client at (known, position)."""
    changes = [
        Change((folder.tombstones.get(serial, 0), 0), ChangeKind.DELETE, serial)
        for serial in known.difference(folder.items.keys())
    ]
    log = folder.touch_log
    start = bisect.bisect_right(log, (position, 1 << 62))
    seen: set[int] = set()
    for seq, serial in reversed(log[start:]):
        item = folder.items.get(serial)
        if item is None or serial in seen or item.last_touch != seq:
            continue
        seen.add(serial)
        if serial not in known:
            kind = ChangeKind.CREATE
        elif item.last_content_touch <= position:
            kind = ChangeKind.READ_FLAG
        else:
            kind = ChangeKind.UPDATE
        changes.append(Change((seq, 0), kind, serial, item=item))
    return _cut(mailbox, changes, known, position, limit)


def folder_changes(
    mailbox: Mailbox, root: Folder, known: frozenset[int], position: int, limit: int
) -> Batch:
    """The next batch of folder changes below ``root`` for a client at (known, position)."""
    in_scope: dict[int, tuple[int, int]] = {}
    stack = [(child, root.last_touch, 1) for child in root.children]
    while stack:
        serial, inherited, depth = stack.pop()
        folder = mailbox.folders[serial]
        touched = max(folder.last_touch, inherited)
        in_scope[serial] = (touched, depth)
        stack.extend((child, touched, depth + 1) for child in folder.children)
    changes = [
        Change((0, 0), ChangeKind.DELETE, serial) for serial in sorted(known - in_scope.keys())
    ]
    for serial, (touched, depth) in in_scope.items():
        folder = mailbox.folders[serial]
        if serial not in known:
            changes.append(Change((touched, depth), ChangeKind.CREATE, serial, folder=folder))
        elif folder.last_touch > position:
            changes.append(
                Change((folder.last_touch, depth), ChangeKind.UPDATE, serial, folder=folder)
            )
    return _cut(mailbox, changes, known, position, limit)
