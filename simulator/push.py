"""Push notifications: the server POSTs SendNotification to each push subscription's URL.

Per statusfrequency.md and subscriptionstatus.md: the listener answers SendNotificationResult with
SubscriptionStatus OK (keep going) or Unsubscribe (the subscription ends). With no events for
StatusFrequency minutes the server sends a StatusEvent. A delivery that fails (no answer, an HTTP
error, a lost delivery) is retried after 30 s, then after doubling intervals measured from the first
failure (30, 60, 120 ... s); once the next retry would fall past StatusFrequency the server gives up
and the subscription ends. The first retry delay is configurable so tests need not wait 30 s.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

import httpx
import structlog
from lxml import etree

from mfr.xml import HARDENED_PARSER
from simulator.endpoint import Endpoint
from simulator.events import Event
from simulator.notifications import MAX_EVENTS_PER_NOTIFICATION, render
from simulator.soap import M, envelope, m, sub
from simulator.subscriptions import Kind, Subscription
from simulator.validation import RequestValidator

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One push attempt, for tests: when, to which subscription, how many events, and the outcome
    ("OK", "Unsubscribe", "failed", "lost", "gave up")."""

    at: float
    subscription_id: str
    events: int
    outcome: str


class PushDispatcher:
    """Delivers push notifications from a background task on the server's event loop."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.store = endpoint.store
        self.settings = endpoint.settings
        self.deliveries: list[Delivery] = []
        self._inflight: set[str] = set()

    async def run(self) -> None:
        """Look for due deliveries until cancelled."""
        ca_file = self.settings.push_ca_file
        verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
        async with httpx.AsyncClient(timeout=self.settings.push_timeout_s, verify=verify) as client:
            while True:
                await asyncio.sleep(self.settings.poll_s)
                for subscription, events in self._due():
                    self._inflight.add(subscription.id)
                    asyncio.get_running_loop().create_task(
                        self._deliver(client, subscription, events)
                    )

    def _due(self) -> list[tuple[Subscription, list[Event]]]:
        now = self.store.clock.monotonic()
        due: list[tuple[Subscription, list[Event]]] = []
        with self.store.lock:
            for subscription in self.store.subscriptions.live(now):
                if subscription.kind is not Kind.PUSH or subscription.id in self._inflight:
                    continue
                state = subscription.push
                state.setdefault("last_ok", now)
                if now < state.get("next_at", 0.0):
                    continue
                events = subscription.pending()[:MAX_EVENTS_PER_NOTIFICATION]
                idle = now - state["last_ok"] >= subscription.status_frequency_min * 60.0
                if events or idle or "first_failure" in state:
                    due.append((subscription, events))
        return due

    def _payload(self, subscription: Subscription, events: list[Event]) -> bytes:
        root = etree.Element(m("SendNotification"), nsmap={"m": M, "t": _T})
        messages = sub(root, m("ResponseMessages"))
        message = sub(messages, m("SendNotificationResponseMessage"), ResponseClass="Success")
        sub(message, m("ResponseCode"), "NoError")
        more = len(subscription.pending()) > len(events)
        render(message, subscription, events, more, subscription.position, m("Notification"))
        validator = self.endpoint.validator
        if validator is not None:
            validator.check(root)
        return envelope(root, self.endpoint.version_info)

    async def _deliver(
        self, client: httpx.AsyncClient, subscription: Subscription, events: list[Event]
    ) -> None:
        try:
            with self.store.lock:
                payload = self._payload(subscription, events)
            status = await self._post(client, subscription, payload)
            self._settle(subscription, events, status)
        finally:
            self._inflight.discard(subscription.id)

    async def _post(
        self, client: httpx.AsyncClient, subscription: Subscription, payload: bytes
    ) -> str:
        if self.endpoint.faults.take_lost_push():
            return "lost"
        assert subscription.url is not None  # noqa: S101 - push subscriptions have a URL
        try:
            response = await client.post(
                subscription.url,
                content=payload,
                headers={"Content-Type": "text/xml; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            log.info("push delivery failed", subscription=subscription.id, error=str(exc))
            return "failed"
        if response.status_code != 200:
            return "failed"
        return _status(response.content, self.endpoint.request_validator)

    def _settle(self, subscription: Subscription, events: list[Event], outcome: str) -> None:
        now = self.store.clock.monotonic()
        with self.store.lock:
            state = subscription.push
            if outcome in ("OK", "Unsubscribe"):
                if events:
                    subscription.position = events[-1].seq
                elif outcome == "OK":
                    subscription.position = max(subscription.position, subscription.mailbox.seq)
                state.pop("first_failure", None)
                state.pop("attempt", None)
                state["last_ok"] = now
                state["next_at"] = 0.0
                if outcome == "Unsubscribe":
                    self.store.subscriptions.remove(subscription.id)
            else:
                outcome = self._schedule_retry(subscription, now, outcome)
            self.deliveries.append(Delivery(now, subscription.id, len(events), outcome))

    def _schedule_retry(self, subscription: Subscription, now: float, outcome: str) -> str:
        state = subscription.push
        first = state.setdefault("first_failure", now)
        attempt = state.get("attempt", 0.0) + 1
        state["attempt"] = attempt
        offset = self.settings.push_retry_initial_s * 2 ** (attempt - 1)
        if offset > subscription.status_frequency_min * 60.0:
            self.store.subscriptions.remove(subscription.id)
            return "gave up"
        state["next_at"] = first + offset
        return outcome


_T = "http://schemas.microsoft.com/exchange/services/2006/types"


def _status(content: bytes, validator: RequestValidator | None) -> str:
    """The SubscriptionStatus in a listener's answer ("failed" when there is none, or, with
    request validation on, when the answer is not a SendNotificationResult messages.xsd
    accepts: the listener's answer is input like any request)."""
    try:
        root = etree.fromstring(content, parser=HARDENED_PARSER)
    except etree.XMLSyntaxError:
        return "failed"
    if validator is not None:
        violation = validator.check(content, root)
        if violation is not None:
            log.info("push answer failed schema validation", line=violation.line,
                     position=violation.position, violation=violation.text)
            return "failed"
    found = root.find(f".//{{{M}}}SendNotificationResult/{{{M}}}SubscriptionStatus")
    value = None if found is None or found.text is None else found.text.strip()
    return value if value in ("OK", "Unsubscribe") else "failed"
