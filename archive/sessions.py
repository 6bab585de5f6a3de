"""Server-side sessions: signing out ends a session for good.

A signed cookie alone cannot be taken back: a copy of it works until it expires. So the cookie
only carries a random token, and the session lives in the database (its SHA-256, the user, the
user's ``session_epoch``, the expiry). Signing out deletes the row, and the same cookie is refused
from then on, by every archive process; a password change (which bumps the epoch) ends all of the
user's sessions at once.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from sqlalchemy import Engine, delete, select

from archive.accounts import Principal, load_principal
from archive.store.access_tables import sessions


def start_session(engine: Engine, principal: Principal, max_age_s: int) -> str:
    """A new session for ``principal``; returns its token (for the cookie). Expired sessions of
    everyone are cleared on the way."""
    token = secrets.token_urlsafe(32)
    now = _now_ms()
    with engine.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.expires_time <= now))
        conn.execute(
            sessions.insert().values(
                id=_digest(token),
                user_id=principal.user_id,
                session_epoch=principal.session_epoch,
                created_time=now,
                expires_time=now + max_age_s * 1000,
            )
        )
    return token


def session_user(engine: Engine, token: str) -> Principal | None:
    """The signed-in user of the live session ``token``, or None (unknown, signed out,
    expired, or the user's password changed since)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(sessions.c.user_id, sessions.c.session_epoch).where(
                sessions.c.id == _digest(token), sessions.c.expires_time > _now_ms()
            )
        ).first()
        if row is None:
            return None
        return load_principal(conn, row.user_id, row.session_epoch)


def end_session(engine: Engine, token: str) -> None:
    """Sign the session ``token`` out, everywhere."""
    with engine.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.id == _digest(token)))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
