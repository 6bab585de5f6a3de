"""Push mode: Exchange POSTs SendNotification to a callback URL of ours, one unguessable path per
subscription, and reads our SubscriptionStatus answer.

* The events of a notification are on the bus (flushed) before the answer is OK; if the bus does
  not store them in time the answer is an HTTP error, and Exchange delivers them again later.
* A path we do not know (never issued, or its subscription ended, renewed or left) is answered
  Unsubscribe, which ends the subscription that sent it.
* Exchange sends at least a StatusEvent every StatusFrequency. A subscription silent for twice that
  is dead (Exchange gave up after failed deliveries): it is renewed from its last watermark, so
  the server replays what it had not delivered. When Exchange refuses that for good (the
  watermark is no longer valid, or the request itself is rejected), it is renewed once without a
  watermark and the mailbox is resynced: never retried with the same watermark. When it fails in
  a passing way, the mailbox waits for the usual retry of a failed subscribe (a new subscription
  plus a resync), and is not renewed again meanwhile.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from listener.events import change_events, now_utc, resync_event
from listener.metrics import Metrics
from listener.notificationxml import PushNotifications
from listener.outbox import Outbox
from listener.settings import ListenerSection
from listener.status import StatusBoard
from listener.subscriber import Subscriber
from mfr.errors import BusError
from mfr.ews import EwsConnection, EwsError
from mfr.ews.errors import EwsSubscriptionLostError, EwsThrottledError

log = structlog.get_logger(__name__)


@dataclass
class PushSubscription:
    """One mailbox's push subscription and the callback path it delivers to."""

    mailbox: str
    token: str
    subscription_id: str | None = None  # None until Subscribe answered
    watermark: str | None = None
    last_heard: float = 0.0


@dataclass(frozen=True)
class Answer:
    """What to answer a push: HTTP status and body (a SendNotificationResult, or a fault)."""

    status: int
    body: bytes
    outcome: str


class PushMode:
    """Every selected mailbox's push subscription, and the answers to Exchange's pushes."""

    def __init__(
        self,
        settings: ListenerSection,
        connection: EwsConnection,
        outbox: Outbox,
        board: StatusBoard,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.push = settings.push
        self.connection = connection
        self.outbox = outbox
        self.board = board
        self.metrics = metrics
        self.clock = clock
        self.subscriber = Subscriber(connection, settings.event_types, self._retried)
        self._by_token: dict[str, PushSubscription] = {}
        self._by_mailbox: dict[str, PushSubscription] = {}
        self._selected: set[str] = set()
        self._retry_at: dict[str, float] = {}
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(settings.subscribe_concurrency,
                                        thread_name_prefix="listener-push-subscribe")
        self._parser: PushNotifications | None = None
        self._stopping = threading.Event()

    def url_for(self, token: str) -> str:
        """The callback URL of a subscription's path."""
        return f"{str(self.push.callback_base_url).rstrip('/')}/{token}"

    def callback_path(self, mailbox: str) -> str | None:
        """The path Exchange pushes the mailbox's notifications to (None when not subscribed)."""
        with self._lock:
            entry = self._by_mailbox.get(mailbox)
        return None if entry is None else f"/push/{entry.token}"

    # --- subscriptions -----------------------------------------------------------------------
    def add(self, mailboxes: Iterable[str], reason: str) -> None:
        """Subscribe mailboxes (joined, or at start) and resync them."""
        wanted = [m for m in mailboxes if m not in self.selected()]
        with self._lock:
            self._selected.update(wanted)
        for mailbox in wanted:
            self.board.subscribing(mailbox)
        ok = list(self._pool.map(lambda m: self._subscribe(m, None), wanted))
        self._resync([m for m, done in zip(wanted, ok, strict=True) if done], reason)
        self.metrics.subscriptions.set(self.board.count_subscribed())

    def remove(self, mailboxes: Iterable[str]) -> None:
        """Forget mailboxes: their next push is answered Unsubscribe, which ends them."""
        with self._lock:
            for mailbox in mailboxes:
                self._selected.discard(mailbox)
                self._retry_at.pop(mailbox, None)
                held = self._by_mailbox.pop(mailbox, None)
                if held is not None:
                    self._by_token.pop(held.token, None)
                self.board.forget(mailbox)
        self.metrics.subscriptions.set(self.board.count_subscribed())

    def selected(self) -> set[str]:
        """The mailboxes this mode is responsible for."""
        with self._lock:
            return set(self._selected)

    def _subscribe(self, mailbox: str, watermark: str | None) -> bool:
        """(Re)subscribe from ``watermark``; the new path is registered before Subscribe is
        sent, because Exchange may push before its answer arrives."""
        entry = PushSubscription(mailbox, secrets.token_urlsafe(32), watermark=watermark,
                                 last_heard=self.clock())
        with self._lock:
            self._by_token[entry.token] = entry
        try:
            subscription_id, start = self.subscriber.subscribe_push(
                mailbox, self.url_for(entry.token), self.push.status_frequency_min, watermark)
        except EwsError as exc:
            with self._lock:
                self._by_token.pop(entry.token, None)
            if watermark is not None and not exc.retriable:
                raise  # retrying cannot help: the caller renews without the watermark
            if self._stopping.is_set():
                return False  # the listener stops: no failure to report
            log.warning("push subscribe failed", mailbox=mailbox, error=str(exc))
            self.metrics.ews_errors.labels(exc.code).inc()
            self.board.failed(mailbox, str(exc), throttled=isinstance(exc, EwsThrottledError))
            with self._lock:
                self._retry_at[mailbox] = self.clock() + self.settings.resubscribe_after_s
            return False
        with self._lock:
            if mailbox not in self._selected:
                self._by_token.pop(entry.token, None)
                return False
            entry.subscription_id = subscription_id
            entry.watermark = entry.watermark or start
            old = self._by_mailbox.get(mailbox)
            if old is not None:
                self._by_token.pop(old.token, None)  # its next push gets Unsubscribe
            self._by_mailbox[mailbox] = entry
        self.board.subscribed(mailbox, subscription_id, None)
        return True

    def _renew(self, entry: PushSubscription) -> None:
        """Replace a silent subscription, from its watermark while that is still valid."""
        bound = log.bind(mailbox=entry.mailbox, subscription_id=entry.subscription_id)
        self.metrics.reconnects.labels("push silent").inc()
        try:
            if self._subscribe(entry.mailbox, entry.watermark):
                bound.info("silent push subscription renewed from its watermark")
            return
        except EwsSubscriptionLostError as exc:
            bound.info("watermark no longer valid; renewing without it", error=str(exc))
            reason = exc.code
        except EwsError as exc:
            bound.warning("renewal from the watermark refused; renewing without it",
                          error=str(exc))
            self.metrics.ews_errors.labels(exc.code).inc()
            reason = exc.code
        if self._subscribe(entry.mailbox, None):
            self._resync([entry.mailbox], reason)

    def maintain(self) -> None:
        """Renew subscriptions silent for twice StatusFrequency; retry failed subscribes."""
        now = self.clock()
        if now < self._next_check:
            return
        self._next_check = now + self.push.check_every_s
        silence = 2 * self.push.status_frequency_min * 60.0
        with self._lock:
            # A mailbox waiting for the retry of a failed subscribe is not renewed meanwhile.
            dead = [e for e in self._by_mailbox.values()
                    if e.subscription_id and now - e.last_heard > silence
                    and e.mailbox not in self._retry_at]
            due = [m for m, at in self._retry_at.items() if at <= now and m in self._selected]
            for mailbox in due:
                del self._retry_at[mailbox]
        for entry in dead:
            self._renew(entry)
        if due:
            self.add_again(due)

    def add_again(self, mailboxes: list[str]) -> None:
        """Subscribe again mailboxes whose subscribing failed, and resync them."""
        ok = list(self._pool.map(lambda m: self._subscribe(m, None), mailboxes))
        self._resync([m for m, done in zip(mailboxes, ok, strict=True) if done],
                     "resubscribed after failure")

    def _resync(self, mailboxes: list[str], reason: str) -> None:
        if not mailboxes:
            return
        events = [resync_event(m, reason) for m in mailboxes]
        if self.outbox.publish_until_stored(events, self._stopping):
            self.metrics.resyncs.labels(reason).inc(len(mailboxes))
            self.metrics.events.labels("Resync").inc(len(mailboxes))
            now = now_utc()
            for mailbox in mailboxes:
                self.board.update(mailbox, last_resync=now)

    # --- deliveries --------------------------------------------------------------------------
    def _results(self) -> PushNotifications:
        if self._parser is None:
            any_mailbox = next(iter(self._by_mailbox), None) or "parser@invalid"
            self._parser = PushNotifications(protocol=self.connection.account(any_mailbox).protocol)
        return self._parser

    def handle(self, token: str, body: bytes) -> Answer:
        """Answer one push (body already checked by ``xmlguard``); blocking: run in a thread."""
        with self._lock:
            entry = self._by_token.get(token)
        results = self._results()
        if entry is None:
            return Answer(200, results.unsubscribe_payload(), "unknown path")
        try:
            notifications = list(results.parse(body))
        except Exception as exc:  # exchangelib's parse of a body from outside
            raise ValueError(f"not a SendNotification: {type(exc).__name__}: {exc}") from exc
        foreign = [n for n in notifications if not isinstance(n, Exception)
                   and entry.subscription_id not in (None, n.subscription_id)]
        if foreign or any(isinstance(n, Exception) for n in notifications):
            log.warning("push for another subscription on this path", mailbox=entry.mailbox)
            return Answer(200, results.unsubscribe_payload(), "foreign subscription")
        events, watermark = [], entry.watermark
        for notification in notifications:
            batch = change_events(entry.mailbox, "Push", notification)
            events += batch.events
            watermark = batch.watermark or watermark
        try:
            self.outbox.publish(events, timeout_s=self.push.ack_timeout_s)
        except (BusError, TimeoutError) as exc:
            log.warning("push not acknowledged: bus did not store it", mailbox=entry.mailbox,
                        error=str(exc) or "timeout")
            return Answer(503, b"", "bus unavailable")
        for event in events:
            self.metrics.events.labels(event["event_type"]).inc()
        with self._lock:
            entry.watermark = watermark
            entry.last_heard = self.clock()
            if entry.subscription_id is None and notifications:
                entry.subscription_id = notifications[0].subscription_id
        if events:
            self.board.update(entry.mailbox, last_event=now_utc())
        return Answer(200, results.ok_payload(), "ok")

    def _retried(self, mailbox: str, error: EwsError, attempt: int) -> None:
        self.metrics.ews_errors.labels(error.code).inc()
        if not self._stopping.is_set():  # shown while still trying: a dead server takes a while
            self.board.failed(mailbox, str(error), throttled=isinstance(error, EwsThrottledError))

    def problem(self) -> str | None:
        """Why no mailbox holds a subscription, when none does (each one shows on /status)."""
        return self.board.problem()

    def healthy(self) -> bool:
        """Push subscriptions need no thread of their own."""
        return True

    def stop(self) -> None:
        """Stop subscribing."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
