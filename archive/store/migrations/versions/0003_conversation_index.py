"""an index for a conversation's messages (the web UI's "Show conversation")

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_messages_mailbox_id_conversation_id_sort_time_id"),
        "messages",
        ["mailbox_id", "conversation_id", "sort_time", "id"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_messages_mailbox_id_conversation_id_sort_time_id"), table_name="messages"
    )
