"""each folder's message counts, kept up to date by triggers on ``messages``

The folder tree (on every page of the web UI) counted a mailbox's messages per folder at each
request: a scan of its index, half a second and more at 1,000,000 messages. ``folder_counts``
holds those counts (messages, deleted, unread; the same definitions as the tree's query) per
mailbox and ``last_known_folder_key``, and triggers on ``messages`` change them in the same
statement as the row they count, whatever writes it (ingest, retention purge, a cascade). A
withdrawn message has no folder, so it counts nowhere, as before.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# What a row adds to its folder's counts (the same on both databases: SQLite's booleans are 0/1).
DELETED = "CASE WHEN {row}.deleted THEN 1 ELSE 0 END"
UNREAD = "CASE WHEN NOT {row}.is_read AND NOT {row}.deleted THEN 1 ELSE 0 END"
CHANGED = (
    "OLD.last_known_folder_key IS DISTINCT FROM NEW.last_known_folder_key"
    " OR OLD.deleted IS DISTINCT FROM NEW.deleted OR OLD.is_read IS DISTINCT FROM NEW.is_read"
)


def _add(row: str, where: str = "") -> str:
    """Count ``row`` in its folder (an upsert)."""
    return (
        "INSERT INTO folder_counts (mailbox_id, folder_key, messages, deleted, unread) "
        f"SELECT {row}.mailbox_id, {row}.last_known_folder_key, 1, "
        f"{DELETED.format(row=row)}, {UNREAD.format(row=row)} {where} "
        "ON CONFLICT (mailbox_id, folder_key) DO UPDATE SET "
        "messages = folder_counts.messages + 1, "
        "deleted = folder_counts.deleted + excluded.deleted, "
        "unread = folder_counts.unread + excluded.unread;"
    )


def _remove(row: str) -> str:
    """Count ``row`` out of its folder (its folder was counted when it came)."""
    return (
        f"UPDATE folder_counts SET messages = messages - 1, "  # noqa: S608 - our own names only
        f"deleted = deleted - {DELETED.format(row=row)}, "
        f"unread = unread - {UNREAD.format(row=row)} "
        f"WHERE mailbox_id = {row}.mailbox_id AND folder_key = {row}.last_known_folder_key;"
    )


SQLITE = [
    "CREATE TRIGGER messages_count_insert AFTER INSERT ON messages "
    "WHEN NEW.last_known_folder_key IS NOT NULL "
    f"BEGIN {_add('NEW', 'WHERE true')} END",
    "CREATE TRIGGER messages_count_delete AFTER DELETE ON messages "
    "WHEN OLD.last_known_folder_key IS NOT NULL "
    f"BEGIN {_remove('OLD')} END",
    "CREATE TRIGGER messages_count_update "
    "AFTER UPDATE OF last_known_folder_key, deleted, is_read ON messages "
    f"WHEN {CHANGED.replace('IS DISTINCT FROM', 'IS NOT')} "
    f"BEGIN {_remove('OLD')} "
    f"{_add('NEW', 'WHERE NEW.last_known_folder_key IS NOT NULL')} END",
]
POSTGRESQL = [
    "CREATE FUNCTION messages_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP <> 'INSERT' AND OLD.last_known_folder_key IS NOT NULL THEN "
    f"{_remove('OLD')} END IF; "
    "IF TG_OP <> 'DELETE' AND NEW.last_known_folder_key IS NOT NULL THEN "
    f"{_add('NEW')} END IF; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER messages_count_insert_delete AFTER INSERT OR DELETE ON messages "
    "FOR EACH ROW EXECUTE FUNCTION messages_count()",
    "CREATE TRIGGER messages_count_update "
    "AFTER UPDATE OF last_known_folder_key, deleted, is_read ON messages "
    f"FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION messages_count()",
]

BACKFILL = (
    "INSERT INTO folder_counts (mailbox_id, folder_key, messages, deleted, unread) "  # noqa: S608
    f"SELECT m.mailbox_id, m.last_known_folder_key, count(*), "
    f"sum({DELETED.format(row='m')}), sum({UNREAD.format(row='m')}) FROM messages m "
    "WHERE m.last_known_folder_key IS NOT NULL GROUP BY m.mailbox_id, m.last_known_folder_key"
)


def upgrade() -> None:
    op.create_table(
        "folder_counts",
        sa.Column("mailbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
        sa.Column("folder_key", sa.String(length=512), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.BigInteger(), nullable=False),
        sa.Column("unread", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["mailbox_id"], ["mailboxes.id"],
                                name=op.f("fk_folder_counts_mailbox_id_mailboxes"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("mailbox_id", "folder_key", name=op.f("pk_folder_counts")),
    )
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRESQL:
        op.execute(statement)
    op.execute(BACKFILL)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER messages_count_{name}")
    else:
        op.execute("DROP TRIGGER messages_count_insert_delete ON messages")
        op.execute("DROP TRIGGER messages_count_update ON messages")
        op.execute("DROP FUNCTION messages_count()")
    op.drop_table("folder_counts")
