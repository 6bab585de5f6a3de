"""Graph mode: one change-notification subscription per selected mailbox, kept alive, and the
lifecycle events Graph sends about them.

Why it works the way it does (the pages are in ``../shared/reference/graph/``):

* **Subscribe first, resync second**, as in EWS mode. A subscription hears only of changes after
  it exists, so each mailbox gets a ``Resync`` once its subscription is in place: at start
  (nothing replays what happened while no listener ran), when it joins, and whenever its
  subscription had to be created anew (change-notifications-lifecycle-events.md: "After creating
  the new subscription, you can sync the resource data to identify any missed change
  notifications").
* **Start clean.** Subscriptions of this application that deliver to this listener's URL are
  left over from an earlier run: their clientState secrets died with it, so their notifications
  could not be told from forgeries. They are deleted at start and made anew.
* **clientState is a secret per subscription** (``secrets``, 64 characters; subscription.md allows
  128), checked by ``graphregistry``; what fails is counted and dropped (``webhook``).
* **Renewed before expiry.** Graph deletes an expired subscription silently; a PATCH of
  ``expirationDateTime`` extends it (subscription-update.md) once less than ``renew_before_min``
  is left. One that is gone (404) or already expired is created anew and its mailbox resynced.
* **Lifecycle** (change-notifications-lifecycle-events.md): ``reauthorizationRequired`` →
  ``/reauthorize``, else a renewal (which also reauthorizes), else a new subscription;
  ``subscriptionRemoved`` → a new subscription, then a resync; ``missed`` → a resync, written
  before the notification is acknowledged (``webhook.py``).
* **Failures show.** A create refused because the notification URL failed Graph's validation
  handshake (400 ValidationError, subscription-post-subscriptions.md) makes the listener not
  ready, with the cause; every failure marks the mailbox (``/status``, and a MailboxStatus
  ``Failing`` for the admin page) and is retried after ``resubscribe_after_s``, or only after
  ``access_denied_retry_s`` for 401/403, which need an admin, not a tight loop.
* **The folder tree** has no notifications: ``hierarchy.py`` spaces the folder checks.

Blocking Graph calls run in this mode's threads (the listener's loop and a small pool), never on
the HTTP event loop; each mailbox's subscription work is serialised by a lock of its own.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import structlog

from listener.events import hierarchy_check_event, now_utc, resync_event
from listener.graphregistry import GraphSubscription, SubscriptionRegistry
from listener.graphsubscriber import APP_BUDGET, GraphSubscriber
from listener.hierarchy import HierarchySchedule
from listener.metrics import Metrics
from listener.outbox import Outbox
from listener.settings import ListenerSection
from listener.status import StatusBoard
from listener.statusfeed import StatusFeed
from mfr.graph import GraphClient
from mfr.graph.errors import (
    GraphAccessDeniedError,
    GraphError,
    GraphNotFoundError,
    GraphThrottledError,
)

log = structlog.get_logger(__name__)

NOTIFICATIONS_PATH = "/graph/notifications"
LIFECYCLE_PATH = "/graph/lifecycle"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class GraphMode:
    """Every selected mailbox's Graph subscription, its renewal and its lifecycle."""

    def __init__(
        self,
        settings: ListenerSection,
        client: GraphClient,
        outbox: Outbox,
        board: StatusBoard,
        metrics: Metrics,
        serving: threading.Event,
        *,
        now: Callable[[], datetime] = _utc_now,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``now`` is the wall clock subscriptions expire by (tests pass the simulator's),
        ``clock`` the monotonic one for retries and folder checks."""
        self.settings = settings
        self.graph = settings.graph
        if self.graph.notification_url is None:
            raise ValueError("Graph mode needs listener.graph.notification_url")
        base = str(self.graph.notification_url).rstrip("/")
        self.subscriber = GraphSubscriber(client, base + NOTIFICATIONS_PATH, base + LIFECYCLE_PATH)
        self.outbox = outbox
        self.board = board
        self.metrics = metrics
        self.serving = serving
        self.now = now
        self.clock = clock
        self.status = StatusFeed(outbox)
        self.hierarchy = HierarchySchedule(self.graph.hierarchy_interval_s, clock)
        self.registry = SubscriptionRegistry()
        self._selected: set[str] = set()
        self._retry_at: dict[str, float] = {}
        self._failures: dict[str, str] = {}
        self._url_problem: str | None = None
        self._cleaned = False
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._mailbox_locks: dict[str, threading.RLock] = {}
        self._pool = ThreadPoolExecutor(
            settings.subscribe_concurrency, thread_name_prefix="listener-graph"
        )
        self._stopping = threading.Event()

    # --- the Mode protocol ---------------------------------------------------------------------
    def add(self, mailboxes: Iterable[str], reason: str) -> None:
        """Subscribe mailboxes (at start, or joined), resync them, schedule their folder checks."""
        with self._lock:
            wanted = [m for m in mailboxes if m not in self._selected]
            self._selected.update(wanted)
        if not self._cleaned:
            self._start_clean()
        ok = list(self._pool.map(self._subscribe, wanted))
        self.resync([m for m, done in zip(wanted, ok, strict=True) if done], reason)
        self.hierarchy.add(wanted)
        self._count()

    def remove(self, mailboxes: Iterable[str]) -> None:
        """Forget mailboxes and delete their subscriptions."""
        mailboxes = list(mailboxes)
        with self._lock:
            for mailbox in mailboxes:
                self._selected.discard(mailbox)
                self._retry_at.pop(mailbox, None)
                self._failures.pop(mailbox, None)
        gone = [e for e in map(self.registry.pop, mailboxes) if e is not None]
        for mailbox in mailboxes:
            self.board.forget(mailbox)
            self.status.removed(mailbox)
        self.hierarchy.remove(mailboxes)
        list(self._pool.map(self._delete_quietly, gone))
        self._count()

    def selected(self) -> set[str]:
        """The mailboxes this mode is responsible for."""
        with self._lock:
            return set(self._selected)

    def maintain(self) -> None:
        """Folder checks that are due; every ``check_every_s``: renewals and retries."""
        due = self.hierarchy.take_due()
        if due:
            self.outbox.submit([hierarchy_check_event(m) for m in due])
            self.metrics.hierarchy_checks.inc(len(due))
            self.metrics.events.labels("Modified").inc(len(due))
        moment = self.clock()
        if moment < self._next_check:
            return
        self._next_check = moment + self.graph.check_every_s
        limit = self.now() + timedelta(minutes=self.graph.renew_before_min)
        with self._lock:
            waiting = {m for m, at in self._retry_at.items() if at > moment}
            retry = [
                m
                for m, at in self._retry_at.items()
                if at <= moment and m in self._selected and not self.registry.holds(m)
            ]
            for mailbox in retry:
                del self._retry_at[mailbox]
        renew = [
            e
            for e in self.registry.entries()
            if e.mailbox not in waiting and e.expires is not None and e.expires <= limit
        ]
        list(self._pool.map(self._renew, renew))
        if retry:
            ok = list(self._pool.map(self._subscribe, retry))
            self.resync(
                [m for m, done in zip(retry, ok, strict=True) if done], "resubscribed after failure"
            )
        self._count()

    def healthy(self) -> bool:
        """Whether Graph accepts the notification URL (as far as the last create showed)."""
        return self.problem() is None

    def problem(self) -> str | None:
        """Why the listener is not serving its mailboxes, for /readyz."""
        with self._lock:
            if self._url_problem is not None:
                return self._url_problem
            if self._selected and self._selected <= set(self._failures):
                sample = self._failures[min(self._selected)]
                return f"no mailbox could be subscribed; for example: {sample}"
        return None

    def stop(self) -> None:
        """Stop subscribing. Subscriptions stay with Graph; the next start replaces them."""
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- notifications --------------------------------------------------------------------------
    def authenticate(
        self, subscription_id: str, client_state: str | None
    ) -> tuple[GraphSubscription | None, str]:
        """The subscription a notification is for, or None and why it is not ours."""
        return self.registry.authenticate(subscription_id, client_state)

    def on_lifecycle(self, entry: GraphSubscription, event: str) -> None:
        """Act on an accepted lifecycle notification, in the background (Graph is answered
        first: the actions call Graph, which may validate our URL meanwhile)."""
        if event == "reauthorizationRequired":
            self._submit(self._reauthorize, entry)
        elif event == "subscriptionRemoved":
            self._submit(self._replace, entry, "subscriptionRemoved", "Webhook")

    def _submit(self, work: Callable[..., None], *args: object) -> None:
        if self._stopping.is_set():
            return
        with contextlib.suppress(RuntimeError):  # the pool was shut down meanwhile
            self._pool.submit(work, *args)

    # --- subscriptions ---------------------------------------------------------------------------
    def _mailbox_lock(self, mailbox: str) -> threading.RLock:
        with self._lock:
            return self._mailbox_locks.setdefault(mailbox, threading.RLock())

    def _start_clean(self) -> None:
        """Wait for the HTTP app (Graph validates the URL during each create), then delete this
        listener's subscriptions left from an earlier run."""
        if not self.serving.wait(self.graph.serving_wait_s):
            log.warning("HTTP app not serving yet; subscribing anyway")
        self._cleaned = True
        try:
            stale = self.subscriber.own()
        except GraphError as exc:
            log.warning("could not list earlier subscriptions", error=str(exc))
            return
        if stale:
            log.info("deleting this listener's earlier subscriptions", count=len(stale))
        list(self._pool.map(lambda s: self.subscriber.delete(s[1] or APP_BUDGET, s[0]), stale))

    def _expiry(self) -> datetime:
        return self.now() + timedelta(minutes=self.graph.subscription_minutes)

    def _subscribe(self, mailbox: str) -> bool:
        """Create the mailbox's subscription; whether it now holds one."""
        with self._mailbox_lock(mailbox):
            entry = GraphSubscription(mailbox, secrets.token_urlsafe(48))
            self.registry.begin(entry)
            try:
                held = self.subscriber.create(mailbox, entry.client_state, self._expiry())
            except (GraphError, ValueError, KeyError) as exc:
                self.registry.abandon(entry)
                self._failed(mailbox, exc)
                return False
            with self._lock:  # kept only while selected: remove() takes this lock first
                keep = mailbox in self._selected and not self._stopping.is_set()
                if keep:
                    self.registry.commit(entry, held.subscription_id, held.expires)
                    self._retry_at.pop(mailbox, None)
                    self._failures.pop(mailbox, None)
                    self._url_problem = None
            if not keep:  # left, or stopping, while it was being created
                self.registry.abandon(entry)
                self._delete_quietly(GraphSubscription(mailbox, "", held.subscription_id))
                return False
        self.board.subscribed(mailbox, held.subscription_id, None)
        self.status.live(mailbox)
        log.info(
            "graph subscription created",
            mailbox=mailbox,
            subscription_id=held.subscription_id,
            expires=held.expires.isoformat(),
        )
        return True

    def _failed(self, mailbox: str, error: Exception, *, unsubscribed: bool = True) -> None:
        cause = str(error)
        code = getattr(error, "code", "") or type(error).__name__
        self.metrics.graph_errors.labels(str(getattr(error, "status", 0)), code).inc()
        access = isinstance(error, GraphAccessDeniedError)
        pause = self.graph.access_denied_retry_s if access else self.settings.resubscribe_after_s
        with self._lock:
            if code.lower() == "validationerror":
                self._url_problem = (
                    "Graph could not validate the notification URL "
                    f"{self.subscriber.notification_url}: {cause}"
                )
            self._retry_at[mailbox] = self.clock() + pause
            if unsubscribed:
                self._failures[mailbox] = cause
        log.warning("graph subscription failed", mailbox=mailbox, error=cause, retry_in_s=pause)
        self.board.failed(mailbox, cause, unsubscribed=unsubscribed)
        self.status.failing(mailbox, cause, throttled=isinstance(error, GraphThrottledError))

    def _renew(self, entry: GraphSubscription) -> None:
        with self._mailbox_lock(entry.mailbox):
            if not self.registry.is_current(entry) or entry.subscription_id is None:
                return
            if entry.expires is not None and entry.expires <= self.now():
                self._replace(entry, "subscription expired", "Sync")
                return
            try:
                entry.expires = self.subscriber.renew(
                    entry.mailbox, entry.subscription_id, self._expiry()
                )
            except GraphNotFoundError:
                self._replace(entry, "subscription lost", "Sync")
                return
            except (GraphError, ValueError) as exc:
                self._failed(entry.mailbox, exc, unsubscribed=False)
                return
        with self._lock:
            self._retry_at.pop(entry.mailbox, None)
        self.board.subscribed(entry.mailbox, entry.subscription_id, None)
        self.status.live(entry.mailbox)
        self.metrics.renewed.labels("renew").inc()
        log.info(
            "graph subscription renewed",
            mailbox=entry.mailbox,
            subscription_id=entry.subscription_id,
            expires=entry.expires.isoformat(),
        )

    def _reauthorize(self, entry: GraphSubscription) -> None:
        with self._mailbox_lock(entry.mailbox):
            if not self.registry.is_current(entry) or entry.subscription_id is None:
                return
            try:
                self.subscriber.reauthorize(entry.mailbox, entry.subscription_id)
                self.metrics.renewed.labels("reauthorize").inc()
                return
            except GraphNotFoundError:
                self._replace(entry, "subscription lost", "Sync")
                return
            except GraphError as exc:
                log.info(
                    "reauthorize failed; renewing instead", mailbox=entry.mailbox, error=str(exc)
                )
            self._renew(entry)

    def _replace(self, entry: GraphSubscription, reason: str, source: str) -> None:
        """The subscription is gone (or cannot be kept): create a new one, then resync."""
        with self._mailbox_lock(entry.mailbox):
            if not self.registry.drop(entry):
                return  # already replaced, or the mailbox left
            log.info(
                "graph subscription replaced",
                mailbox=entry.mailbox,
                reason=reason,
                subscription_id=entry.subscription_id,
            )
            self.board.update(entry.mailbox, subscribed=False, subscription_id=None)
            if reason != "subscriptionRemoved":
                self._delete_quietly(entry)
            if self._subscribe(entry.mailbox):
                self.metrics.recreated.labels(reason).inc()
                self.resync([entry.mailbox], reason, source)
        self._count()

    def _delete_quietly(self, entry: GraphSubscription) -> None:
        if entry.subscription_id is None:
            return
        try:
            self.subscriber.delete(entry.mailbox, entry.subscription_id)
        except GraphError as exc:
            log.info(
                "could not delete a subscription",
                mailbox=entry.mailbox,
                subscription_id=entry.subscription_id,
                error=str(exc),
            )

    def resync(self, mailboxes: list[str], reason: str, source: str = "Sync") -> None:
        """Write a Resync for each mailbox (retrying until the bus stores them)."""
        if not mailboxes:
            return
        events = [resync_event(m, reason, source=source) for m in mailboxes]
        if self.outbox.publish_until_stored(events, self._stopping):
            self.metrics.resyncs.labels(reason).inc(len(mailboxes))
            self.metrics.events.labels("Resync").inc(len(mailboxes))
            now = now_utc()
            for mailbox in mailboxes:
                self.board.update(mailbox, last_resync=now)

    def _count(self) -> None:
        self.metrics.subscriptions.set(self.board.count_subscribed())
