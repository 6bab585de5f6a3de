"""The archive's FastAPI app: migrations first, then the routers, sessions and the guards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.middleware.sessions import SessionMiddleware

from archive.accounts import IdentityProvider, LocalIdentityProvider, session_secret
from archive.audit import AuditLog
from archive.ingest.wire import IngestBatch
from archive.lockout import Lockout
from archive.metrics import ArchiveMetrics
from archive.oidc import OidcClient
from archive.repair import Resync
from archive.retention import PurgeScheduler
from archive.settings import ArchiveSettings
from archive.store.engine import migrate, open_engine
from archive.web import (
    admin,
    admin_users,
    browse_api,
    docs,
    ingest_api,
    oidc_signin,
    ops,
    tokens_ui,
    ui,
)
from archive.web.context import SESSION_COOKIE, ArchiveContext
from archive.web.guards import Guards

__all__ = ["SESSION_COOKIE", "create_app"]
log = structlog.get_logger(__name__)


def create_app(
    settings: ArchiveSettings,
    engine: Engine | None = None,
    identity: IdentityProvider | None = None,
    *,
    purge: bool = True,
    resync: Resync | None = None,
) -> FastAPI:
    """The archive app on ``engine`` (default: from the settings), its schema migrated;
    ``resync`` puts the admin page's resync requests on the bus (None: the page says no)."""
    engine = engine or open_engine(settings.database_url.get_secret_value())
    migrate(engine)
    metrics = ArchiveMetrics()
    ctx = ArchiveContext(
        settings,
        engine,
        identity or LocalIdentityProvider(engine),
        metrics,
        AuditLog(settings.audit_path()),
        Lockout(engine, settings),
        resync=resync,
    )
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
        docs_url=None,  # docs.py serves /docs without a CDN, under the archive's CSP
        redoc_url=None,
    )
    app.state.archive = ctx
    app.add_middleware(
        SessionMiddleware,
        secret_key=_cookie_key(settings, engine),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    for module in (ingest_api, browse_api, ops, ui, admin):
        app.include_router(module.router)
    app.state.oidc = OidcClient(settings.oidc) if settings.oidc.enabled else None
    for module in (admin_users, tokens_ui, oidc_signin, docs):  # who gets in; the API's docs
        app.include_router(module.router)
    app.add_exception_handler(RequestValidationError, _bad_request)
    # Added last, so outermost: its headers and its crash barrier cover everything inside.
    app.add_middleware(
        Guards, max_body_bytes=settings.max_form_bytes, allowed_origins=settings.allowed_origins
    )
    ui.mount_static(app)
    docs.mount_assets(app)
    app.openapi = _openapi_with_batch_schema(app)  # type: ignore[method-assign]
    return app


def _cookie_key(settings: ArchiveSettings, engine: Engine) -> str:
    """The configured secret; the database-held key only where none is configured (a demo):
    whoever reads the database could otherwise forge cookies."""
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value()
    log.warning(
        "no session_secret configured: session cookies are signed with a key kept in the "
        "database (set MFR_ARCHIVE__SESSION_SECRET in production)"
    )
    return session_secret(engine)


async def _bad_request(_: Request, exc: Exception) -> Response:
    """A parameter that does not fit its declared type or range: 400, naming each one."""
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
        for err in exc.errors()[:10]
    )
    return JSONResponse(status_code=400, content={"detail": problems[:2000]})


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
