"""GetStreamingEvents: a hanging, chunked response of several SOAP documents.

Per getstreamingevents-operation.md and the streaming how-to: after checks, the server keeps the
HTTP
response open and writes one complete SOAP envelope per chunk — notifications as events happen,
``ConnectionStatus OK`` keep-alives when idle, and ``ConnectionStatus Closed`` when
ConnectionTimeout
(1-30 minutes) is reached. At most 200 subscriptions per connection; all must live on the back-end
the
request reached (affinity), else ErrorSubscriptionNotFound. Connections count against the
HangingConnectionLimit of the budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from lxml import etree
from starlette.responses import Response, StreamingResponse

from simulator.affinity import COOKIE, Route
from simulator.context import Context
from simulator.endpoint import XML, Endpoint, Outcome
from simulator.errors import EwsError
from simulator.notifications import render, take
from simulator.ops.common import bounded_int, required
from simulator.ops.notify import NOT_FOUND, find
from simulator.soap import SoapRequest, child, children, envelope, m, response_root, sub, t
from simulator.subscriptions import Kind, Subscription

OPERATION = "GetStreamingEvents"


class DroppedError(Exception):
    """Raised inside a stream to cut the connection abruptly (fault injection)."""


class Streams:
    """Opens streaming connections for the endpoint."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.settings = endpoint.settings

    def __call__(
        self, ctx: Context, soap: SoapRequest, outcome: Outcome, routed: Route
    ) -> Response:
        request = soap.operation
        ids = [
            e.text.strip()
            for e in children(
                required(child(request, "SubscriptionIds"), "SubscriptionIds"), "SubscriptionId"
            )
            if e.text
        ]
        minutes = bounded_int(request, "ConnectionTimeout", 30, 1, 30)
        limit = self.settings.limits.subscriptions_per_connection
        with self.endpoint.store.lock:
            if not ids or len(ids) > limit:
                return self._error(
                    outcome,
                    EwsError(
                        "ErrorInvalidRequest", f"A connection takes 1 to {limit} subscriptions."
                    ),
                    [],
                )
            subscriptions, failed = self._resolve(ctx, ids)
            if failed:
                return self._error(
                    outcome,
                    EwsError(NOT_FOUND, "The specified subscription was not found."),
                    failed,
                )
            try:
                self.endpoint.throttle.open_stream(ctx.budget)
            except EwsError as error:
                return self._error(outcome, error, [])
            for subscription in subscriptions:
                subscription.connections += 1
        response = StreamingResponse(
            self._stream(ctx, subscriptions, minutes * 60.0), media_type=XML
        )
        if routed.set_cookie:
            response.set_cookie(COOKIE, routed.set_cookie, path="/", httponly=True)
        return response

    def _resolve(self, ctx: Context, ids: list[str]) -> tuple[list[Subscription], list[str]]:
        found: list[Subscription] = []
        failed: list[str] = []
        for subscription_id in ids:
            try:
                subscription = find(ctx, subscription_id)
            except EwsError:
                failed.append(subscription_id)
                continue
            if subscription.kind is not Kind.STREAMING:
                failed.append(subscription_id)
            else:
                found.append(subscription)
        return found, failed

    def _error(self, outcome: Outcome, error: EwsError, failed: list[str]) -> Response:
        root, container = response_root(OPERATION)
        message = sub(container, m(f"{OPERATION}ResponseMessage"), ResponseClass="Error")
        sub(message, m("MessageText"), error.message)
        sub(message, m("ResponseCode"), error.code)
        sub(message, m("DescriptiveLinkKey"), "0")
        if failed:
            holder = sub(message, m("ErrorSubscriptionIds"))
            for subscription_id in failed:
                sub(holder, t("SubscriptionId"), subscription_id)
        sub(message, m("ConnectionStatus"), "Closed")
        outcome.result = error.code
        return self.endpoint.soap(root)

    def _document(self, subscriptions: list[Subscription] | None, status: str) -> bytes:
        root, container = response_root(OPERATION)
        message = sub(container, m(f"{OPERATION}ResponseMessage"), ResponseClass="Success")
        sub(message, m("ResponseCode"), "NoError")
        if subscriptions:
            holder = sub(message, m("Notifications"))
            for subscription in subscriptions:
                events, more, previous = take(subscription, status_when_idle=False)
                if events:
                    render(holder, subscription, events, more, previous, t("Notification"))
            if not len(holder):
                message.remove(holder)
        sub(message, m("ConnectionStatus"), status)
        return self._checked(root)

    def _checked(self, root: etree._Element) -> bytes:
        validator = self.endpoint.validator
        if validator is not None and validator.check(root) is not None:
            raise DroppedError("invalid streaming document")
        return envelope(root, self.endpoint.version_info)

    def _lost(self, subscriptions: list[Subscription]) -> list[Subscription]:
        now = self.endpoint.store.clock.monotonic()
        table = self.endpoint.store.subscriptions
        return [s for s in subscriptions if table.get(s.id, now) is None]

    async def _stream(
        self, ctx: Context, subscriptions: list[Subscription], timeout_s: float
    ) -> AsyncIterator[bytes]:
        clock = self.endpoint.store.clock
        faults = self.endpoint.faults
        deadline = clock.monotonic() + timeout_s
        last_sent = clock.monotonic()
        stalled = False
        try:
            with self.endpoint.store.lock:
                yield self._document(None, "OK")
            while clock.monotonic() < deadline:
                await asyncio.sleep(self.settings.poll_s)
                if faults.take_drop():
                    raise DroppedError("connection dropped by fault injection")
                stalled = stalled or faults.take_stall()
                if stalled:
                    continue
                with self.endpoint.store.lock:
                    lost = self._lost(subscriptions)
                    if lost:
                        yield self._lost_document(lost)
                        return
                    if any(s.pending() for s in subscriptions):
                        last_sent = clock.monotonic()
                        yield self._document(subscriptions, "OK")
                    elif clock.monotonic() - last_sent >= self.settings.keepalive_s:
                        last_sent = clock.monotonic()
                        yield self._document(None, "OK")
            if not stalled:
                with self.endpoint.store.lock:
                    yield self._document(subscriptions, "Closed")
        finally:
            with self.endpoint.store.lock:
                now = clock.monotonic()
                for subscription in subscriptions:
                    subscription.connections -= 1
                    subscription.touch(now)
                self.endpoint.throttle.close_stream(ctx.budget)

    def _lost_document(self, lost: list[Subscription]) -> bytes:
        root, container = response_root(OPERATION)
        message = sub(container, m(f"{OPERATION}ResponseMessage"), ResponseClass="Error")
        sub(message, m("MessageText"), "The specified subscription was not found.")
        sub(message, m("ResponseCode"), NOT_FOUND)
        sub(message, m("DescriptiveLinkKey"), "0")
        holder = sub(message, m("ErrorSubscriptionIds"))
        for subscription in lost:
            sub(holder, t("SubscriptionId"), subscription.id)
        sub(message, m("ConnectionStatus"), "Closed")
        return self._checked(root)
