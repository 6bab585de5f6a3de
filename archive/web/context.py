"""What every request handler needs, built once per app and kept on ``app.state``."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request
from sqlalchemy import Engine

from archive.accounts import IdentityProvider, Principal
from archive.audit import AuditLog
from archive.lockout import Lockout
from archive.metrics import ArchiveMetrics
from archive.sessions import end_session, session_user, start_session
from archive.settings import ArchiveSettings


@dataclass(frozen=True)
class ArchiveContext:
    """The archive's settings, database, identity provider, metrics and sign-in guards."""

    settings: ArchiveSettings
    engine: Engine
    identity: IdentityProvider
    metrics: ArchiveMetrics
    audit: AuditLog
    lockout: Lockout


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


def api_principal(request: Request) -> Principal:
    """The signed-in user, or 401 (a FastAPI dependency for the browse API)."""
    principal = session_principal(request)
    if principal is None:
        raise HTTPException(status_code=401, detail="sign in first (POST /api/v1/session)")
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
