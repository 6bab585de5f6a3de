"""The extractor's HTTP face: health, readiness, Prometheus metrics and per-mailbox status."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from extractor.service import Extractor


def create_app(extractor: Extractor) -> FastAPI:
    """An app reporting on ``extractor``."""
    app = FastAPI(title="mfr extractor", docs_url=None, redoc_url=None)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(response: Response) -> dict[str, str]:
        """The extractor is consuming and Exchange can be reached (else the cause, one line)."""
        if not extractor.ready.is_set():
            response.status_code = 503
            return {"status": "starting"}
        problem = extractor.health.problem
        if problem is not None:
            response.status_code = 503
            return {"status": "not ready", "error": f"Exchange unreachable: {problem}"}
        return {"status": "ready"}

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(extractor.metrics.registry),
                        media_type=CONTENT_TYPE_LATEST)

    @app.get("/status")
    def status() -> dict[str, Any]:
        """Per mailbox: state, last change, lag behind Exchange, last error."""
        return {
            mailbox: {
                "state": s.state,
                "initial_sync_percent": s.percent,
                "last_change": s.last_change.isoformat() if s.last_change else None,
                "lag_ms": s.lag_ms,
                "last_error": s.last_error,
            }
            for mailbox, s in sorted(extractor.status.items())
        }

    return app
