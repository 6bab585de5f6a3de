"""Who may use the archive: users (password sign-in, their mailbox grants) and ingest tokens.

Passwords are hashed with Argon2id (argon2-cffi). Ingest tokens are 256-bit random strings shown
once at creation; only their SHA-256 is stored (a fast hash is enough for that much entropy).

``IdentityProvider`` is the seam for an external identity provider (OIDC, SAML, a reverse proxy):
anything that turns a sign-in into a :class:`Principal` can replace :class:`LocalIdentityProvider`.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError

from archive.errors import AccountError
from archive.store.tables import app_secrets, ingest_tokens, user_mailboxes, users
from mfr.topics import normalise_mailbox

TOKEN_PREFIX = "mfr_"  # noqa: S105 - a marker, not a secret
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the user is unknown, so a wrong name costs as long as a wrong password."""
    return _HASHER.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Principal:
    """A signed-in user: who, what they may read."""

    user_id: int
    username: str
    is_admin: bool
    session_epoch: int
    mailboxes: frozenset[str] = field(default_factory=frozenset)

    def may_read(self, mailbox: str) -> bool:
        """Admins read every mailbox; users their own and those delegated to them."""
        return self.is_admin or normalise_mailbox(mailbox) in self.mailboxes


class IdentityProvider(Protocol):
    """Turns credentials into a principal; the seam for external identity providers."""

    def authenticate(self, username: str, password: str) -> Principal | None:
        """The principal these credentials prove, or None."""
        ...


class LocalIdentityProvider:
    """Users and Argon2 password hashes in the archive's own database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def authenticate(self, username: str, password: str) -> Principal | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(users.c.id, users.c.password_hash, users.c.disabled).where(
                    users.c.username == normalise_mailbox(username)
                )
            ).first()
            stored = row.password_hash if row is not None and row.password_hash else _dummy_hash()
            try:
                _HASHER.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return None
            if row is None or row.disabled or not row.password_hash:
                return None
            return load_principal(conn, row.id, None)


def load_principal(conn: Connection, user_id: int, epoch: int | None) -> Principal | None:
    """The user ``user_id`` as a principal, if enabled (and still at ``epoch``, if given)."""
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None or row.disabled or (epoch is not None and row.session_epoch != epoch):
        return None
    granted = conn.execute(
        select(user_mailboxes.c.mailbox).where(user_mailboxes.c.user_id == user_id)
    ).scalars()
    return Principal(
        user_id=row.id,
        username=row.username,
        is_admin=row.is_admin,
        session_epoch=row.session_epoch,
        mailboxes=frozenset(granted),
    )


def add_user(
    engine: Engine, username: str, password: str | None, *, admin: bool, mailboxes: Iterable[str]
) -> None:
    """Create a user. A username that is an address is granted that mailbox; ``mailboxes`` adds
    delegated ones."""
    name = normalise_mailbox(username)
    if not name:
        raise AccountError("a user needs a name")
    if password is not None and len(password) < 10:
        raise AccountError("a password needs at least 10 characters")
    grants = {normalise_mailbox(m) for m in mailboxes} | ({name} if "@" in name else set())
    with engine.begin() as conn:
        try:
            inserted = conn.execute(
                users.insert().values(
                    username=name,
                    password_hash=_HASHER.hash(password) if password else None,
                    is_admin=admin,
                    disabled=False,
                    session_epoch=0,
                    created_time=_now_ms(),
                )
            ).inserted_primary_key
        except IntegrityError as exc:
            raise AccountError(f"user {name} exists already") from exc
        if grants and inserted is not None:
            conn.execute(
                user_mailboxes.insert(), [{"user_id": inserted[0], "mailbox": m} for m in grants]
            )


def set_password(engine: Engine, username: str, password: str) -> None:
    """Change a user's password and end their sessions."""
    if len(password) < 10:
        raise AccountError("a password needs at least 10 characters")
    with engine.begin() as conn:
        changed = conn.execute(
            update(users)
            .where(users.c.username == normalise_mailbox(username))
            .values(password_hash=_HASHER.hash(password), session_epoch=users.c.session_epoch + 1)
        ).rowcount
    if not changed:
        raise AccountError(f"no user {username}")


def add_token(engine: Engine, name: str) -> str:
    """Create an ingest token called ``name``; returns it (it cannot be shown again)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        try:
            conn.execute(
                ingest_tokens.insert().values(
                    name=name, token_hash=_digest(token), created_time=_now_ms(), revoked=False
                )
            )
        except IntegrityError as exc:
            raise AccountError(f"token {name} exists already") from exc
    return token


def token_name(conn: Connection, token: str) -> str | None:
    """The name of the live ingest token ``token``, or None."""
    found = conn.execute(
        select(ingest_tokens.c.name).where(
            ingest_tokens.c.token_hash == _digest(token), ingest_tokens.c.revoked.is_(False)
        )
    ).scalar()
    return None if found is None else str(found)


def session_secret(engine: Engine) -> str:
    """The key that signs session cookies: made once, kept in the database, so every process
    serving the same archive shares it and sessions survive restarts."""
    with engine.begin() as conn:
        found = conn.execute(
            select(app_secrets.c.value).where(app_secrets.c.name == "session")
        ).scalar()
        if found is not None:
            return str(found)
        try:
            with conn.begin_nested():
                conn.execute(
                    app_secrets.insert().values(name="session", value=secrets.token_urlsafe(48))
                )
        except IntegrityError:
            pass  # another process made it first
        return str(
            conn.execute(
                select(app_secrets.c.value).where(app_secrets.c.name == "session")
            ).scalar_one()
        )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
