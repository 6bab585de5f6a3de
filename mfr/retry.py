"""How patient to be with one request to Exchange, whichever protocol carries it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts, total patience, and the exponential wait between retriable failures."""

    attempts: int = 8
    give_up_after_s: float = 600.0
    first_wait_s: float = 0.5
    max_wait_s: float = 60.0
