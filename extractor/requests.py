"""From change events (hints) to what a mailbox's next sync cycle must look at.

The events say *when* and roughly *where*; sync says *what*. A Moved event also says which new id
an old one became, which keeps a message's key even when Message-ID and search key are missing, and
tells a soft delete (moved into the Recoverable Items dumpster, out of every replicated folder) from
a vanishing. A Deleted event is no proof of a hard delete: subscribed to all folders, Exchange 2013
and Online report soft deletes as Deleted events too (pull-notifications-for-ews-deletion-related-
mailbox-events-in-exchange.md), so it gives no kind. Anything unknown, and every Resync, asks for a
full cycle: the safe reading.

A Resync from outside the sync loop (source ``Control``: an admin's button, ``mfr resync``, the
drift check) asks for more than a full cycle: that scope, one folder (``id``) or the whole
mailbox, is read again from scratch and every state in it published again (``SyncRequest.rescan``),
since what it repairs may lie downstream of what the extractor remembers (see ``mailbox.py``).

Graph's change notifications (source ``Webhook``) name a message by its immutable id and never its
folder (resourceData has only the id, resourcedata.md), so they ask for the folder the message is
in; the sync finds which (``SyncRequest.messages``). Graph has no notifications for the folder
tree: the listener's periodic check (source ``Poll``) is a folder event without an id, which asks
for the hierarchy alone, one cheap delta round when nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from extractor.cycle import Hints
from mfr.bus import Record

ALL = "*"  # SyncRequest.rescan: every replicated folder (and the folder tree)


@dataclass
class SyncRequest:
    """What a batch of change events asks of a mailbox."""

    mailbox: str
    full: bool = False  # resync everything (first sight, Resync event, lost notifications)
    hierarchy: bool = False  # folder created, moved, deleted: sync the hierarchy
    # Folders of Modified events: a count change, unless a cheap look says the tree changed
    folder_checks: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)  # folder ids named by item events
    messages: set[str] = field(default_factory=set)  # Graph: message ids whose folder to sync
    hints: Hints = field(default_factory=Hints)
    watermark: str | None = None
    rescan: set[str] = field(default_factory=set)  # folder keys (or ALL) to read from scratch
    drift: bool = False  # compare folder counts with the archive; rescan those that differ

    def merge(self, other: SyncRequest) -> None:
        """Fold another request for the same mailbox into this one."""
        self.full |= other.full
        self.hierarchy |= other.hierarchy
        self.folder_checks |= other.folder_checks
        self.folders |= other.folders
        self.messages |= other.messages
        self.rescan |= other.rescan
        self.drift |= other.drift
        self.hints.moved_from.update(other.hints.moved_from)
        self.hints.soft_deleted |= other.hints.soft_deleted
        self.hints.hard_deleted |= other.hints.hard_deleted
        self.watermark = other.watermark or self.watermark

_FULL = frozenset({"Resync"})
_NOTHING = frozenset({"Status", "FreeBusyChanged"})


def request_for(event: dict[str, Any]) -> SyncRequest:
    """The sync a ChangeEvent datum asks for."""
    request = SyncRequest(event["mailbox"], watermark=event.get("watermark"))
    kind, target = event["event_type"], event["target"]
    if kind in _NOTHING:
        return request
    if kind in _FULL and event.get("source") == "Control":
        request.rescan = {event["id"]} if target == "Folder" and event.get("id") else {ALL}
        return request
    if kind in _FULL or target == "Mailbox":
        request.full = True
        return request
    if target == "Folder":
        # Also the folder's items: subscribed to all folders, a move to Deleted Items shows up
        # only as Modified events for the two folders (its item events name the hidden AllItems
        # search folder), per the deletion-events page.
        request.folders = {event["id"]} if event.get("id") else set()
        if kind == "Modified" and event.get("id"):
            # Mostly a count change, which no hierarchy sync reports; the cycle looks first.
            request.folder_checks = {event["id"]}
        else:
            request.hierarchy = True
        return request
    request.folders = {f for f in (event.get("parent_folder_id"),
                                   event.get("old_parent_folder_id")) if f}
    if not request.folders:
        if event.get("source") == "Webhook" and event.get("id"):
            request.messages = {event["id"]}  # Graph: the sync finds the message's folder
            return request
        request.full = True  # an item event without a folder: look everywhere
    old, new = event.get("old_id"), event.get("id")
    if kind == "Moved" and old and new:
        request.hints = Hints(moved_from={new: old}, soft_deleted={old})
    return request


@dataclass
class Pending:
    """A mailbox's gathered events, waiting for (or back from a failed) cycle."""

    request: SyncRequest
    since: float
    records: list[Record] = field(default_factory=list)
    attempts: int = 0
    not_before: float = 0.0
    event_time: datetime | None = None
    last_error: str | None = None

    def absorb(self, other: Pending) -> None:
        """Fold newer events of the same mailbox into this entry."""
        self.request.merge(other.request)
        self.records += other.records
        self.event_time = min(filter(None, (self.event_time, other.event_time)), default=None)
