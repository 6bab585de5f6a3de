"""The simulator's sense of time: real time plus an offset tests can advance.

Subscriptions expire, the 30-day event window closes and push retries fall due by this clock, so a
test can jump forward an hour instead of waiting one.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock and monotonic time, both shifted by the same adjustable offset."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def advance(self, seconds: float) -> None:
        """Move the simulator's time forward (never backward)."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds

    def monotonic(self) -> float:
        """Seconds on a monotonic scale, including every advance."""
        return time.monotonic() + self._offset

    def now(self) -> datetime:
        """The current UTC time, including every advance."""
        return datetime.now(UTC) + timedelta(seconds=self._offset)
