"""Outlook's Graph limits: requests per app and mailbox per 10 minutes, and concurrency.

throttling-limits.md (the newer page) puts the 4 concurrent requests "per app ID", regardless of
mailbox; throttling.md (older) lists them per app ID and mailbox, next to the 10,000 requests per
10 minutes, and Exchange Online's own 429 message names a *Mailbox*Concurrency limit. We follow the
per-app-and-mailbox reading by default, because it is what the error Exchange sends describes, and
offer ``concurrency_scope = "app"`` for the stricter reading. Either way the answer is 429
``ApplicationThrottled`` with a Retry-After.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from simulator.clock import Clock
from simulator.graph.errors import GraphError

WINDOW_S = 600.0


class GraphThrottle:
    """Counts in-flight requests and recent requests per (app, mailbox)."""

    def __init__(
        self, clock: Clock, *, concurrency: int, per_window: int, concurrency_scope: str
    ) -> None:
        self.clock = clock
        self.concurrency = concurrency
        self.per_window = per_window
        self.concurrency_scope = concurrency_scope
        self._inflight: collections.Counter[tuple[str, str]] = collections.Counter()
        self._recent: dict[tuple[str, str], collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _slot(self, app: str, mailbox: str) -> tuple[str, str]:
        return (app, "" if self.concurrency_scope == "app" else mailbox)

    @contextmanager
    def request(self, app: str, mailbox: str) -> Iterator[None]:
        """Hold a concurrency slot and count one request, or raise 429."""
        now = self.clock.monotonic()
        slot = self._slot(app, mailbox)
        with self._lock:
            recent = self._recent.setdefault((app, mailbox), collections.deque())
            while recent and recent[0] <= now - WINDOW_S:
                recent.popleft()
            if len(recent) >= self.per_window:
                wait = int(recent[0] + WINDOW_S - now) + 1
                raise throttled("Application is over its MailboxRequests limit.", wait)
            if self._inflight[slot] >= self.concurrency:
                raise throttled("Application is over its MailboxConcurrency limit.", 1)
            recent.append(now)
            self._inflight[slot] += 1
        try:
            yield
        finally:
            with self._lock:
                self._inflight[slot] -= 1


def throttled(message: str, retry_after_s: int) -> GraphError:
    """Graph's 429 answer (throttling.md's sample body) with its Retry-After."""
    return GraphError(
        429, "ApplicationThrottled", message, headers={"Retry-After": str(max(1, retry_after_s))}
    )
