"""The archive's tables (SQLAlchemy Core). Migrations under ``migrations/`` create exactly these
(and the triggers that keep ``folder_counts``); a test compares the two so they cannot drift.

Times are stored as milliseconds since the epoch (UTC) in BIGINT columns, as the Avro contract
carries them: identical on SQLite and PostgreSQL, and cheap to compare and index.

Current state (``folders``, ``messages``) holds the highest version of each key; the history tables
hold every version ever received (``valid_from`` is the version's ``observed_time``), which answers
"the mailbox as it was at time T": per key, the highest version observed at or before T.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    literal_column,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

KEY = 512  # EWS ids are ~150 characters; stable keys are ids or digests of them


def _id() -> Column[int]:
    return Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True)


def _mailbox_ref() -> Column[int]:
    return Column(
        "mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False
    )


def _folder_columns() -> list[Column[object]]:
    return [
        Column("folder_id", String(KEY), nullable=False),
        Column("change_key", String(KEY)),
        Column("parent_folder_key", String(KEY)),
        Column("display_name", Text, nullable=False),
        Column("folder_class", String(255)),
        Column("distinguished_name", String(64)),
        Column("total_count", Integer),
        Column("unread_count", Integer),
        Column("child_folder_count", Integer),
        Column("deleted", Boolean, nullable=False, default=False),
        Column("deleted_time", BigInteger),
    ]


def order_keys(table: Table) -> dict[str, ColumnElement[Any]]:
    """What a message list sorts by, per order (``archive/browse/ordering.py``): never null, so
    ``(key, id)`` is a total order for keyset paging. Built here, once, because the indexes
    below must hold exactly these expressions (constants as literals, not bound parameters),
    or neither database would match a query's ORDER BY to them."""
    c = table.c
    empty: ColumnElement[str] = literal_column("''")
    return {
        "received": c.sort_time,
        "size": func.coalesce(c.size, literal_column("-1")),
        "sender": func.lower(func.coalesce(c.sender_name, c.sender_address, empty)),
        "subject": func.lower(func.coalesce(c.subject, empty)),
    }


def _message_columns() -> list[Column[object]]:
    """Metadata of a message version; all null when it is withdrawn."""
    return [
        Column("withdrawn", Boolean, nullable=False, default=False),
        Column("withdrawn_time", BigInteger),
        Column("item_id", String(KEY)),
        Column("change_key", String(KEY)),
        Column("folder_key", String(KEY)),
        Column("last_known_folder_key", String(KEY)),
        Column("deleted", Boolean, nullable=False, default=False),
        Column("deleted_time", BigInteger),
        Column("delete_kind", String(32)),
        Column("item_class", String(255)),
        Column("subject", Text),
        Column("sender_name", Text),
        Column("sender_address", Text),
        Column("author", Text),  # JSON of the Avro Address
        Column("to_recipients", Text),  # JSON lists of Addresses
        Column("cc_recipients", Text),
        Column("bcc_recipients", Text),
        Column("datetime_sent", BigInteger),
        Column("datetime_received", BigInteger),
        Column("datetime_created", BigInteger),
        Column("last_modified_time", BigInteger),
        Column("size", BigInteger),
        Column("importance", String(16)),
        Column("sensitivity", String(16)),
        Column("is_read", Boolean),
        Column("flag_status", String(16)),
        Column("categories", Text),  # JSON list of strings
        Column("has_attachments", Boolean),
        Column("internet_message_id", Text),
        Column("conversation_id", String(KEY)),
        Column("search_key", String(KEY)),
        # Newest-first order: received, else sent, else created, else observed. Never null, so
        # (sort_time, id) is a total order for keyset pagination.
        Column("sort_time", BigInteger, nullable=False),
        # Lower-cased subject, people and ids, for case-insensitive search on any database.
        Column("search_text", Text),
    ]


mailboxes = Table(
    "mailboxes",
    metadata,
    _id(),
    Column("address", String(320), nullable=False, unique=True),
    Column("first_seen_time", BigInteger, nullable=False),
    Column("last_change_time", BigInteger),  # newest observed_time applied
    Column("last_ingest_time", BigInteger),  # when the archive last applied a record
    Column("lag_ms", BigInteger),  # ingest time minus observed time of that record
)

folders = Table(
    "folders",
    metadata,
    _id(),
    _mailbox_ref(),
    Column("folder_key", String(KEY), nullable=False),
    *_folder_columns(),
    Column("version", BigInteger, nullable=False),
    Column("observed_time", BigInteger, nullable=False),
    UniqueConstraint("mailbox_id", "folder_key"),
)

folder_history = Table(
    "folder_history",
    metadata,
    _id(),
    Column("folder_ref", ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
    _mailbox_ref(),
    Column("version", BigInteger, nullable=False),
    Column("valid_from", BigInteger, nullable=False),
    *_folder_columns(),
    UniqueConstraint("folder_ref", "version"),
    Index(None, "mailbox_id", "valid_from"),
)

messages = Table(
    "messages",
    metadata,
    _id(),
    _mailbox_ref(),
    Column("message_key", String(KEY), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("observed_time", BigInteger, nullable=False),
    # History below this version was erased by a withdrawal and must not come back from replays.
    Column("withdrawn_version", BigInteger, nullable=False, default=0),
    *_message_columns(),
    UniqueConstraint("mailbox_id", "message_key"),
    Index(None, "mailbox_id", "last_known_folder_key", "sort_time", "id"),
    # Also covers the per-folder counts (is_read last): an index-only scan, no table reads.
    Index(None, "mailbox_id", "last_known_folder_key", "deleted", "sort_time", "id", "is_read"),
    Index(None, "mailbox_id", "sort_time", "id"),
    Index(None, "mailbox_id", "conversation_id", "sort_time", "id"),  # a conversation's
)

# A folder sorted by sender, subject or size (the web UI's columns), read from an index like
# newest first: a page costs the same in a folder of 100 and of 100,000 (migration 0005).
for _name in ("sender", "subject", "size"):
    Index(
        f"ix_messages_folder_by_{_name}",
        messages.c.mailbox_id,
        messages.c.last_known_folder_key,
        order_keys(messages)[_name],
        messages.c.id,
    )

# Each folder's counts as the folder tree shows them: messages (withdrawn ones have no folder),
# deleted ones, unread ones not deleted. Written only by triggers on ``messages`` (migration
# 0006), in the statement that changes the row counted, so they can never drift from it.
folder_counts = Table(
    "folder_counts",
    metadata,
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("folder_key", String(KEY), primary_key=True),  # a last_known_folder_key
    Column("messages", BigInteger, nullable=False),
    Column("deleted", BigInteger, nullable=False),
    Column("unread", BigInteger, nullable=False),
)

message_history = Table(
    "message_history",
    metadata,
    _id(),
    Column("message_ref", ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    _mailbox_ref(),
    Column("version", BigInteger, nullable=False),
    Column("valid_from", BigInteger, nullable=False),
    *_message_columns(),
    UniqueConstraint("message_ref", "version"),
    Index(None, "message_ref", "valid_from", "version"),
    Index(None, "mailbox_id", "last_known_folder_key", "sort_time", "message_ref"),
)

mailbox_status = Table(
    "mailbox_status",
    metadata,
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("component", String(32), primary_key=True),
    Column("state", String(32), nullable=False),
    Column("initial_sync_percent", Float),
    Column("folders", BigInteger),
    Column("messages", BigInteger),
    Column("last_change_time", BigInteger),
    Column("lag_ms", BigInteger),
    Column("last_error", Text),
    Column("last_error_time", BigInteger),
    Column("updated_time", BigInteger, nullable=False),
)

users = Table(
    "users",
    metadata,
    _id(),
    Column("username", String(320), nullable=False, unique=True),
    Column("password_hash", Text),  # null: signs in only through an external identity provider
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    # Bumped to end every session of the user (password change, disabling).
    Column("session_epoch", Integer, nullable=False, default=0),
    Column("created_time", BigInteger, nullable=False),
)

user_mailboxes = Table(
    "user_mailboxes",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("mailbox", String(320), primary_key=True),  # an address; may arrive after the grant
)

ingest_tokens = Table(
    "ingest_tokens",
    metadata,
    _id(),
    Column("name", String(200), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex
    Column("created_time", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

app_secrets = Table(
    "app_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Sign-in state lives in its own module; importing it here puts its tables on ``metadata`` for
# the migrations and their test.
from archive.store import access_tables as _access_tables  # noqa: E402,F401
