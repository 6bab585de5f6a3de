"""Streaming mode: a streaming subscription per mailbox, grouped by back-end, each group read over
one hanging connection (see ``connection.py``), within the hanging-connection limit.

A mailbox is subscribed first and resynced second, so whatever changes after the resync point is
caught by the subscription; the same order is kept whenever a subscription is replaced.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog

from listener.connection import GroupConnection
from listener.events import now_utc, resync_event
from listener.groups import Groups, Snapshot
from listener.metrics import Metrics
from listener.outbox import Outbox
from listener.settings import ListenerSection
from listener.slots import HangingSlots
from listener.status import StatusBoard
from listener.subscriber import Subscriber
from mfr.ews import EwsConnection, EwsError
from mfr.ews.errors import EwsThrottledError

log = structlog.get_logger(__name__)


class StreamingMode:
    """Every selected mailbox's streaming subscription and the connections that read them."""

    def __init__(
        self,
        settings: ListenerSection,
        connection: EwsConnection,
        outbox: Outbox,
        board: StatusBoard,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.connection = connection
        self.outbox = outbox
        self.board = board
        self.metrics = metrics
        self.stopping = threading.Event()
        streaming = settings.streaming
        self.groups = Groups(streaming.subscriptions_per_connection)
        per_key = streaming.hanging_connection_limit
        total = per_key if streaming.hanging_budget == "service_account" else max(
            per_key, streaming.max_connections)
        self.slots = HangingSlots(per_key, total)
        self.subscriber = Subscriber(connection, settings.event_types, self._retried)
        self._pool = ThreadPoolExecutor(settings.subscribe_concurrency,
                                        thread_name_prefix="listener-subscribe")
        self._connections: dict[str, GroupConnection] = {}
        self._selected: set[str] = set()
        self._retry_at: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    # --- selection ---------------------------------------------------------------------------
    def add(self, mailboxes: Iterable[str], reason: str) -> None:
        """Subscribe mailboxes (that joined, or at start) and resync them."""
        wanted = [m for m in mailboxes if m not in self._selected]
        with self._lock:
            self._selected.update(wanted)
        for mailbox in wanted:
            self.board.subscribing(mailbox)
        self._subscribe_all(wanted, reason)

    def remove(self, mailboxes: Iterable[str]) -> None:
        """Unsubscribe mailboxes that left the selection."""
        for mailbox in list(mailboxes):
            with self._lock:
                self._selected.discard(mailbox)
                self._retry_at.pop(mailbox, None)
            held = self.groups.subscription(mailbox)
            self.groups.remove(mailbox)
            self.board.forget(mailbox)
            if held is not None:
                _, subscription_id, route = held
                try:
                    self.subscriber.unsubscribe(mailbox, subscription_id, route)
                except EwsError as exc:
                    # It expires by itself within 30 minutes without a connection.
                    log.info("unsubscribe failed", mailbox=mailbox, error=str(exc))
        self._update_gauges()

    def selected(self) -> set[str]:
        """The mailboxes this mode is responsible for."""
        with self._lock:
            return set(self._selected)

    # --- subscriptions -----------------------------------------------------------------------
    def _subscribe_all(self, mailboxes: list[str], reason: str) -> None:
        if not mailboxes:
            return
        done = list(self._pool.map(self._subscribe, mailboxes))
        # Connections open once the whole batch is placed, so a group's first connection
        # already carries all its members (it can only change at the next connection).
        for name in self.groups.names():
            self._start_connection(name)
        self.resync([m for m, ok in zip(mailboxes, done, strict=True) if ok], reason)
        self._update_gauges()

    def _subscribe(self, mailbox: str) -> bool:
        bound = log.bind(mailbox=mailbox)
        try:
            subscription_id, cookie = self.subscriber.subscribe_streaming(mailbox)
        except EwsError as exc:
            if self.stopping.is_set():
                return False  # the listener stops: no failure to report
            bound.warning("subscribe failed", error=str(exc))
            self.metrics.ews_errors.labels(exc.code).inc()
            self.board.failed(mailbox, str(exc), throttled=isinstance(exc, EwsThrottledError))
            with self._lock:
                if mailbox in self._selected:
                    retry = time.monotonic() + self.settings.resubscribe_after_s
                    self._retry_at[mailbox] = (retry, "resubscribed after failure")
            return False
        if mailbox not in self.selected():  # left while subscribing
            return False
        name, _ = self.groups.place(mailbox, subscription_id, cookie)
        self.board.subscribed(mailbox, subscription_id, name)
        bound.debug("subscribed", subscription_id=subscription_id, group=name)
        return True

    def recover(self, lost: dict[str, str], reason: str) -> None:
        """Replace lost subscriptions (mailbox -> lost id), then resync those mailboxes."""
        again = [m for m, sid in lost.items() if self.groups.forget_subscription(m, sid)]
        for mailbox in again:
            self.board.subscribing(mailbox, reason)
        self._subscribe_all([m for m in again if m in self.selected()], reason)

    def maintain(self) -> None:
        """Subscribe again the mailboxes whose subscribing failed, once their pause is over."""
        now = time.monotonic()
        with self._lock:
            due = {m: r for m, (at, r) in self._retry_at.items() if at <= now}
            for mailbox in due:
                del self._retry_at[mailbox]
        by_reason: dict[str, list[str]] = {}
        for mailbox, reason in due.items():
            by_reason.setdefault(reason, []).append(mailbox)
        for reason, mailboxes in by_reason.items():
            self._subscribe_all(mailboxes, reason)

    # --- the bus -----------------------------------------------------------------------------
    def resync(self, mailboxes: list[str], reason: str) -> None:
        """Tell the extractor to sync these mailboxes fully: events may have been missed."""
        if not mailboxes:
            return
        self.publish([resync_event(m, reason) for m in mailboxes])
        self.metrics.resyncs.labels(reason).inc(len(mailboxes))
        now = now_utc()
        for mailbox in mailboxes:
            self.board.update(mailbox, last_resync=now)

    def publish(self, events: list[dict[str, Any]]) -> None:
        """Write events until the bus has stored them (streaming cannot refuse events: the server
        has moved on); the connection waits meanwhile."""
        if self.outbox.publish_until_stored(events, self.stopping):
            for event in events:
                self.metrics.events.labels(event["event_type"]).inc()

    # --- connections -------------------------------------------------------------------------
    def slot_key(self, snapshot: Snapshot) -> str:
        """The budget a group's connection is charged to."""
        if self.settings.streaming.hanging_budget == "anchor_mailbox":
            return snapshot.route.anchor
        return self.connection.settings.service_account

    def _start_connection(self, name: str) -> None:
        with self._lock:
            if name in self._connections or self.stopping.is_set():
                return
            worker = GroupConnection(name, self)
            self._connections[name] = worker
        worker.thread.start()

    def connection_ended(self, name: str) -> None:
        """A group's thread ends (group emptied, or stopping); restart it if members came."""
        with self._lock:
            self._connections.pop(name, None)
        if not self.stopping.is_set() and self.groups.snapshot(name) is not None:
            self._start_connection(name)
        self._update_gauges()

    def _update_gauges(self) -> None:
        self.metrics.groups.set(len(self.groups.names()))
        self.metrics.subscriptions.set(self.board.count_subscribed())

    def _retried(self, mailbox: str, error: EwsError, attempt: int) -> None:
        throttled = isinstance(error, EwsThrottledError)
        if throttled:
            self.metrics.throttled.labels(error.code).inc()
        self.metrics.ews_errors.labels(error.code).inc()
        if not self.stopping.is_set():  # shown while still trying: a dead server takes a while
            self.board.failed(mailbox, str(error), throttled=throttled)

    def problem(self) -> str | None:
        """Why no mailbox holds a subscription, when none does (each one shows on /status)."""
        return self.board.problem()

    def healthy(self) -> bool:
        """Whether every group has its connection thread."""
        with self._lock:
            running = set(self._connections)
        return set(self.groups.names()) <= running

    def stop(self) -> None:
        """Stop every connection and pending subscription."""
        self.stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            workers = list(self._connections.values())
        for worker in workers:
            worker.abort()
        for worker in workers:
            worker.thread.join(timeout=5)
