"""Personal API tokens: a script reads the browse API as its user, with ``Authorization: Bearer``.

A session cookie needs a browser and a password typed into a form; a script in an outage needs
neither. Each token belongs to one user and reads exactly what that user reads (an admin's token
also reads the admin routes). It is 256 random bits, shown once at creation; only its SHA-256 is
stored (a fast hash is enough for that much entropy), so a copy of the database lets nobody in.
Tokens are named per user, listed with when they were last used, and revoked one by one; removing
the user removes them. A password change does not end them: they are separate credentials, each
revoked on its own.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.exc import IntegrityError

from archive.accounts import Principal, load_principal
from archive.errors import AccountError
from archive.store.access_tables import api_tokens
from archive.store.tables import users
from mfr.topics import normalise_mailbox

API_TOKEN_PREFIX = "mfr_pat_"  # noqa: S105 - a marker, not a secret: tells it from ingest tokens
LAST_USED_GRANULARITY_MS = 60_000  # a busy script writes "last used" at most once a minute
MAX_NAME = 200


@dataclass(frozen=True)
class ApiToken:
    """One token as listed: never the token itself."""

    id: int
    username: str
    name: str
    created_time: int
    last_used_time: int | None


def create_api_token(engine: Engine, username: str, name: str) -> str:
    """A new token called ``name`` for the user ``username``; returns it (it cannot be shown
    again)."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise AccountError(f"a token needs a name of 1 to {MAX_NAME} characters")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        user_id = conn.execute(
            select(users.c.id).where(users.c.username == normalise_mailbox(username))
        ).scalar()
        if user_id is None:
            raise AccountError(f"no user {username}")
        try:
            conn.execute(
                api_tokens.insert().values(
                    user_id=user_id, name=name, token_hash=_digest(token), created_time=_now_ms()
                )
            )
        except IntegrityError as exc:
            raise AccountError(f"{username} has a token called {name!r} already") from exc
    return token


def list_api_tokens(engine: Engine, username: str | None = None) -> list[ApiToken]:
    """The tokens of ``username`` (everyone's if None), by user, then newest first."""
    query = (
        select(api_tokens, users.c.username)
        .join(users, users.c.id == api_tokens.c.user_id)
        .order_by(users.c.username, api_tokens.c.created_time.desc(), api_tokens.c.id.desc())
    )
    if username is not None:
        query = query.where(users.c.username == normalise_mailbox(username))
    with engine.connect() as conn:
        return [
            ApiToken(r.id, r.username, r.name, r.created_time, r.last_used_time)
            for r in conn.execute(query)
        ]


def revoke_api_token(engine: Engine, token_id: int, username: str | None = None) -> bool:
    """Revoke token ``token_id`` (only if it is ``username``'s, when given); whether it existed."""
    condition = api_tokens.c.id == token_id
    if username is not None:
        owner = select(users.c.id).where(users.c.username == normalise_mailbox(username))
        condition &= api_tokens.c.user_id.in_(owner.scalar_subquery())
    with engine.begin() as conn:
        return bool(conn.execute(delete(api_tokens).where(condition)).rowcount)


def token_principal(engine: Engine, token: str) -> Principal | None:
    """The user a live token ``token`` stands for (if that user is enabled), or None."""
    if not token.startswith(API_TOKEN_PREFIX) or len(token) > 200:
        return None
    now = _now_ms()
    with engine.connect() as conn:
        row = conn.execute(
            select(api_tokens.c.id, api_tokens.c.user_id, api_tokens.c.last_used_time).where(
                api_tokens.c.token_hash == _digest(token)
            )
        ).first()
        if row is None:
            return None
        principal = load_principal(conn, row.user_id, None)
    if principal is not None and now - (row.last_used_time or 0) >= LAST_USED_GRANULARITY_MS:
        with engine.begin() as conn:
            conn.execute(
                update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_time=now)
            )
    return principal


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
