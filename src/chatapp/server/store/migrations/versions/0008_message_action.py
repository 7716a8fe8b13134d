"""Action messages: ``messages.action`` marks a message sent with ``/me`` (``* alice waves``)

An end-to-end encrypted direct message carries its action flag inside its ciphertext, so its
``action`` is false.

Downgrade drops the column: the text of an action message stays, shown as a plain message by the
older server (``alice: waves``), which is what an older client shows of one too.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 07:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
# Another change of this session adds 0007; the two are chained in the order they are merged.
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "messages", sa.Column("action", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later), as in 0005 and 0006: the column is in no index.
    op.drop_column("messages", "action")
