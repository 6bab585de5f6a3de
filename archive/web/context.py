"""What every request handler needs, built once per app and kept on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request
from sqlalchemy import Engine

from archive.accounts import IdentityProvider, Principal, load_principal
from archive.metrics import ArchiveMetrics
from archive.settings import ArchiveSettings


@dataclass(frozen=True)
class ArchiveContext:
    """The archive's settings, database, identity provider and metrics."""

    settings: ArchiveSettings
    engine: Engine
    identity: IdentityProvider
    metrics: ArchiveMetrics


def context(request: Request) -> ArchiveContext:
    """The app's context (a FastAPI dependency)."""
    found: ArchiveContext = request.app.state.archive
    return found


def session_principal(request: Request) -> Principal | None:
    """The signed-in user of this request's session, if the session is still valid."""
    user_id, epoch = request.session.get("uid"), request.session.get("epoch")
    if not isinstance(user_id, int) or not isinstance(epoch, int):
        return None
    with context(request).engine.connect() as conn:
        return load_principal(conn, user_id, epoch)


def api_principal(request: Request) -> Principal:
    """The signed-in user, or 401 (a FastAPI dependency for the browse API)."""
    principal = session_principal(request)
    if principal is None:
        raise HTTPException(status_code=401, detail="sign in first (POST /api/v1/session)")
    return principal


def sign_in(request: Request, principal: Principal) -> None:
    """Start a session for ``principal``."""
    request.session.clear()
    request.session.update({"uid": principal.user_id, "epoch": principal.session_epoch})


def sign_out(request: Request) -> None:
    """End this request's session."""
    request.session.clear()
