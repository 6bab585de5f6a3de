"""indexes for a folder sorted by sender, subject or size (the web UI's sortable columns)

Without them a sorted page sorted the whole folder (100,000 messages: a fifth of a second and
more); with them it is read from the index like newest first. The expressions are exactly
``archive.store.tables.order_keys``, which the list queries use, so both databases match them.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEYS = {
    "sender": "lower(coalesce(sender_name, sender_address, ''))",
    "subject": "lower(coalesce(subject, ''))",
    "size": "coalesce(size, -1)",
}


def upgrade() -> None:
    for name, key in KEYS.items():
        op.create_index(
            f"ix_messages_folder_by_{name}",
            "messages",
            ["mailbox_id", "last_known_folder_key", sa.text(key), "id"],
        )


def downgrade() -> None:
    for name in KEYS:
        op.drop_index(f"ix_messages_folder_by_{name}", table_name="messages")
