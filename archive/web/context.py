"""What every request handler needs, built once per app and kept on ``app.state``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from archive.accounts import IdentityProvider, Principal
from archive.audit import AuditLog
from archive.lockout import Lockout
from archive.metrics import ArchiveMetrics
from archive.repair import DriftBoard, Resync
from archive.sessions import end_session, session_user, start_session
from archive.settings import ArchiveSettings
from archive.tokens import token_principal

SESSION_COOKIE = "mfr_archive_session"
# Declared as security schemes, so /openapi.json says how to call the API (either one will do);
# neither refuses by itself (auto_error=False): api_principal says what is missing.
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="apiToken",
    bearerFormat="mfr_pat_...",
    description="A personal API token (create one on /tokens, or `mfr archive --add-api-token`): "
    "`Authorization: Bearer mfr_pat_...`. Reads what its user reads.",
)
_COOKIE = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="The session cookie set by POST /api/v1/session (or the web UI's sign-in).",
)


@dataclass(frozen=True)
class ArchiveContext:
    """The archive's settings, database, identity provider, metrics and sign-in guards."""

    settings: ArchiveSettings
    engine: Engine
    identity: IdentityProvider
    metrics: ArchiveMetrics
    audit: AuditLog
    lockout: Lockout
    drift: DriftBoard = field(default_factory=DriftBoard)  # the drift checks' last findings
    resync: Resync | None = None  # puts an admin's resync request on the bus; None: no bus


def context(request: Request) -> ArchiveContext:
    """The app's context (a FastAPI dependency)."""
    found: ArchiveContext = request.app.state.archive
    return found


def client_address(request: Request) -> str:
    """The address the request came from (the proxy's, unless uvicorn trusts its headers)."""
    return request.client.host if request.client else "unknown"


def session_principal(request: Request) -> Principal | None:
    """The signed-in user of this request's session, if the session is still live."""
    token = request.session.get("sid")
    if not isinstance(token, str) or not token:
        return None
    return session_user(context(request).engine, token)


def api_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    _cookie: Annotated[str | None, Depends(_COOKIE)],
) -> Principal:
    """The caller: the user of a personal API token (``Authorization: Bearer``), else of the
    session; 401 otherwise (a FastAPI dependency for the browse API)."""
    if "authorization" in request.headers:
        if bearer is None:
            raise HTTPException(
                status_code=401,
                detail="the Authorization header must be 'Bearer <personal API token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = token_principal(context(request).engine, bearer.credentials)
        if principal is None:
            raise HTTPException(
                status_code=401,
                detail="unknown or revoked API token",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return principal
    principal = session_principal(request)
    if principal is None:
        raise HTTPException(
            status_code=401,
            detail="sign in first (POST /api/v1/session) or send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def sign_in(request: Request, principal: Principal) -> None:
    """Start a session for ``principal`` (a new token: nothing of an earlier session carries
    over, so a session fixed by someone else is worthless)."""
    ctx = context(request)
    token = start_session(ctx.engine, principal, ctx.settings.session_max_age_s)
    request.session.clear()
    request.session.update({"sid": token, "csrf": secrets.token_urlsafe(32)})


def sign_out(request: Request) -> str | None:
    """End this request's session on the server and in the cookie; returns who it was."""
    ctx = context(request)
    token = request.session.get("sid")
    who = None
    if isinstance(token, str) and token:
        principal = session_user(ctx.engine, token)
        who = principal.username if principal else None
        end_session(ctx.engine, token)
    request.session.clear()
    return who


def audit_admin_read(request: Request, me: Principal, mailbox: str) -> None:
    """An admin reading a mailbox not granted to them personally goes into the audit log
    (each request: a page, a message, a search)."""
    address = mailbox.strip().lower()
    if me.is_admin and address not in me.mailboxes:
        context(request).audit.record(
            "admin_read",
            user=me.username,
            client=client_address(request),
            mailbox=address,
            path=request.url.path,
            query=request.url.query or None,
        )
