"""Whether the extractor could do its work now, for /readyz and Prometheus: Exchange reachable,
how far behind it is, how long cycles take.

An extractor asks Exchange only when a change event comes, and none comes while Exchange is down
(the listener cannot subscribe either), so a failing cycle alone would leave /readyz saying
"ready" through a whole outage. Every cycle's outcome counts as contact; after ``probe_every_s``
without any, a probe in a thread of its own asks the endpoint for any HTTP answer at all (DNS,
connection and TLS are what it can tell). An unreachable Exchange makes /readyz not ready, with
the cause in one line, until a cycle or a probe gets through again.

The lag gauge is measured against now, from the oldest event still waiting or being synced: a
stalled cycle makes it grow, instead of leaving the lag of the last cycle that ended on show.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import structlog

from extractor.metrics import Metrics
from mfr.ews.settings import ExchangeSettings
from mfr.metrics import StateGauge
from mfr.reach import UNREACHABLE_CODES, probe

log = structlog.get_logger(__name__)

STATES = ("Pending", "InitialSync", "Live", "Throttled", "Failing")


def probe_target(exchange: ExchangeSettings) -> tuple[str, Any] | None:
    """(URL, CA file) that answers when Exchange is reachable; None with Autodiscover (no one
    address to ask)."""
    if exchange.api == "graph" and exchange.graph is not None:
        return str(exchange.graph.graph_url), exchange.graph.ca_file
    if exchange.endpoint is not None:
        return str(exchange.endpoint), exchange.ca_file
    return None


class Health:
    """Reachability of Exchange, and the gauges read from the extractor's own tables."""

    def __init__(self, exchange: ExchangeSettings, metrics: Metrics,
                 states: Callable[[], Iterable[str]],
                 waiting_since: Callable[[], Iterable[datetime | None]],
                 probe_every_s: float = 30.0) -> None:
        """``states``: every mailbox's state now; ``waiting_since``: the event time of each
        mailbox's work not yet published (waiting or syncing)."""
        self._target = probe_target(exchange)
        self._probe_every_s = probe_every_s
        self._lock = threading.Lock()
        self._problem: str | None = None
        self._contact = time.monotonic() - probe_every_s  # the first turn probes
        self._probing = False
        self._waiting_since = waiting_since
        metrics.lag.set_function(self.lag_s)
        metrics.registry.register(StateGauge(
            "mfr_extractor_mailboxes", "Mailboxes by replication state", STATES, states))

    @property
    def problem(self) -> str | None:
        """Why Exchange is unreachable (one line), or None."""
        with self._lock:
            return self._problem

    def reached(self) -> None:
        """A cycle got its answers from Exchange."""
        self._set(None)

    def failed(self, error: BaseException) -> None:
        """A cycle failed; only a failure to reach Exchange at all is a readiness problem."""
        code = getattr(error, "code", "")
        if code in UNREACHABLE_CODES:
            self._set(str(error))
        else:
            self._set(None)  # Exchange answered, if only to refuse

    def _set(self, problem: str | None) -> None:
        with self._lock:
            if problem != self._problem:
                log.info("exchange reachable" if problem is None else "exchange unreachable",
                         cause=problem)
            self._problem = problem
            self._contact = time.monotonic()

    def tick(self) -> None:
        """Called every loop turn: probe when nothing was heard from Exchange for a while."""
        with self._lock:
            due = time.monotonic() - self._contact >= self._probe_every_s
            if self._target is None or self._probing or not due:
                return
            self._probing = True
        threading.Thread(target=self._probe, name="exchange-probe", daemon=True).start()

    def _probe(self) -> None:
        assert self._target is not None  # noqa: S101 - tick checked it
        url, ca_file = self._target
        try:
            self._set(probe(url, ca_file))
        finally:
            with self._lock:
                self._probing = False

    def lag_s(self) -> float:
        """Seconds since the oldest event not yet published happened in Exchange (0: none)."""
        now = datetime.now().astimezone()
        times = [t for t in self._waiting_since() if t is not None]
        return max(0.0, (now - min(times)).total_seconds()) if times else 0.0
