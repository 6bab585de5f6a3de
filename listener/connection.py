"""One affinity group's streaming connection, in a thread of its own, for as long as the group
exists: take a hanging-connection slot, open GetStreamingEvents for the group's subscriptions,
write every notification's events to the bus, and open the next connection when this one ends.

How a connection ends decides what follows:

* ``Closed`` at ConnectionTimeout: every document arrived whole; reopen at once (with the group's
  current members).
* ErrorSubscriptionNotFound (expired, server restarted, mailbox moved): the subscriptions named
  are resubscribed (which finds a moved mailbox's new back-end) and their mailboxes resynced.
* dropped or silent: events may have been written into the broken connection, so every member is
  resynced; their subscriptions still hold what happens meanwhile; reopen after a pause.
* ErrorServerBusy: the back-off is set on the throttle, which holds the next opening.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from listener.affinity import GroupStream
from listener.events import change_events, now_utc
from listener.groups import Snapshot
from mfr.ews import EwsError
from mfr.ews.errors import (
    EwsSubscriptionLostError,
    EwsThrottledError,
    EwsUnavailableError,
    translate,
)

if TYPE_CHECKING:
    from listener.notificationxml import EwsNotification
    from listener.streaming import StreamingMode

log = structlog.get_logger(__name__)

MAX_PAUSE_S = 300.0


@dataclass
class Outcome:
    """How one connection ended."""

    kind: str  # closed, lost, dropped, throttled, failed, stopped
    error: EwsError | None = None
    lost_ids: list[str] = field(default_factory=list)


class GroupConnection:
    """The connection thread of one group."""

    def __init__(self, name: str, mode: StreamingMode) -> None:
        self.name = name
        self.mode = mode
        self._service: GroupStream | None = None
        self._failures = 0
        self.thread = threading.Thread(target=self.run, name=f"stream-{name}", daemon=True)

    def abort(self) -> None:
        """Cut the open connection, if any (shutdown)."""
        service = self._service
        if service is not None:
            service.abort()

    def run(self) -> None:
        """Hold the group's connection until the group empties or the listener stops."""
        mode = self.mode
        try:
            while not mode.stopping.is_set():
                snapshot = mode.groups.snapshot(self.name)
                if snapshot is None or not snapshot.mailbox_of:
                    return
                outcome = self._one_connection(snapshot)
                if outcome.kind == "stopped":
                    return
                self._settle(snapshot, outcome)
        finally:
            mode.connection_ended(self.name)

    def _one_connection(self, snapshot: Snapshot) -> Outcome:
        mode = self.mode
        budget = mode.connection.budget(snapshot.route.anchor)
        mode.connection.throttle.wait_out_back_off(budget)
        key = mode.slot_key(snapshot)
        if not mode.slots.acquire(key, mode.stopping):
            return Outcome("stopped")
        mode.metrics.connections.inc()
        try:
            if mode.stopping.is_set():
                return Outcome("stopped")
            return self._read(snapshot)
        finally:
            mode.slots.release(key)
            mode.metrics.connections.dec()

    def _read(self, snapshot: Snapshot) -> Outcome:
        mode = self.mode
        streaming = mode.settings.streaming
        doing = f"GetStreamingEvents for group {snapshot.name} ({len(snapshot.mailbox_of)})"
        service: GroupStream | None = None
        try:
            account = mode.connection.account(snapshot.route.anchor)
            service = GroupStream(snapshot.route, streaming.silence_timeout_s, account=account)
            service.on_answer = lambda: self._answered(snapshot)
            self._service = service
            if mode.stopping.is_set():  # stop() may have looked for connections to cut already
                return Outcome("stopped")
            for notification in service.call(
                list(snapshot.mailbox_of), streaming.connection_timeout_min
            ):
                self._deliver(snapshot, notification)
                if mode.stopping.is_set():
                    return Outcome("stopped")
        except Exception as exc:  # noqa: BLE001 - translated here, where exchangelib was called
            if mode.stopping.is_set():
                return Outcome("stopped")
            error = exc if isinstance(exc, EwsError) else translate(exc, doing)
            return self._classify(error, service)
        finally:
            self._service = None
            if service is not None:
                service.stop_streaming()
        mode.groups.learn_cookie(snapshot.name, snapshot.route.cookie)
        if service.connection_status == GroupStream.CLOSED:
            return Outcome("closed")
        return Outcome("dropped")

    def _answered(self, snapshot: Snapshot) -> None:
        for mailbox in snapshot.mailbox_of.values():
            self.mode.board.answered(mailbox)

    @staticmethod
    def _classify(error: EwsError, service: GroupStream | None) -> Outcome:
        if isinstance(error, EwsSubscriptionLostError):
            return Outcome("lost", error, list(service.error_ids) if service else [])
        if isinstance(error, EwsThrottledError):
            return Outcome("throttled", error)
        if isinstance(error, EwsUnavailableError):
            # Only once the server answered can events have been lost in the broken stream.
            return Outcome("dropped" if service is not None and service.answered else "failed",
                           error)
        return Outcome("failed", error)

    def _deliver(self, snapshot: Snapshot, notification: EwsNotification) -> None:
        mailbox = snapshot.mailbox_of.get(notification.subscription_id or "")
        if mailbox is None:
            log.warning("notification for a subscription not on this connection",
                        group=snapshot.name, subscription_id=notification.subscription_id)
            return
        try:
            batch = change_events(mailbox, "Streaming", notification)
        except Exception:  # a notification we cannot read must not stop the others
            log.exception("notification not understood; resyncing the mailbox", mailbox=mailbox)
            self.mode.resync([mailbox], "notification not understood")
            return
        if batch.events:
            self.mode.publish(batch.events)
            self.mode.board.update(mailbox, last_event=now_utc())

    def _settle(self, snapshot: Snapshot, outcome: Outcome) -> None:
        mode = self.mode
        bound = log.bind(group=snapshot.name, anchor=snapshot.route.anchor,
                         members=len(snapshot.mailbox_of))
        mode.metrics.reconnects.labels(outcome.kind).inc()
        if outcome.kind == "closed":
            self._failures = 0
            return
        if outcome.error is not None:
            mode.metrics.ews_errors.labels(outcome.error.code).inc()
        if outcome.kind == "lost":
            ids = outcome.lost_ids or list(snapshot.mailbox_of)
            lost = {snapshot.mailbox_of[i]: i for i in ids if i in snapshot.mailbox_of}
            bound.info("subscriptions lost", lost=len(lost), error=str(outcome.error))
            mode.recover(lost, reason=outcome.error.code if outcome.error else "subscription lost")
            self._failures = 0
            return
        self._failures += 1
        if outcome.kind == "throttled" and isinstance(outcome.error, EwsThrottledError):
            mode.metrics.throttled.labels(outcome.error.code).inc()
            back_off = outcome.error.back_off_s or self._pause()
            mode.connection.throttle.back_off(mode.connection.budget(snapshot.route.anchor),
                                              back_off)
            for mailbox in snapshot.mailbox_of.values():
                mode.board.failed(mailbox, str(outcome.error), unsubscribed=False, throttled=True)
            bound.info("streaming throttled", back_off_s=back_off, code=outcome.error.code)
            return
        if outcome.kind == "dropped":
            bound.info("streaming connection lost", error=str(outcome.error or "no Closed"))
            mode.resync(list(snapshot.mailbox_of.values()), "streaming connection lost")
        else:
            bound.warning("streaming connection failed", error=str(outcome.error))
            for mailbox in snapshot.mailbox_of.values():
                mode.board.failed(mailbox, str(outcome.error), unsubscribed=False)
        mode.stopping.wait(self._pause())

    def _pause(self) -> float:
        first = self.mode.settings.streaming.retry_after_s
        return float(min(MAX_PAUSE_S, first * 2 ** max(0, self._failures - 1)))
