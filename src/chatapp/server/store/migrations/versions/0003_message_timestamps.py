"""messages.created_at stored as the ORM stores it

Messages written by the message writer's SQLite fast path before this
revision had ``created_at`` stored by ``sqlite3``'s own datetime adapter
("2026-11-26 03:21:56.353768+00:00", or without the fraction when it was
zero) instead of SQLAlchemy's "2026-11-26 03:21:56.353768". Both read back as
the same instant, but SQL compares them as text (retention's cut-off, for
one), so they are rewritten in the ORM's form. Only SQLite had the fast path.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 03:30:00

"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # The adapter's UTC values end in "+00:00"; the rest is ISO date, a space, and the time,
    # with ".ffffff" unless the microseconds were 0.
    op.execute(
        """
        UPDATE messages
        SET created_at = CASE
            WHEN length(created_at) = 25 THEN substr(created_at, 1, 19) || '.000000'
            ELSE substr(created_at, 1, 26)
        END
        WHERE created_at LIKE '%+00:00'
        """
    )


def downgrade() -> None:
    pass  # the ORM's form is what every version reads and writes: nothing to undo
