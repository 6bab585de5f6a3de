"""Faults of the Graph face, armed by tests or the control API, consumed where they bite.

The request path consumes throttling storms (429 with Retry-After), bare HTTP errors and latency;
webhook delivery consumes dropped, delayed and reordered notifications and the "slow endpoint"
declaration. Faults that act at once (delta tokens expired, subscriptions removed, lifecycle
events) are methods of the parts they concern, reachable through ``GraphFace.control``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from simulator.faults import Budget


@dataclass(slots=True)
class GraphFaults:
    """The Graph faults armed right now. Methods arm them; ``take_*`` methods consume them."""

    rng: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311 - not crypto
    _throttle: Budget = field(default_factory=Budget)
    retry_after_s: int = 2
    _http: Budget = field(default_factory=Budget)
    http_status: int = 503
    latency_s: float = 0.0
    _drop: int = 0
    drop_reports_missed: bool = False
    _delay: int = 0
    delay_s: float = 0.0
    _reorder: int = 0
    slow_endpoint: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- requests ---------------------------------------------------------------------------
    def throttle(
        self,
        next_n: int = 0,
        *,
        fraction: float = 0.0,
        retry_after_s: int = 2,
        operations: list[str] | None = None,
    ) -> None:
        """Answer the next ``next_n`` requests (or a ``fraction``) 429 with ``Retry-After``."""
        with self._lock:
            self._throttle = Budget(next_n, fraction, frozenset(operations) if operations else None)
            self.retry_after_s = retry_after_s

    def http_error(
        self,
        status: int = 503,
        next_n: int = 1,
        *,
        fraction: float = 0.0,
        operations: list[str] | None = None,
    ) -> None:
        """Answer the next ``next_n`` requests (or a ``fraction``) with an HTTP error."""
        with self._lock:
            self._http = Budget(next_n, fraction, frozenset(operations) if operations else None)
            self.http_status = status

    def latency(self, seconds: float) -> None:
        """Delay every Graph response by ``seconds`` (0 to stop)."""
        self.latency_s = max(0.0, seconds)

    def take_throttle(self, operation: str) -> int | None:
        """The Retry-After (seconds) to answer with when this request is to be throttled."""
        with self._lock:
            return self.retry_after_s if self._throttle.hit(operation, self.rng) else None

    def take_http_error(self, operation: str) -> int | None:
        """The HTTP status to answer with when this request is to fail."""
        with self._lock:
            return self.http_status if self._http.hit(operation, self.rng) else None

    # --- notifications ----------------------------------------------------------------------
    def drop_notifications(self, count: int = 1, *, missed: bool = False) -> None:
        """Lose the next ``count`` notification deliveries for good (never retried). With
        ``missed``, Graph knows it lost them and sends each subscription a ``missed`` lifecycle
        notification, as for deliveries it gives up on; without, the loss is silent."""
        with self._lock:
            self._drop += count
            self.drop_reports_missed = missed

    def delay_notifications(self, count: int = 1, seconds: float = 5.0) -> None:
        """Hold back the next ``count`` deliveries by ``seconds`` (simulator clock)."""
        with self._lock:
            self._delay += count
            self.delay_s = seconds

    def reorder_notifications(self, count: int = 2) -> None:
        """Deliver the next ``count`` notifications in reverse order of their changes."""
        with self._lock:
            self._reorder += count

    def declare_slow(self, slow: bool = True) -> None:
        """Treat the notification endpoint as flagged slow (deliveries held back, then dropped
        as webhook delivery's rules say)."""
        self.slow_endpoint = slow

    def take_drop(self) -> bool:
        """Whether this delivery is lost."""
        with self._lock:
            if self._drop:
                self._drop -= 1
                return True
            return False

    def take_delay(self) -> float:
        """Seconds to hold this delivery back (0: none)."""
        with self._lock:
            if self._delay:
                self._delay -= 1
                return self.delay_s
            return 0.0

    def take_reorder(self) -> int:
        """How many of the next notifications to deliver reversed (0: none), consuming it."""
        with self._lock:
            count, self._reorder = self._reorder, 0
            return count

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._throttle = Budget()
            self._http = Budget()
            self.latency_s = 0.0
            self._drop = self._delay = self._reorder = 0
            self.slow_endpoint = False
