"""Fault injection: what should go wrong next, set by tests or the control API.

Each fault is consumed by the part of the simulator it concerns: the EWS endpoint (throttling, HTTP
errors, latency), streaming connections (drop, stall), push delivery (lose), SyncFolderItems (lose
changes), and subscriptions (expire, which acts at once).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass(slots=True)
class Budget:
    """Apply to the next ``count`` matching requests, or to a ``fraction`` of them."""

    count: int = 0
    fraction: float = 0.0
    operations: frozenset[str] | None = None

    def hit(self, operation: str, rng: random.Random) -> bool:
        if self.operations is not None and operation not in self.operations:
            return False
        if self.count > 0:
            self.count -= 1
            return True
        return self.fraction > 0 and rng.random() < self.fraction


@dataclass(slots=True)
class Faults:
    """The faults armed right now. Methods arm them; ``take_*`` methods consume them."""

    rng: random.Random = field(default_factory=lambda: random.Random(0))  # noqa: S311 - not crypto
    _throttle: Budget = field(default_factory=Budget)
    throttle_back_off_ms: int = 5000
    _http: Budget = field(default_factory=Budget)
    http_status: int = 503
    latency_s: float = 0.0
    _drop_streams: int = 0
    _stall_streams: int = 0
    _lose_push: int = 0
    _lose_sync: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def throttle(
        self,
        next_n: int = 0,
        *,
        fraction: float = 0.0,
        back_off_ms: int = 5000,
        operations: list[str] | None = None,
    ) -> None:
        """Answer the next ``next_n`` requests (or a ``fraction``) with ErrorServerBusy."""
        with self._lock:
            self._throttle = Budget(next_n, fraction, frozenset(operations) if operations else None)
            self.throttle_back_off_ms = back_off_ms

    def http_error(self, status: int = 503, next_n: int = 1, *, fraction: float = 0.0) -> None:
        """Answer the next ``next_n`` requests (or a ``fraction``) with a bare HTTP error."""
        with self._lock:
            self._http = Budget(next_n, fraction)
            self.http_status = status

    def latency(self, seconds: float) -> None:
        """Delay every EWS response by ``seconds`` (0 to stop)."""
        self.latency_s = max(0.0, seconds)

    def drop_streams(self, count: int = 1) -> None:
        """Cut the next ``count`` open (or opening) streaming connections abruptly."""
        with self._lock:
            self._drop_streams += count

    def stall_streams(self, count: int = 1) -> None:
        """Make ``count`` streaming connections go silent (no events, no keep-alives)."""
        with self._lock:
            self._stall_streams += count

    def lose_push(self, count: int = 1) -> None:
        """Lose the next ``count`` push deliveries (the server sees them fail and retries)."""
        with self._lock:
            self._lose_push += count

    def lose_sync(self, count: int = 1) -> None:
        """Leave the next ``count`` item changes out of incremental SyncFolderItems answers while
        their SyncState moves past them: a change no sync from that state will ever report
        (what an ICS bug, or a state restored from the wrong backup, does). Only a sync from
        scratch, or a comparison of counts, finds it."""
        with self._lock:
            self._lose_sync += count

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._throttle = Budget()
            self._http = Budget()
            self.latency_s = 0.0
            self._drop_streams = self._stall_streams = self._lose_push = self._lose_sync = 0

    def take_throttle(self, operation: str) -> int | None:
        """The back-off to answer with when this request is to be throttled."""
        with self._lock:
            return self.throttle_back_off_ms if self._throttle.hit(operation, self.rng) else None

    def take_http_error(self, operation: str) -> int | None:
        """The HTTP status to answer with when this request is to fail."""
        with self._lock:
            return self.http_status if self._http.hit(operation, self.rng) else None

    def take_drop(self) -> bool:
        """Whether a streaming connection should be cut now."""
        with self._lock:
            if self._drop_streams:
                self._drop_streams -= 1
                return True
            return False

    def take_stall(self) -> bool:
        """Whether a streaming connection should go silent now."""
        with self._lock:
            if self._stall_streams:
                self._stall_streams -= 1
                return True
            return False

    def take_lost_push(self) -> bool:
        """Whether this push delivery is lost."""
        with self._lock:
            if self._lose_push:
                self._lose_push -= 1
                return True
            return False

    def take_lost_sync(self) -> bool:
        """Whether this sync change is to be left out."""
        with self._lock:
            if self._lose_sync:
                self._lose_sync -= 1
                return True
            return False
