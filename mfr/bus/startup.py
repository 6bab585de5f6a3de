"""A service's first contact with the bus, waiting out an outage instead of exiting.

A service that starts while its Kafka broker restarts (a rolling upgrade, a host reboot, Compose
starting everything at once) would otherwise exit at once with "Unable to bootstrap", and stay
down unless something restarts it; one that is already running waits such an outage out. So the
first contact waits too, as long as the error is retriable (``BusUnavailableError``) and for at
most ``bus.startup_patience_s``; a fatal one (refused credentials, a certificate that does not
match) ends the start at once, with its cause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import structlog

from mfr.errors import BusUnavailableError

log = structlog.get_logger(__name__)

T = TypeVar("T")

_FIRST_PAUSE_S, _LONGEST_PAUSE_S = 0.5, 5.0


def patiently(
    what: str,
    call: Callable[[], T],
    patience_s: float,
    stop: threading.Event | None = None,
) -> T:
    """``call()``, tried again while the bus is unavailable, for up to ``patience_s``.

    Raises the last ``BusUnavailableError`` when patience runs out or ``stop`` is set first
    (the service never started: its exit says why)."""
    stop = stop or threading.Event()
    deadline = time.monotonic() + patience_s
    pause = _FIRST_PAUSE_S
    while True:
        try:
            return call()
        except BusUnavailableError as exc:
            left = deadline - time.monotonic()
            if left <= 0 or stop.is_set():
                raise
            log.warning("bus unavailable; waiting for it", doing=what, reason=str(exc),
                        gives_up_in_s=round(left))
            stop.wait(min(pause, left))
            pause = min(pause * 2, _LONGEST_PAUSE_S)
