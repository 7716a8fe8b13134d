"""End-to-end encrypted direct messages: devices, their one-time keys, and encrypted messages

A device is one client installation of a user, with its public identity keys and its fallback
key; ``one_time_keys`` is each device's supply of unclaimed one-time keys (a claim deletes one).
``messages.encrypted`` marks a direct message whose ``text`` is its envelope of ciphertexts.

Downgrade drops the devices and keys and deletes the encrypted messages: an older server would
show an envelope as the text of a message.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 03:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatapp.server.store.models import Id, UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "messages", sa.Column("encrypted", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.create_table(
        "devices",
        sa.Column("id", Id, nullable=False),
        sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("device", sa.String(32), nullable=False),
        sa.Column("curve25519", sa.String(43), nullable=False),
        sa.Column("ed25519", sa.String(43), nullable=False),
        sa.Column("signature", sa.String(86), nullable=False),
        sa.Column("name", sa.String(64), nullable=True),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.Column("fallback_key_id", sa.String(32), nullable=True),
        sa.Column("fallback_key", sa.String(43), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("user_id", "device", name="uq_devices_user_id_device"),
    )
    op.create_table(
        "one_time_keys",
        sa.Column("id", Id, nullable=False),
        sa.Column("device_id", Id, sa.ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(43), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_one_time_keys"),
        sa.UniqueConstraint("device_id", "key_id", name="uq_one_time_keys_device_id"),
    )


def downgrade() -> None:
    op.drop_table("one_time_keys")
    op.drop_table("devices")
    op.execute("DELETE FROM messages WHERE encrypted")
    # Plain DROP COLUMN (SQLite 3.35 and later), as in 0005: the column is in no index.
    op.drop_column("messages", "encrypted")
