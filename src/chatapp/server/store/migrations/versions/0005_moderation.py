"""Moderation, roles and administration: room operators, invites, bans and mutes, suspensions,
address bans, the audit log, profiles, private rooms and removed messages

Data: a server role other than ``admin``, ``moderator`` or ``user`` grants nothing, so it is
made ``user`` (a hand-edited or future value must not fail open). Nobody becomes admin here:
the first admin is made with ``chatapp-admin promote NAME --role admin``.

Downgrade drops all of it. A removed message has no text left to show, so its row is deleted
rather than left as an empty message in an older server's history; rooms made private become
public, and bans, mutes and suspensions are lifted: an older server cannot enforce them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 00:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatapp.server.store.models import Id, UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _user_fk() -> sa.ForeignKey:
    return sa.ForeignKey("users.id", ondelete="CASCADE")


def _room_fk() -> sa.ForeignKey:
    return sa.ForeignKey("rooms.id", ondelete="CASCADE")


def upgrade() -> None:
    op.add_column("users", sa.Column("display_name", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("bio", sa.String(300), nullable=True))
    op.add_column("users", sa.Column("display_name_key", sa.String(192), nullable=True))
    op.create_index("ix_users_display_name_key", "users", ["display_name_key"], unique=True)
    op.add_column(
        "rooms", sa.Column("private", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.add_column("messages", sa.Column("removed_by", sa.String(32), nullable=True))
    op.add_column("messages", sa.Column("removed_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE users SET role = 'user' WHERE role NOT IN ('admin', 'moderator', 'user')")

    op.create_table(
        "room_operators",
        sa.Column("room_id", Id, _room_fk(), nullable=False),
        sa.Column("user_id", Id, _user_fk(), nullable=False),
        sa.Column("granted_by", sa.String(32), nullable=True),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("room_id", "user_id", name="pk_room_operators"),
    )
    op.create_index("ix_room_operators_user_id", "room_operators", ["user_id"])
    op.create_table(
        "room_invites",
        sa.Column("room_id", Id, _room_fk(), nullable=False),
        sa.Column("user_id", Id, _user_fk(), nullable=False),
        sa.Column("invited_by", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("room_id", "user_id", name="pk_room_invites"),
    )
    op.create_index("ix_room_invites_user_id", "room_invites", ["user_id"])
    op.create_table(
        "room_sanctions",
        sa.Column("room_id", Id, _room_fk(), nullable=False),
        sa.Column("user_id", Id, _user_fk(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("actor", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("room_id", "user_id", "kind", name="pk_room_sanctions"),
    )
    op.create_index("ix_room_sanctions_user_id", "room_sanctions", ["user_id"])
    op.create_table(
        "account_sanctions",
        sa.Column("user_id", Id, _user_fk(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("actor", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("user_id", "kind", name="pk_account_sanctions"),
    )
    op.create_table(
        "address_bans",
        sa.Column("id", Id, nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("actor", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_address_bans"),
        sa.UniqueConstraint("network", name="uq_address_bans_network"),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", Id, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(64), nullable=True),
        sa.Column("room", sa.String(32), nullable=True),
        sa.Column("reason", sa.String(300), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )


def downgrade() -> None:
    tables = ("audit_events", "address_bans", "account_sanctions", "room_sanctions", "room_invites")
    for table in (*tables, "room_operators"):
        op.drop_table(table)
    op.execute("DELETE FROM messages WHERE removed_at IS NOT NULL")
    op.drop_index("ix_users_display_name_key", table_name="users")
    # Plain DROP COLUMN (SQLite 3.35 and later), not batch mode: recreating the messages table
    # would have to carry its AUTOINCREMENT, and these columns are in no index or constraint (the
    # display name key's index is dropped above).
    for table, column in (
        ("messages", "removed_at"),
        ("messages", "removed_by"),
        ("rooms", "private"),
        ("users", "display_name_key"),
        ("users", "bio"),
        ("users", "display_name"),
    ):
        op.drop_column(table, column)
