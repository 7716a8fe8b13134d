"""Sessions know the server process that opened them (``node``)

Several processes share one database: each must end only its own sessions at start and shutdown,
and the others end those of a process that died (its Redis heartbeat expired). Rows from before
have no node (NULL): a process with Redis treats them as a lost node's.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 08:50:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("node", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_sessions_node"), "sessions", ["node"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sessions_node"), table_name="sessions")
    with op.batch_alter_table("sessions") as batch:  # SQLite: the table is copied without the column
        batch.drop_column("node")
