"""rooms, memberships, messages; users.seen_message_id

Every existing user becomes a member of the room 'general', which this
revision creates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 01:00:00

"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Revisions must not import the models (they change; a revision must not), so
# the data step uses lightweight table constructs of just the columns it needs.
GENERAL = "general"


def upgrade() -> None:
    op.create_table(
        "rooms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=300), server_default=sa.text("''"), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_rooms_owner_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rooms")),
        sa.UniqueConstraint("name", name=op.f("uq_rooms_name")),
    )
    op.create_table(
        "memberships",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_memberships_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "room_id", name=op.f("pk_memberships")),
    )
    op.create_index(op.f("ix_memberships_room_id"), "memberships", ["room_id"], unique=False)
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("dm_key", sa.String(length=24), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["users.id"], name=op.f("fk_messages_recipient_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_messages_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["users.id"], name=op.f("fk_messages_sender_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("sender_id", "nonce", name="uq_messages_sender_id_nonce"),
        # INTEGER PRIMARY KEY AUTOINCREMENT: ids of deleted rows are never reused.
        sqlite_autoincrement=True,
    )
    op.create_index("ix_messages_created_at", "messages", ["created_at"], unique=False)
    op.create_index("ix_messages_dm_key_id", "messages", ["dm_key", "id"], unique=False)
    op.create_index("ix_messages_recipient_id_id", "messages", ["recipient_id", "id"], unique=False)
    op.create_index("ix_messages_room_id_id", "messages", ["room_id", "id"], unique=False)

    # A constant server default: SQLite adds the column in place (ALTER TABLE
    # ADD COLUMN), without rebuilding users.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seen_message_id", sa.Integer(), server_default="0", nullable=False))

    _everyone_joins_general()


def _everyone_joins_general() -> None:
    users = sa.table("users", sa.column("id", sa.Integer()))
    rooms = sa.table(
        "rooms",
        sa.column("id", sa.Integer()),
        sa.column("name", sa.String()),
        sa.column("topic", sa.String()),
        sa.column("owner_id", sa.Integer()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    memberships = sa.table(
        "memberships",
        sa.column("user_id", sa.Integer()),
        sa.column("room_id", sa.Integer()),
        sa.column("joined_at", sa.DateTime(timezone=True)),
    )
    # UTC wall-clock digits, as the server's UTCDateTime stores them.
    now = datetime.now(UTC)
    op.execute(rooms.insert().values(name=GENERAL, topic="", owner_id=None, created_at=now))
    general = sa.select(rooms.c.id).where(rooms.c.name == GENERAL).scalar_subquery()
    op.execute(
        memberships.insert().from_select(
            ["user_id", "room_id", "joined_at"],
            sa.select(users.c.id, general, sa.literal(now, sa.DateTime(timezone=True))),
        )
    )


def downgrade() -> None:
    # The tables referring to users go first; then users is rebuilt without
    # the column (env.py switches SQLite foreign keys off around the rebuild,
    # so dropping the old users table cascades into nothing).
    op.drop_index("ix_messages_room_id_id", table_name="messages")
    op.drop_index("ix_messages_recipient_id_id", table_name="messages")
    op.drop_index("ix_messages_dm_key_id", table_name="messages")
    op.drop_index("ix_messages_created_at", table_name="messages")
    op.drop_table("messages")
    op.drop_index(op.f("ix_memberships_room_id"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("rooms")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("seen_message_id")
