"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_secrets")),
    )
    op.create_table(
        "ingest_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_ingest_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_ingest_tokens_token_hash")),
    )
    op.create_table(
        "mailboxes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("first_seen_time", sa.BigInteger(), nullable=False),
        sa.Column("last_change_time", sa.BigInteger(), nullable=True),
        sa.Column("last_ingest_time", sa.BigInteger(), nullable=True),
        sa.Column("lag_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailboxes")),
        sa.UniqueConstraint("address", name=op.f("uq_mailboxes_address")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("username", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("created_time", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "folders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mailbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("folder_key", sa.String(length=512), nullable=False),
        sa.Column("folder_id", sa.String(length=512), nullable=False),
        sa.Column("change_key", sa.String(length=512), nullable=True),
        sa.Column("parent_folder_key", sa.String(length=512), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("folder_class", sa.String(length=255), nullable=True),
        sa.Column("distinguished_name", sa.String(length=64), nullable=True),
        sa.Column("total_count", sa.Integer(), nullable=True),
        sa.Column("unread_count", sa.Integer(), nullable=True),
        sa.Column("child_folder_count", sa.Integer(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_time", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("observed_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_folders_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_folders")),
        sa.UniqueConstraint(
            "mailbox_id", "folder_key", name=op.f("uq_folders_mailbox_id_folder_key")
        ),
    )
    op.create_table(
        "mailbox_status",
        sa.Column(
            "mailbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("component", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("initial_sync_percent", sa.Float(), nullable=True),
        sa.Column("folders", sa.BigInteger(), nullable=True),
        sa.Column("messages", sa.BigInteger(), nullable=True),
        sa.Column("last_change_time", sa.BigInteger(), nullable=True),
        sa.Column("lag_ms", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_time", sa.BigInteger(), nullable=True),
        sa.Column("updated_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_mailbox_status_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("mailbox_id", "component", name=op.f("pk_mailbox_status")),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "mailbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("message_key", sa.String(length=512), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("observed_time", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn_version", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("withdrawn_time", sa.BigInteger(), nullable=True),
        sa.Column("item_id", sa.String(length=512), nullable=True),
        sa.Column("change_key", sa.String(length=512), nullable=True),
        sa.Column("folder_key", sa.String(length=512), nullable=True),
        sa.Column("last_known_folder_key", sa.String(length=512), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_time", sa.BigInteger(), nullable=True),
        sa.Column("delete_kind", sa.String(length=32), nullable=True),
        sa.Column("item_class", sa.String(length=255), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("sender_name", sa.Text(), nullable=True),
        sa.Column("sender_address", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("to_recipients", sa.Text(), nullable=True),
        sa.Column("cc_recipients", sa.Text(), nullable=True),
        sa.Column("bcc_recipients", sa.Text(), nullable=True),
        sa.Column("datetime_sent", sa.BigInteger(), nullable=True),
        sa.Column("datetime_received", sa.BigInteger(), nullable=True),
        sa.Column("datetime_created", sa.BigInteger(), nullable=True),
        sa.Column("last_modified_time", sa.BigInteger(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("importance", sa.String(length=16), nullable=True),
        sa.Column("sensitivity", sa.String(length=16), nullable=True),
        sa.Column("is_read", sa.Boolean(), nullable=True),
        sa.Column("flag_status", sa.String(length=16), nullable=True),
        sa.Column("categories", sa.Text(), nullable=True),
        sa.Column("has_attachments", sa.Boolean(), nullable=True),
        sa.Column("internet_message_id", sa.Text(), nullable=True),
        sa.Column("conversation_id", sa.String(length=512), nullable=True),
        sa.Column("search_key", sa.String(length=512), nullable=True),
        sa.Column("sort_time", sa.BigInteger(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_messages_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "mailbox_id", "message_key", name=op.f("uq_messages_mailbox_id_message_key")
        ),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_messages_mailbox_id_last_known_folder_key_deleted_sort_time_id_is_read"),
            ["mailbox_id", "last_known_folder_key", "deleted", "sort_time", "id", "is_read"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_messages_mailbox_id_last_known_folder_key_sort_time_id"),
            ["mailbox_id", "last_known_folder_key", "sort_time", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_messages_mailbox_id_sort_time_id"),
            ["mailbox_id", "sort_time", "id"],
            unique=False,
        )

    op.create_table(
        "user_mailboxes",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_mailboxes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "mailbox", name=op.f("pk_user_mailboxes")),
    )
    op.create_table(
        "folder_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "folder_ref", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "mailbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("folder_id", sa.String(length=512), nullable=False),
        sa.Column("change_key", sa.String(length=512), nullable=True),
        sa.Column("parent_folder_key", sa.String(length=512), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("folder_class", sa.String(length=255), nullable=True),
        sa.Column("distinguished_name", sa.String(length=64), nullable=True),
        sa.Column("total_count", sa.Integer(), nullable=True),
        sa.Column("unread_count", sa.Integer(), nullable=True),
        sa.Column("child_folder_count", sa.Integer(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_time", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["folder_ref"],
            ["folders.id"],
            name=op.f("fk_folder_history_folder_ref_folders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_folder_history_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_folder_history")),
        sa.UniqueConstraint(
            "folder_ref", "version", name=op.f("uq_folder_history_folder_ref_version")
        ),
    )
    with op.batch_alter_table("folder_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_folder_history_mailbox_id_valid_from"),
            ["mailbox_id", "valid_from"],
            unique=False,
        )

    op.create_table(
        "message_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "message_ref", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "mailbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn", sa.Boolean(), nullable=False),
        sa.Column("withdrawn_time", sa.BigInteger(), nullable=True),
        sa.Column("item_id", sa.String(length=512), nullable=True),
        sa.Column("change_key", sa.String(length=512), nullable=True),
        sa.Column("folder_key", sa.String(length=512), nullable=True),
        sa.Column("last_known_folder_key", sa.String(length=512), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_time", sa.BigInteger(), nullable=True),
        sa.Column("delete_kind", sa.String(length=32), nullable=True),
        sa.Column("item_class", sa.String(length=255), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("sender_name", sa.Text(), nullable=True),
        sa.Column("sender_address", sa.Text(), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("to_recipients", sa.Text(), nullable=True),
        sa.Column("cc_recipients", sa.Text(), nullable=True),
        sa.Column("bcc_recipients", sa.Text(), nullable=True),
        sa.Column("datetime_sent", sa.BigInteger(), nullable=True),
        sa.Column("datetime_received", sa.BigInteger(), nullable=True),
        sa.Column("datetime_created", sa.BigInteger(), nullable=True),
        sa.Column("last_modified_time", sa.BigInteger(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("importance", sa.String(length=16), nullable=True),
        sa.Column("sensitivity", sa.String(length=16), nullable=True),
        sa.Column("is_read", sa.Boolean(), nullable=True),
        sa.Column("flag_status", sa.String(length=16), nullable=True),
        sa.Column("categories", sa.Text(), nullable=True),
        sa.Column("has_attachments", sa.Boolean(), nullable=True),
        sa.Column("internet_message_id", sa.Text(), nullable=True),
        sa.Column("conversation_id", sa.String(length=512), nullable=True),
        sa.Column("search_key", sa.String(length=512), nullable=True),
        sa.Column("sort_time", sa.BigInteger(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_message_history_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_ref"],
            ["messages.id"],
            name=op.f("fk_message_history_message_ref_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_history")),
        sa.UniqueConstraint(
            "message_ref", "version", name=op.f("uq_message_history_message_ref_version")
        ),
    )
    with op.batch_alter_table("message_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_history_mailbox_id_last_known_folder_key_sort_time_message_ref"),
            ["mailbox_id", "last_known_folder_key", "sort_time", "message_ref"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_message_history_message_ref_valid_from_version"),
            ["message_ref", "valid_from", "version"],
            unique=False,
        )



def downgrade() -> None:
    with op.batch_alter_table("message_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_history_message_ref_valid_from_version"))
        batch_op.drop_index(
            batch_op.f("ix_message_history_mailbox_id_last_known_folder_key_sort_time_message_ref")
        )

    op.drop_table("message_history")
    with op.batch_alter_table("folder_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_folder_history_mailbox_id_valid_from"))

    op.drop_table("folder_history")
    op.drop_table("user_mailboxes")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_messages_mailbox_id_sort_time_id"))
        batch_op.drop_index(batch_op.f("ix_messages_mailbox_id_last_known_folder_key_sort_time_id"))
        batch_op.drop_index(
            batch_op.f("ix_messages_mailbox_id_last_known_folder_key_deleted_sort_time_id_is_read")
        )

    op.drop_table("messages")
    op.drop_table("mailbox_status")
    op.drop_table("folders")
    op.drop_table("users")
    op.drop_table("mailboxes")
    op.drop_table("ingest_tokens")
    op.drop_table("app_secrets")
