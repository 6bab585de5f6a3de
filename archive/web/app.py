"""The archive's FastAPI app: migrations first, then the routers, sessions and headers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine
from starlette.middleware.sessions import SessionMiddleware

from archive.accounts import IdentityProvider, LocalIdentityProvider, session_secret
from archive.ingest.wire import IngestBatch
from archive.metrics import ArchiveMetrics
from archive.retention import PurgeScheduler
from archive.settings import ArchiveSettings
from archive.store.engine import migrate, open_engine
from archive.web import browse_api, ingest_api, ops, ui
from archive.web.context import ArchiveContext

SESSION_COOKIE = "mfr_archive_session"
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
}


def create_app(
    settings: ArchiveSettings,
    engine: Engine | None = None,
    identity: IdentityProvider | None = None,
    *,
    purge: bool = True,
) -> FastAPI:
    """The archive app on ``engine`` (default: from the settings), its schema migrated."""
    engine = engine or open_engine(settings.database_url.get_secret_value())
    migrate(engine)
    metrics = ArchiveMetrics()
    ctx = ArchiveContext(settings, engine, identity or LocalIdentityProvider(engine), metrics)
    scheduler = PurgeScheduler(engine, settings, metrics) if purge else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if scheduler:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler:
                scheduler.stop()

    app = FastAPI(
        title="Mailbox Folder Replication archive",
        version="1",
        summary="Replicated Exchange folder trees and message metadata, with history.",
        lifespan=lifespan,
    )
    app.state.archive = ctx
    app.add_middleware(
        SessionMiddleware,
        secret_key=session_secret(engine),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    app.middleware("http")(_security_headers)
    for module in (ingest_api, browse_api, ops, ui):
        app.include_router(module.router)
    ui.mount_static(app)
    app.openapi = _openapi_with_batch_schema(app)  # type: ignore[method-assign]
    return app


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _openapi_with_batch_schema(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The ingest route reads its body itself (to name bad records); publish its schema anyway."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        batch = IngestBatch.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(batch.pop("$defs", {}))
        components["IngestBatch"] = batch
        app.openapi_schema = schema
        return schema

    return openapi
