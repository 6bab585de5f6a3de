"""The listener's HTTP face: push callbacks, Graph webhooks, health, readiness, Prometheus
metrics, status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from listener.graphapp import add_graph_routes
from listener.push import Answer, PushMode
from listener.service import Listener
from listener.xmlguard import XML_MEDIA_TYPE, BadNotificationError, check_envelope, soap_fault

log = structlog.get_logger(__name__)

DRAIN_LIMIT = 128 * 1024 * 1024  # past this, an oversized body is not even read to its end


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or ``BadNotificationError`` (413) past ``limit``. An oversized body is drained
    and dropped, so the sender reads a clean answer instead of a reset connection."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_LIMIT:
        raise BadNotificationError(f"body larger than {limit} bytes", 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif chunks:
            chunks.clear()
        if size > DRAIN_LIMIT:
            break
    if size > limit:
        raise BadNotificationError(f"body larger than {limit} bytes", 413)
    return b"".join(chunks)


def create_app(listener: Listener) -> FastAPI:
    """An app serving ``listener``."""
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        listener.serving.set()  # Graph mode subscribes once its webhooks can be validated
        yield

    app = FastAPI(title="mfr listener", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    graph = listener.settings.graph
    add_graph_routes(app, listener.graph_mode, listener.webhooks, listener.metrics,
                     graph.max_body_bytes, graph.max_depth)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(response: Response) -> dict[str, Any]:
        """Subscribed, the bus stores change events, every group has its connection."""
        ok, detail = listener.readiness()
        if not ok:
            response.status_code = 503
        return {"status": "ready" if ok else "not ready", **detail}

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(listener.metrics.registry),
                        media_type=CONTENT_TYPE_LATEST)

    @app.get("/status")
    def status() -> dict[str, Any]:
        """Per mailbox: subscribed, connection group, last event, last resync, last error."""
        return {"mode": listener.mode_name, "mailboxes": listener.board.view()}

    @app.post("/push/{token}")
    async def push(token: str, request: Request) -> Response:
        """Exchange's SendNotification for the subscription behind ``token``."""
        mode = listener.mode
        if not isinstance(mode, PushMode):
            return _fault(listener, BadNotificationError("push is not enabled", 404))
        try:
            body = await read_body(request, mode.push.max_body_bytes)
            check_envelope(body)
            answer: Answer = await run_in_threadpool(mode.handle, token, body)
        except BadNotificationError as exc:
            return _fault(listener, exc)
        except ValueError as exc:
            return _fault(listener, BadNotificationError(str(exc)))
        listener.metrics.push_requests.labels(answer.outcome).inc()
        return Response(answer.body, answer.status, media_type=XML_MEDIA_TYPE)

    return app


def _fault(listener: Listener, error: BadNotificationError) -> Response:
    listener.metrics.push_requests.labels("rejected").inc()
    log.info("push body rejected", reason=error.reason, status=error.status)
    return Response(soap_fault(error.reason), error.status, media_type=XML_MEDIA_TYPE)
