"""File sharing: finished files, unfinished uploads, the file a message shares, server secrets

``files`` is one row per uploaded file whose digest matched (several may share one blob on disk,
named by its SHA-256); ``uploads`` one per unfinished upload. ``messages.file_id`` names the file
a message shares (unique: a file is posted once) and ``messages.file`` keeps the file as the
frames show it. ``server_secrets`` holds the download tickets' HMAC key.

Downgrade drops the tables and the columns: messages that shared a file keep their caption (an
older server shows them as plain messages). The blobs stay on disk for the operator to remove.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 07:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chatapp.server.store.models import Id, UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def _common() -> list[sa.Column[object]]:
    """The columns ``files`` and ``uploads`` share: whose, what, and for whom."""
    return [
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("owner_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("mime", sa.String(127), nullable=True),
        sa.Column("encrypted", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("room_id", Id, sa.ForeignKey("rooms.id", ondelete="CASCADE"), nullable=True),
        sa.Column("recipient_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.add_column("messages", sa.Column("file_id", sa.String(32), nullable=True))
    op.add_column("messages", sa.Column("file", sa.Text(), nullable=True))
    where = sa.text("file_id IS NOT NULL")
    op.create_index(
        "ix_messages_file_id", "messages", ["file_id"],
        unique=True, sqlite_where=where, postgresql_where=where,
    )
    op.create_table(
        "files",
        *_common(),
        sa.Column("attached_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_files"),
    )
    op.create_index("ix_files_owner_id", "files", ["owner_id"])
    op.create_index("ix_files_sha256", "files", ["sha256"])
    op.create_table(
        "uploads",
        *_common(),
        sa.PrimaryKeyConstraint("id", name="pk_uploads"),
    )
    op.create_index("ix_uploads_owner_id", "uploads", ["owner_id"])
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_server_secrets"),
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
    op.drop_table("uploads")
    op.drop_table("files")
    op.drop_index("ix_messages_file_id", table_name="messages")
    # Plain DROP COLUMN (SQLite 3.35 and later), as in 0005 and 0006: no index holds them now.
    op.drop_column("messages", "file")
    op.drop_column("messages", "file_id")
