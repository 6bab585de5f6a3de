"""Throttling budgets, charged as ews-throttling-in-exchange.md describes: to the caller's account,
or under impersonation to (a copy of) the target mailbox's budget."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from simulator.errors import EwsError
from simulator.settings import Limits


class Throttle:
    """Counts of in-flight requests and open streaming connections per budget."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._requests: Counter[str] = Counter()
        self._streams: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def request(self, budget: str) -> Iterator[None]:
        """Hold one of the budget's concurrent-request slots (EWSMaxConcurrency), or be told
        ErrorServerBusy with a back-off."""
        with self._lock:
            if self._requests[budget] >= self.limits.max_concurrency:
                raise EwsError(
                    "ErrorServerBusy",
                    "The server cannot service this request right now. Try again later.",
                    fault=True,
                    back_off_ms=self.limits.busy_back_off_ms,
                )
            self._requests[budget] += 1
        try:
            yield
        finally:
            with self._lock:
                self._requests[budget] -= 1

    def open_stream(self, budget: str) -> None:
        """Take a hanging-connection slot, or ErrorExceededConnectionCount."""
        with self._lock:
            if self._streams[budget] >= self.limits.hanging_connections:
                raise EwsError(
                    "ErrorExceededConnectionCount",
                    "You have exceeded the available concurrent connections for your account. "
                    "Try again once your other requests have completed.",
                )
            self._streams[budget] += 1

    def close_stream(self, budget: str) -> None:
        """Give a hanging-connection slot back."""
        with self._lock:
            self._streams[budget] -= 1

    def open_streams(self, budget: str) -> int:
        """How many streaming connections a budget holds."""
        with self._lock:
            return self._streams[budget]
