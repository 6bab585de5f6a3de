"""The listener's webhook endpoints for Graph: ``POST /graph/notifications`` and
``POST /graph/lifecycle`` (both accept either kind of notification, as Microsoft allows the two
URLs to be the same, change-notifications-lifecycle-events.md).

A POST with ``?validationToken=`` is Graph's validation handshake
(change-notifications-delivery-notificationurl-validation.md): answered at once, 200, text/plain,
the token as Starlette URL-decoded it; no body is read. Anything else is a notification body:
its size is bounded while it is read, its checks are ``webhookguard``'s, and what it means is
``webhook``'s. Every answer's time is observed in ``mfr_listener_webhook_ack_seconds``, the
number Graph's 3-second budget is about.
"""

from __future__ import annotations

import time

import structlog
from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from listener.graphmode import LIFECYCLE_PATH, NOTIFICATIONS_PATH, GraphMode
from listener.metrics import Metrics
from listener.webhook import Sorted, WebhookIntake
from listener.webhookguard import (
    BadWebhookError,
    check_content_type,
    check_validation_token,
    parse_notifications,
)

log = structlog.get_logger(__name__)

INLINE_PARSE_BYTES = 64 * 1024  # larger bodies are parsed in a worker thread
PLAIN = "text/plain; charset=utf-8"


async def read_bounded(request: Request, limit: int) -> bytes:
    """The body, or 413 once it passes ``limit`` (nothing past the limit is read or kept)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BadWebhookError(f"body larger than {limit} bytes", 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadWebhookError(f"body larger than {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def add_graph_routes(
    app: FastAPI,
    mode: GraphMode | None,
    intake: WebhookIntake | None,
    metrics: Metrics,
    max_body_bytes: int,
    max_depth: int,
) -> None:
    """Serve the webhook paths on ``app`` (404 unless the listener is in Graph mode)."""

    async def receive(request: Request) -> Response:
        started = time.perf_counter()
        outcome, response = await _answer(request)
        metrics.webhook_requests.labels(outcome).inc()
        metrics.ack_seconds.labels(outcome).observe(time.perf_counter() - started)
        return response

    async def _answer(request: Request) -> tuple[str, Response]:
        if mode is None or intake is None:
            return "rejected", Response("Graph mode is not enabled", 404, media_type=PLAIN)
        try:
            token = request.query_params.get("validationToken")
            if token is not None:
                return "validation", Response(
                    check_validation_token(token),
                    200,
                    media_type=PLAIN,
                    headers={"X-Content-Type-Options": "nosniff"},
                )
            check_content_type(request.headers.get("content-type"))
            body = await read_bounded(request, max_body_bytes)
            sorted_: Sorted
            if len(body) <= INLINE_PARSE_BYTES:
                sorted_ = intake.sort(parse_notifications(body, max_depth))
            else:
                sorted_ = await run_in_threadpool(
                    lambda: intake.sort(parse_notifications(body, max_depth))
                )
        except BadWebhookError as exc:
            log.info("webhook body rejected", reason=exc.reason, status=exc.status)
            return "rejected", Response(
                exc.reason,
                exc.status,
                media_type=PLAIN,
                headers={"X-Content-Type-Options": "nosniff"},
            )
        status = await intake.store(sorted_)
        outcome = "accepted" if status < 300 else "unavailable"
        return outcome, Response(status_code=status)

    for path in (NOTIFICATIONS_PATH, LIFECYCLE_PATH):
        app.add_api_route(path, receive, methods=["POST"], include_in_schema=False)
