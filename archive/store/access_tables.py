"""The archive's sign-in state: server-side sessions, failed sign-in counters and personal API
tokens.

Kept apart from the replicated data in ``tables.py`` (same metadata, same migrations) because it
is about who may sign in, not what was replicated. Both live in the database, not in a process, so
every archive process serving the same database agrees: a session ended by one is ended for all,
and a lock set by one (or lifted by ``mfr archive --unlock``) holds for all.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from archive.store.tables import metadata

sessions = Table(
    "sessions",
    metadata,
    # SHA-256 of the session's random token: the cookie carries the token, the table only its
    # digest, so a copy of the database signs nobody in.
    Column("id", String(64), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("session_epoch", Integer, nullable=False),
    Column("created_time", BigInteger, nullable=False),
    Column("expires_time", BigInteger, nullable=False),
    Index(None, "expires_time"),
)

sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    # "account:<user name>" or "address:<client address>"
    Column("scope", String(400), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_time", BigInteger, nullable=False),
    Column("locked_until", BigInteger),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    # SHA-256 of the token: the user's script holds the token, the table only its digest.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_time", BigInteger, nullable=False),
    Column("last_used_time", BigInteger),
    UniqueConstraint("user_id", "name"),
)
