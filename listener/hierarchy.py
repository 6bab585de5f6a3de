"""When each Graph mailbox's folder tree is checked next.

Graph has no change notifications for mail folders (outlook-change-notifications-overview.md
lists messages, events and contacts only), so a folder created, renamed, moved or deleted would
reach the archive only with the next message change in it. Instead every mailbox gets a folder
check event every ``interval_s``, and the extractor reads the folder tree's delta
(mailfolder-delta.md) when it sees one. The checks of a batch of mailboxes are spread evenly over
the interval, so a thousand mailboxes cost about seventeen small delta reads a second, not a
thousand at once every minute; each mailbox keeps its phase, so the spread does not drift.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterable


class HierarchySchedule:
    """The due time of each mailbox's next folder check; safe across threads."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._due: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def add(self, mailboxes: Iterable[str]) -> None:
        """Schedule mailboxes not yet scheduled, spread evenly over one interval from now."""
        with self._lock:
            fresh = [m for m in mailboxes if m not in self._due]
            now = self._clock()
            for index, mailbox in enumerate(fresh):
                due = now + self.interval_s * (index + 1) / len(fresh)
                self._due[mailbox] = due
                heapq.heappush(self._heap, (due, mailbox))

    def remove(self, mailboxes: Iterable[str]) -> None:
        """Stop checking mailboxes (their heap entries are skipped when they come up)."""
        with self._lock:
            for mailbox in mailboxes:
                self._due.pop(mailbox, None)

    def take_due(self) -> list[str]:
        """The mailboxes whose check is due now; each is scheduled one interval later."""
        now = self._clock()
        taken = []
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                due, mailbox = heapq.heappop(self._heap)
                if self._due.get(mailbox) != due:
                    continue  # removed, or scheduled again since
                taken.append(mailbox)
                following = due + self.interval_s
                if following <= now:  # far behind (the process stalled): skip missed rounds
                    following = now + self.interval_s
                self._due[mailbox] = following
                heapq.heappush(self._heap, (following, mailbox))
        return taken

    def __len__(self) -> int:
        with self._lock:
            return len(self._due)
