"""A mailbox's event log: what notifications report, in order, with watermarks.

Each user action appends the events Microsoft documents for it (see ``actions.py``). Some actions
raise
different events for a subscription on named folders than for one on all folders (Exchange 2013 and
Online, per pull-notifications-for-ews-deletion-related-mailbox-events-in-exchange.md), so every
event
says which kind of subscription sees it. Events older than the retention window (30 days) are
dropped;
a watermark from before that is invalid.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Flag, StrEnum


class EventType(StrEnum):
    """The event types of EWS notifications (the element name without "Event")."""

    COPIED = "Copied"
    CREATED = "Created"
    DELETED = "Deleted"
    MODIFIED = "Modified"
    MOVED = "Moved"
    NEW_MAIL = "NewMail"
    FREE_BUSY_CHANGED = "FreeBusyChanged"


class Audience(Flag):
    """Which subscriptions see an event: those on named folders, those on all folders, or both."""

    FOLDERS = 1
    ALL_FOLDERS = 2
    BOTH = 3


@dataclass(frozen=True, slots=True)
class Event:
    """One mailbox event. Ids are as they were when the event happened."""

    seq: int
    time: datetime
    type: EventType
    is_folder: bool
    object_id: str
    parent_id: str
    parent_serial: int
    old_id: str | None = None
    old_parent_id: str | None = None
    old_parent_serial: int | None = None
    unread_count: int | None = None
    audience: Audience = Audience.BOTH
    folder_serial: int | None = None

    def concerns(self, folder_serials: frozenset[int] | None) -> bool:
        """Whether a subscription on these folders (None: all folders) sees this event."""
        if folder_serials is None:
            return bool(self.audience & Audience.ALL_FOLDERS)
        if not self.audience & Audience.FOLDERS:
            return False
        # A subscription on a folder sees events in it, and Modified events about the folder itself.
        return (
            self.parent_serial in folder_serials
            or self.old_parent_serial in folder_serials
            or (self.type is EventType.MODIFIED and self.folder_serial in folder_serials)
        )


class EventLog:
    """The events of one mailbox, oldest first; ``sequence`` numbers are the mailbox's."""

    def __init__(self, retention: timedelta) -> None:
        self._events: list[Event] = []
        self._seqs: list[int] = []
        self._retention = retention
        self.expired_through = 0

    def append(self, event: Event) -> None:
        """Record an event (sequences only grow)."""
        self._events.append(event)
        self._seqs.append(event.seq)

    def expire(self, now: datetime) -> None:
        """Drop events older than the retention window."""
        cutoff = now - self._retention
        drop = 0
        while drop < len(self._events) and self._events[drop].time < cutoff:
            drop += 1
        if drop:
            self.expired_through = self._events[drop - 1].seq
            del self._events[:drop]
            del self._seqs[:drop]

    def valid_position(self, seq: int, current: int) -> bool:
        """Whether reading on from ``seq`` is possible: not before the window, not in the future."""
        return self.expired_through <= seq <= current

    def after(self, seq: int) -> list[Event]:
        """The events after position ``seq``, oldest first."""
        return self._events[bisect.bisect_right(self._seqs, seq) :]

    def __len__(self) -> int:
        return len(self._events)
