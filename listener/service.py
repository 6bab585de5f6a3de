"""The listener: the selected mailboxes' subscriptions (EWS streaming or push, or Graph
webhooks), the bus, and the periodic work (re-reading distribution groups, subscribing again
what failed, renewing Graph subscriptions, Graph folder checks)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import structlog

from listener.graphmode import GraphMode
from listener.metrics import Metrics
from listener.outbox import Outbox
from listener.push import PushMode
from listener.selection import Expand, MailboxSelection, exchangelib_expand, graph_expand
from listener.settings import ListenerSettings
from listener.status import STATES, StatusBoard
from listener.statusfeed import StatusFeed
from listener.streaming import StreamingMode
from listener.webhook import WebhookIntake
from mfr.bus import Bus
from mfr.bus.startup import patiently
from mfr.codec import Codec
from mfr.ews import EwsConnection
from mfr.graph import GraphClient
from mfr.metrics import StateGauge
from mfr.topics import Topic, topic_specs

log = structlog.get_logger(__name__)

TICK_S = 0.5


class Mode(Protocol):
    """What streaming and push modes both offer."""

    def add(self, mailboxes: list[str], reason: str) -> None:
        """Subscribe (and resync) mailboxes."""

    def remove(self, mailboxes: list[str]) -> None:
        """Unsubscribe mailboxes."""

    def selected(self) -> set[str]:
        """The mailboxes the mode is responsible for."""

    def maintain(self) -> None:
        """Periodic work: resubscribe what failed or went silent."""

    def healthy(self) -> bool:
        """Whether the subscriptions are being served."""

    def problem(self) -> str | None:
        """Why the mode is not serving its mailboxes (for /readyz), if it is not."""

    def stop(self) -> None:
        """Stop every subscription's work."""


class Listener:
    """One listener process's work; ``start`` it, ``stop`` it."""

    def __init__(
        self,
        settings: ListenerSettings,
        bus: Bus,
        connection: EwsConnection | GraphClient,
        codec: Codec,
        expand: Expand | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``connection`` is the EWS service account's, or with ``[exchange] api = "graph"``
        the Graph application's client. ``clock`` times push subscriptions' silence and Graph
        retries and folder checks; ``wall_clock`` is what Graph subscriptions expire by (tests
        share the simulator's clocks)."""
        self.settings = settings.listener
        self.bus = bus
        self.bus_settings = settings.bus
        self.connection = connection
        self.metrics = Metrics()
        self.board = StatusBoard()
        self.metrics.registry.register(StateGauge(
            "mfr_listener_mailboxes", "Selected mailboxes by subscription state", STATES,
            self.board.states))
        self.outbox = Outbox(bus, settings.bus, codec, on_flush=self.metrics.flushed,
                             flush_timeout_s=self.settings.bus_flush_timeout_s)
        self.serving = threading.Event()  # set once the HTTP app serves (create_app's lifespan)
        self.graph_mode: GraphMode | None = None
        self.webhooks: WebhookIntake | None = None
        self.mode: StreamingMode | PushMode | GraphMode
        if settings.exchange.api == "graph":
            if not isinstance(connection, GraphClient):
                raise TypeError("[exchange] api = graph needs a mfr.graph.GraphClient")
            self.mode_name = "graph"
            self.graph_mode = GraphMode(self.settings, connection, self.outbox, self.board,
                                        self.metrics, self.serving, clock=clock,
                                        **({"now": wall_clock} if wall_clock else {}))
            self.mode = self.graph_mode
            self.webhooks = WebhookIntake(self.graph_mode, self.outbox, self.metrics,
                                          self.settings.graph.ack_timeout_s)
            expand = expand or graph_expand(connection)
        else:
            if not isinstance(connection, EwsConnection):
                raise TypeError("[exchange] api = ews needs a mfr.ews.EwsConnection")
            self.board.feed = StatusFeed(self.outbox)  # Graph mode reports through its own
            self.mode_name = self.settings.mode
            expand = expand or exchangelib_expand(connection)
            if self.settings.mode == "push":
                self.mode = PushMode(self.settings, connection, self.outbox, self.board,
                                     self.metrics, clock)
            else:
                self.mode = StreamingMode(self.settings, connection, self.outbox, self.board,
                                          self.metrics)
        self.selection = MailboxSelection(
            self.settings.mailboxes, self.settings.distribution_groups, expand
        )
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_error: str | None = None

    def start(self) -> None:
        """Check the bus, then subscribe everything in the background."""
        specs = topic_specs(self.bus_settings)
        patiently("creating topics",
                  lambda: self.bus.ensure_topics([specs[Topic.CHANGES], specs[Topic.STATUS]]),
                  self.bus_settings.startup_patience_s, self._stop)
        self.outbox.start()
        self._thread = threading.Thread(target=self._run, name="listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            mailboxes = sorted(self.selection.current())
            log.info("subscribing", mailboxes=len(mailboxes), mode=self.mode_name)
            self.mode.add(mailboxes, "listener started")
            self.ready.set()
            log.info("subscribed", subscribed=self.board.count_subscribed())
            next_refresh = time.monotonic() + self.settings.groups_refresh_s
            while not self._stop.wait(TICK_S):
                self.mode.maintain()
                if self.selection.has_groups and time.monotonic() >= next_refresh:
                    self.refresh()
                    next_refresh = time.monotonic() + self.settings.groups_refresh_s
        except Exception as exc:  # whatever stops this loop must show on /readyz
            self.started_error = f"{type(exc).__name__}: {exc}"
            log.exception("listener stopped working")

    def refresh(self) -> tuple[set[str], set[str]]:
        """Read the selection again: subscribe who joined, unsubscribe who left."""
        current = self.selection.current()
        held = self.mode.selected()
        joined, left = current - held, held - current
        if left:
            log.info("mailboxes left", count=len(left))
            self.mode.remove(sorted(left))
        if joined:
            log.info("mailboxes joined", count=len(joined))
            self.mode.add(sorted(joined), "mailbox joined")
        return joined, left

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready: subscribed once, the bus stores what it is given, the subscriptions are served."""
        detail: dict[str, Any] = {
            "subscribed": self.board.count_subscribed(),
            "mailboxes": len(self.board),
            "states": self.board.counts(),
            "bus": "ok" if self.outbox.healthy else self.outbox.last_error,
        }
        problem = self.started_error or self.mode.problem()
        if problem:
            detail["error"] = problem
        ok = (self.ready.is_set() and self.outbox.healthy and self.mode.healthy()
              and not problem)
        return ok, detail

    def stop(self) -> None:
        """Stop subscribing and reading, write what is queued, close the producer."""
        self._stop.set()
        self.connection.stop()  # requests waiting to be retried, or out a back-off, give up
        self.mode.stop()
        if self._thread is not None:
            # Subscribing threads that are still in a request end with it; what they would have
            # written is a hint the next start's resync makes up for.
            self._thread.join(timeout=3)
        self.outbox.stop()
