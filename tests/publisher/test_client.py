"""The publisher's HTTP client against a real server that misbehaves on purpose, and its health
endpoints."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from publisher.client import Accepted, ArchiveClient, Rejected
from publisher.errors import BatchRefusedError, StoppedError
from publisher.metrics import HealthServer, PublisherMetrics
from publisher.settings import PublisherSettings
from tests.archive.server import ThreadedServer

Answer = tuple[int, dict[str, Any], dict[str, str]]


def scripted_archive(
    answers: list[tuple[int, dict[str, Any], dict[str, str]]],
) -> tuple[FastAPI, list[float]]:
    """An ingest endpoint that gives ``answers`` in turn (the last one forever), noting when
    each call came."""
    app = FastAPI()
    calls: list[float] = []

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/ingest/v1/batches")
    async def ingest(request: Request) -> JSONResponse:
        await request.body()
        calls.append(time.monotonic())
        status, body, headers = answers[min(len(calls), len(answers)) - 1]
        return JSONResponse(body, status_code=status, headers=headers)

    return app, calls


def client_for(url: str, stop: threading.Event) -> ArchiveClient:
    """A client with quick back-off (0.05 s to 0.2 s) so only Retry-After makes it wait long."""
    settings = PublisherSettings(
        archive_url=url, ingest_token=SecretStr("t"), retry_initial_s=0.05, retry_max_s=0.2
    )
    return ArchiveClient(settings, stop)


ACCEPTED: Answer = (200, {"records": 1, "applied": 1, "history": 1, "stale": 0}, {})


def test_retry_after_is_honoured_on_503_and_429() -> None:
    """The client waits at least what Retry-After says, then delivers."""
    app, calls = scripted_archive(
        [
            (503, {"detail": "busy"}, {"Retry-After": "1"}),
            (429, {"detail": "slow down"}, {"Retry-After": "1"}),
            ACCEPTED,
        ]
    )
    server = ThreadedServer(app)
    server.start()
    try:
        client = client_for(server.url, threading.Event())
        assert client.submit([{"x": 1}]) == Accepted(applied=1, stale=0)
        client.close()
    finally:
        server.stop()
    assert len(calls) == 3
    assert calls[1] - calls[0] >= 0.95
    assert calls[2] - calls[1] >= 0.95


def test_rejections_and_refusals_are_not_retried() -> None:
    """A 422 naming records comes back as Rejected; a 413 raises BatchRefusedError."""
    reasons = [{"index": 0, "ref": "r", "reason": "bad"}]
    rejected: Answer = (422, {"detail": "x", "rejected": reasons}, {})
    app, calls = scripted_archive([rejected, (413, {"detail": "too big"}, {})])
    server = ThreadedServer(app)
    server.start()
    try:
        client = client_for(server.url, threading.Event())
        assert client.submit([{"x": 1}]) == Rejected({0: "bad"})
        with pytest.raises(BatchRefusedError, match="too big"):
            client.submit([{"x": 1}])
        client.close()
    finally:
        server.stop()
    assert len(calls) == 2


def test_outage_retries_until_stopped() -> None:
    """With nothing listening the client keeps retrying, and gives up only when told to stop."""
    stop = threading.Event()
    client = client_for("http://127.0.0.1:9", stop)
    timer = threading.Timer(1.0, stop.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(StoppedError):
        client.submit([{"x": 1}])
    assert time.monotonic() - started >= 0.9
    client.close()


def test_a_stop_during_a_failing_attempt_is_a_stop() -> None:
    """Stopped while a request is failing (the archive down), the client says it stopped, as
    it does when stopped during a back-off, not what the last attempt met."""
    stop = threading.Event()

    def refuse(request: httpx.Request) -> httpx.Response:
        stop.set()
        raise httpx.ConnectError("connection refused", request=request)

    settings = PublisherSettings(archive_url="http://archive.invalid", ingest_token=SecretStr("t"))
    client = ArchiveClient(settings, stop, transport=httpx.MockTransport(refuse))
    with pytest.raises(StoppedError):
        client.submit([{"x": 1}])
    client.close()


def test_health_endpoints() -> None:
    """/healthz is always 200; /readyz follows the archive's reachability; /metrics counts."""
    metrics = PublisherMetrics()
    health = HealthServer(metrics, "127.0.0.1", 0)
    health.start()
    base = f"http://127.0.0.1:{health.port}"
    try:
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/readyz").status_code == 503
        metrics.ready.set()
        metrics.consumed.inc(3)
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert "mfr_publisher_consumed_records_total 3.0" in httpx.get(f"{base}/metrics").text
    finally:
        health.stop()
