"""Hanging-connection slots: never more open streaming connections per budget than allowed.

Exchange limits open GetStreamingEvents connections per budget (HangingConnectionLimit). The
listener charges every connection to a budget key (the service account, or the group's anchor
mailbox) and waits for a free slot before opening one. Waiters are served first come, first
served, so when there are more groups than slots the groups take turns: a connection that closes at
its ConnectionTimeout queues behind those already waiting.
"""

from __future__ import annotations

import threading
from collections import Counter, deque


class HangingSlots:
    """Counting slots per budget key, plus an overall cap; safe across threads."""

    def __init__(self, per_key: int, total: int) -> None:
        self._per_key = per_key
        self._total = total
        self._used: Counter[str] = Counter()
        self._waiting: deque[tuple[str, object]] = deque()
        self._cond = threading.Condition()
        self.peak: Counter[str] = Counter()
        self.peak_total = 0

    def _free(self, key: str) -> bool:
        return self._used[key] < self._per_key and sum(self._used.values()) < self._total

    def _first_eligible(self, ticket: object) -> bool:
        # A waiter may go when it is the earliest waiter whose key has room.
        for key, waiting in self._waiting:
            if self._free(key):
                return waiting is ticket
        return False

    def acquire(self, key: str, stop: threading.Event, poll_s: float = 0.5) -> bool:
        """Take a slot of ``key``; False if ``stop`` was set while waiting."""
        ticket = object()
        with self._cond:
            self._waiting.append((key, ticket))
            try:
                while not self._first_eligible(ticket) or stop.is_set():
                    if stop.is_set():
                        return False
                    self._cond.wait(poll_s)
                self._used[key] += 1
                self.peak[key] = max(self.peak[key], self._used[key])
                self.peak_total = max(self.peak_total, sum(self._used.values()))
                return True
            finally:
                self._waiting.remove((key, ticket))
                self._cond.notify_all()

    def release(self, key: str) -> None:
        """Give a slot of ``key`` back."""
        with self._cond:
            self._used[key] -= 1
            if self._used[key] <= 0:
                del self._used[key]
            self._cond.notify_all()

    def in_use(self) -> int:
        """Slots taken now, over all keys."""
        with self._cond:
            return sum(self._used.values())

    def waiting(self) -> int:
        """Connections waiting for a slot now."""
        with self._cond:
            return len(self._waiting)
