"""Who may use the archive: users (password sign-in, their mailbox grants) and ingest tokens.

Passwords are hashed with Argon2id (argon2-cffi). Ingest tokens are 256-bit random strings shown
once at creation; only their SHA-256 is stored (a fast hash is enough for that much entropy).

``IdentityProvider`` is the seam for checking a user name and password elsewhere (LDAP, a
reverse proxy): anything that turns them into a :class:`Principal` can replace
:class:`LocalIdentityProvider`. OpenID Connect is a redirect, not a password check: it signs in
through ``archive/oidc.py`` and :func:`external_user`.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from archive.errors import AccountError
from archive.store.access_tables import api_tokens
from archive.store.tables import app_secrets, ingest_tokens, user_mailboxes, users
from mfr.topics import normalise_mailbox

TOKEN_PREFIX = "mfr_"  # noqa: S105 - a marker, not a secret
_HASHER = PasswordHasher()
# What the archive takes for a mailbox address: one @, a local part without spaces or the
# characters that delimit addresses, a domain of dot-separated DNS labels. Stricter than RFC 5321
# on purpose (no quoted local parts, no address literals): Exchange has neither.
_ADDRESS = re.compile(
    r"[^@\s<>()\[\],;:\"\\]{1,64}@(?=.{1,255}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_PLAIN_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


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


@dataclass(frozen=True)
class UserInfo:
    """One user as the admin sees them."""

    username: str
    is_admin: bool
    has_password: bool
    mailboxes: tuple[str, ...]
    api_tokens: int
    created_time: int


def mailbox_address(text: str) -> str:
    """``text`` as a mailbox address (lower case), or an AccountError saying why it is not one."""
    address = normalise_mailbox(text)
    if not _ADDRESS.fullmatch(address):
        raise AccountError(
            f"{text.strip()!r} is not a mailbox address (expected name@domain, such as "
            "alice@corp.example)"
        )
    return address


def user_name(text: str) -> str:
    """A user name: a mailbox address, or a plain name such as ``ops`` (letters, digits, ``.``,
    ``_``, ``-``) for a break-glass account that owns no mailbox."""
    name = normalise_mailbox(text)
    if "@" in name:
        return mailbox_address(name)
    if not _PLAIN_NAME.fullmatch(name):
        raise AccountError(
            f"{text.strip()!r} is not a user name: use a mailbox address, or a plain name of "
            "letters, digits, '.', '_' and '-' (such as ops)"
        )
    return name


def add_user(
    engine: Engine, username: str, password: str | None, *, admin: bool, mailboxes: Iterable[str]
) -> None:
    """Create a user. A username that is an address is granted that mailbox; ``mailboxes`` adds
    delegated ones. Names and addresses are checked first: nothing is created for a bad one."""
    name = user_name(username)
    grants = {mailbox_address(m) for m in mailboxes} | ({name} if "@" in name else set())
    if password is not None and len(password) < 10:
        raise AccountError("a password needs at least 10 characters")
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


def list_users(engine: Engine) -> list[UserInfo]:
    """Every user, by name, with their grants and how many API tokens they hold."""
    tokens = (
        select(func.count()).where(api_tokens.c.user_id == users.c.id).scalar_subquery()
    )
    with engine.connect() as conn:
        grants: dict[int, list[str]] = {}
        for user_id, mailbox in conn.execute(
            select(user_mailboxes.c.user_id, user_mailboxes.c.mailbox).order_by(
                user_mailboxes.c.mailbox
            )
        ):
            grants.setdefault(user_id, []).append(mailbox)
        return [
            UserInfo(
                username=r.username,
                is_admin=r.is_admin,
                has_password=r.password_hash is not None,
                mailboxes=tuple(grants.get(r.id, ())),
                api_tokens=r.tokens,
                created_time=r.created_time,
            )
            for r in conn.execute(
                select(users, tokens.label("tokens")).order_by(users.c.username)
            )
        ]


def remove_user(engine: Engine, username: str) -> None:
    """Remove a user with their grants, sessions and API tokens (the replicated mailbox stays)."""
    with engine.begin() as conn:
        removed = conn.execute(
            delete(users).where(users.c.username == normalise_mailbox(username))
        ).rowcount
    if not removed:
        raise AccountError(f"no user {username}")


def external_user(engine: Engine, address: str, *, admin: bool) -> Principal | None:
    """The user an external identity provider vouched for as ``address``: created on first
    sign-in without a password and granted that mailbox; its admin flag follows the provider's
    verdict at every sign-in. None if the user is disabled."""
    name = mailbox_address(address)
    with engine.begin() as conn:
        user_id = conn.execute(select(users.c.id).where(users.c.username == name)).scalar()
        if user_id is None:
            try:
                with conn.begin_nested():
                    user_id = conn.execute(
                        users.insert().values(
                            username=name, password_hash=None, is_admin=admin, disabled=False,
                            session_epoch=0, created_time=_now_ms(),
                        )
                    ).inserted_primary_key[0]  # type: ignore[index]
                    conn.execute(user_mailboxes.insert().values(user_id=user_id, mailbox=name))
            except IntegrityError:  # another sign-in created it first
                user_id = conn.execute(
                    select(users.c.id).where(users.c.username == name)
                ).scalar_one()
        else:
            conn.execute(update(users).where(users.c.id == user_id).values(is_admin=admin))
        return load_principal(conn, user_id, None)


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


def list_ingest_tokens(engine: Engine) -> list[tuple[str, int, bool]]:
    """Every ingest token: its name, when it was made, and whether it is revoked."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(ingest_tokens.c.name, ingest_tokens.c.created_time, ingest_tokens.c.revoked)
            .order_by(ingest_tokens.c.name)
        )
        return [(r.name, r.created_time, r.revoked) for r in rows]


def revoke_ingest_token(engine: Engine, name: str) -> None:
    """Revoke the ingest token ``name``: a publisher holding it is refused from now on."""
    with engine.begin() as conn:
        changed = conn.execute(
            update(ingest_tokens).where(ingest_tokens.c.name == name).values(revoked=True)
        ).rowcount
    if not changed:
        raise AccountError(f"no ingest token {name}")


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
