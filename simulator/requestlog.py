"""The request log: every EWS request the simulator answered, for tests to assert on."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One answered request. ``at`` is the simulator clock's monotonic time when it arrived (so
    "no request before the back-off elapsed" is a subtraction), ``result`` the EWS response code
    of the first response message (or the fault code, or "HTTP <status>")."""

    at: float
    when: datetime
    operation: str
    account: str | None
    mailbox: str | None
    backend: str | None
    status: int
    result: str
    duration_s: float


class RequestLog:
    """A thread-safe, bounded list of logged requests, oldest first."""

    def __init__(self, limit: int = 100_000) -> None:
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._limit = limit

    def add(self, entry: LoggedRequest) -> None:
        """Record a request (the oldest entries go when the log is full)."""
        with self._lock:
            self._entries.append(entry)
            if len(self._entries) > self._limit:
                del self._entries[: len(self._entries) - self._limit]

    def entries(
        self, operation: str | None = None, mailbox: str | None = None
    ) -> list[LoggedRequest]:
        """The logged requests, optionally only one operation's or one mailbox's."""
        with self._lock:
            found = list(self._entries)
        if operation is not None:
            found = [e for e in found if e.operation == operation]
        if mailbox is not None:
            found = [e for e in found if e.mailbox and e.mailbox.lower() == mailbox.lower()]
        return found

    def clear(self) -> None:
        """Forget every logged request."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
