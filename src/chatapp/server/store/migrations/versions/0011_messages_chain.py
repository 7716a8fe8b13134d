"""PostgreSQL: each batch of messages learns the highest id committed before it (its ``prev``)

Revision 0010 makes message inserts take turns under an advisory lock. Under that lock the
trigger now also notes the highest message id already committed, once per transaction, in the
transaction-local setting ``chatapp.prev``; the INSERT's RETURNING reads it
(``current_setting('chatapp.prev')``). So every committed batch knows the batch before it: the
batches form a chain, and a process that receives them through Redis can tell when one is missing
(docs/design.md, "Several processes"). Read once per transaction: a batch that SQLAlchemy renders
as several INSERT statements sees its own first rows afterwards, and must keep the first value.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 08:30:00

"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a revision must not change when the code does (0010's lock).
_LOCK = 0x63686174_6D736700


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # After the lock, a READ COMMITTED statement sees every batch that committed before this one.
    op.execute(
        "CREATE OR REPLACE FUNCTION chatapp_messages_in_turn() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_advisory_xact_lock({_LOCK}); "
        "IF coalesce(current_setting('chatapp.prev', true), '') = '' THEN "
        "PERFORM set_config('chatapp.prev', (SELECT coalesce(max(id), 0) FROM messages)::text, true); "
        "END IF; RETURN NULL; END $$"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE OR REPLACE FUNCTION chatapp_messages_in_turn() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN PERFORM pg_advisory_xact_lock({_LOCK}); RETURN NULL; END $$"
    )
