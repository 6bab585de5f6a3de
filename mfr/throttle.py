"""Being a good citizen of Exchange: bounded concurrency, and honouring the server's back-offs.

A ``Throttle`` guards every request a process sends to Exchange, through EWS or Graph. Requests
are grouped by *budget*, whatever Exchange charges: for EWS the service account by default, or
each impersonated mailbox (``ExchangeSettings.backoff_scope``); for Graph the application and
mailbox pair. Within a budget at most ``max_concurrent`` requests run at once, and after Exchange
asks for a pause (EWS ErrorServerBusy's BackOffMilliseconds, Graph's 429 Retry-After), no request
of that budget is sent before it has elapsed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class _Budget:
    slots: threading.BoundedSemaphore
    resume_at: float = 0.0
    back_offs: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Throttle:
    """Concurrency limit and back-off gate, per throttling budget; safe across threads."""

    def __init__(
        self,
        max_concurrent: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._max_concurrent = max_concurrent
        self._clock = clock
        self._sleep = sleep
        self._budgets: dict[str, _Budget] = {}
        self._lock = threading.Lock()

    def _budget(self, name: str) -> _Budget:
        with self._lock:
            budget = self._budgets.get(name)
            if budget is None:
                budget = _Budget(threading.BoundedSemaphore(self._max_concurrent))
                self._budgets[name] = budget
            return budget

    @contextmanager
    def request(self, budget_name: str) -> Iterator[None]:
        """Hold one request slot of the budget, once any back-off has elapsed."""
        budget = self._budget(budget_name)
        with budget.slots:
            self._wait_out_back_off(budget)
            yield

    def wait_out_back_off(self, budget_name: str) -> None:
        """Block until the budget may send again, without taking a request slot.

        For requests that are not short calls (a hanging GetStreamingEvents holds its connection
        for minutes and is limited by HangingConnectionLimit instead): they still wait out every
        back-off, but must not starve the budget's concurrency slots.
        """
        self._wait_out_back_off(self._budget(budget_name))

    def _wait_out_back_off(self, budget: _Budget) -> None:
        while True:
            with budget.lock:
                remaining = budget.resume_at - self._clock()
            if remaining <= 0:
                return
            self._sleep(remaining)

    def back_off(self, budget_name: str, seconds: float) -> None:
        """Hold every request of the budget for ``seconds`` from now (longest request wins)."""
        budget = self._budget(budget_name)
        with budget.lock:
            budget.resume_at = max(budget.resume_at, self._clock() + seconds)
            budget.back_offs += 1

    def backing_off(self, budget_name: str) -> float:
        """Seconds until the budget may send again (0 when it may now)."""
        budget = self._budget(budget_name)
        with budget.lock:
            return max(0.0, budget.resume_at - self._clock())

    def back_off_count(self, budget_name: str) -> int:
        """How many times Exchange told this budget to back off."""
        return self._budget(budget_name).back_offs
