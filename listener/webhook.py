"""What a checked webhook body becomes: ChangeEvents on the bus, then the answer.

Microsoft's rules (change-notifications-delivery-webhooks.md, "Processing the change
notification"): answer 2xx within 3 seconds or Graph delivers again (for up to 4 hours, then
drops and sends ``missed``); answer ``202 Accepted`` once the notification is persisted, 5xx if it
is not, so Graph retries; check ``clientState`` and do not trust a notification whose value is
wrong. So:

* Each notification is matched to a subscription of ours and its secret (``GraphMode``); one that
  fails is counted by reason and dropped, and the POST is still answered 202: a forger learns
  nothing, and Graph does not redeliver what it never sent.
* The genuine ones become ChangeEvents (the convention in ``events.py``): a change notification
  one ``Created``/``Modified``/``Deleted`` of the message; ``missed`` a ``Resync`` of the mailbox;
  one we cannot read (a change type or id Graph should not send) a ``Resync`` too, since the
  listener cannot vouch for what it meant. They are handed to the outbox, whose single writer
  groups every request's events into one flush, and the request waits for that flush without
  holding a thread. Only then is the answer 202. If the bus does not store them within
  ``ack_timeout_s`` (under Graph's 3 s) the answer is 503 and Graph delivers again.
* Lifecycle actions that call Graph (reauthorize, recreate) start after the events are stored and
  run in the Graph mode's pool, not in the request: Graph validates our URL while a subscription
  is created, and waits for our answer meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from listener.events import GRAPH_CHANGE_TYPES, graph_change_event, resync_event
from listener.graphmode import GraphMode
from listener.graphregistry import GraphSubscription
from listener.metrics import Metrics
from listener.outbox import Outbox
from listener.webhookguard import Notification
from mfr.errors import BusError, MfrError

log = structlog.get_logger(__name__)

DROP_LOG_EVERY_S = 10.0
LIFECYCLE_EVENTS = frozenset({"missed", "subscriptionRemoved", "reauthorizationRequired"})


@dataclass
class Sorted:
    """A body's notifications sorted out: events to write, lifecycle actions to take after."""

    events: list[dict[str, Any]] = field(default_factory=list)
    actions: list[tuple[GraphSubscription, str]] = field(default_factory=list)
    dropped: int = 0


class WebhookIntake:
    """Turns webhook notifications into stored events and an HTTP status."""

    def __init__(
        self, mode: GraphMode, outbox: Outbox, metrics: Metrics, ack_timeout_s: float
    ) -> None:
        self.mode = mode
        self.outbox = outbox
        self.metrics = metrics
        self.ack_timeout_s = ack_timeout_s
        self._drops_unlogged: dict[str, int] = {}
        self._drop_logged_at: dict[str, float] = {}
        self._drop_lock = threading.Lock()

    def _log_drop(self, reason: str, subscription_id: str) -> None:
        """One line per reason every ``DROP_LOG_EVERY_S`` at most: a flood of forgeries must
        not become a flood of logs (the metric counts every one)."""
        now = time.monotonic()
        with self._drop_lock:
            if now - self._drop_logged_at.get(reason, -DROP_LOG_EVERY_S) < DROP_LOG_EVERY_S:
                self._drops_unlogged[reason] = self._drops_unlogged.get(reason, 0) + 1
                return
            self._drop_logged_at[reason] = now
            before = self._drops_unlogged.pop(reason, 0)
        log.warning(
            "webhook notification dropped",
            reason=reason,
            subscription_id=subscription_id[:64],
            unlogged_before=before,
        )

    def sort(self, notifications: list[Notification]) -> Sorted:
        """Genuine notifications become events or actions; the rest are counted and dropped."""
        result = Sorted()
        for note in notifications:
            kind = "lifecycle" if note.lifecycle_event is not None else "change"
            self.metrics.notifications.labels(kind).inc()
            entry, why = self.mode.authenticate(note.subscription_id, note.client_state)
            if entry is None:
                self.metrics.dropped.labels(why).inc()
                result.dropped += 1
                self._log_drop(why, note.subscription_id)
                continue
            if note.lifecycle_event is not None:
                self._lifecycle(note, entry, result)
            elif note.change_type in GRAPH_CHANGE_TYPES and note.message_id:
                result.events.append(
                    graph_change_event(
                        entry.mailbox, note.subscription_id, note.change_type, note.message_id
                    )
                )
            else:
                result.events.append(
                    resync_event(
                        entry.mailbox,
                        "unreadable change notification",
                        note.subscription_id,
                        source="Webhook",
                    )
                )
        return result

    def _lifecycle(self, note: Notification, entry: GraphSubscription, result: Sorted) -> None:
        event = str(note.lifecycle_event)
        if event not in LIFECYCLE_EVENTS:
            event = "unknown lifecycle event"
        self.metrics.lifecycle.labels(event).inc()
        log.info(
            "lifecycle notification",
            mailbox=entry.mailbox,
            lifecycle_event=event,
            subscription_id=note.subscription_id[:64],
        )
        if event in ("missed", "unknown lifecycle event"):
            result.events.append(
                resync_event(entry.mailbox, event, note.subscription_id, source="Webhook")
            )
        else:
            result.actions.append((entry, event))

    async def store(self, sorted_: Sorted) -> int:
        """Write the events, then start the actions; the HTTP status to answer."""
        if sorted_.events:
            future = self.outbox.submit(sorted_.events)
            try:
                await asyncio.wait_for(asyncio.wrap_future(future), self.ack_timeout_s)
            except (TimeoutError, BusError, MfrError, ValueError) as exc:
                log.warning(
                    "webhook not acknowledged: the bus did not store its events",
                    events=len(sorted_.events),
                    error=str(exc) or "timeout",
                )
                return 503
            for event in sorted_.events:
                self.metrics.events.labels(event["event_type"]).inc()
                if event["event_type"] == "Resync":
                    self.metrics.resyncs.labels(event["reason"]).inc()
            self._touch(sorted_.events)
        for entry, lifecycle_event in sorted_.actions:
            self.mode.on_lifecycle(entry, lifecycle_event)
        return 202

    def _touch(self, events: list[dict[str, Any]]) -> None:
        latest: dict[str, Any] = {}
        for event in events:
            latest[event["mailbox"]] = event["received_time"]
        for mailbox, moment in latest.items():
            self.mode.board.update(mailbox, last_event=moment)
