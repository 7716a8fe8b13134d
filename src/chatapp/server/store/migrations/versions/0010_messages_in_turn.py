"""PostgreSQL: message inserts take turns, so ids become visible in id order

A client resumes from the highest message id it has seen, which is right only if no lower id
commits after a higher one is visible. With one writing process that holds; with several on one
PostgreSQL database, two transactions could take ids 104 and 105 and commit 105 first. A
statement-level trigger takes a transaction-scoped advisory lock before any row of an INSERT
into messages is made (and so before its ids are drawn from the sequence): inserts of messages
take turns, each commits (releasing the lock) before the next draws its ids. SQLite needs
nothing: it has one writer at a time already.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 07:40:00

"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a revision must not change when the code does
# (the migration lock, engine.MIGRATION_LOCK, is another number).
_LOCK = 0x63686174_6D736700


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE FUNCTION chatapp_messages_in_turn() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_advisory_xact_lock({_LOCK}); RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER messages_in_turn BEFORE INSERT ON messages "
        "FOR EACH STATEMENT EXECUTE FUNCTION chatapp_messages_in_turn()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER messages_in_turn ON messages")
    op.execute("DROP FUNCTION chatapp_messages_in_turn()")
