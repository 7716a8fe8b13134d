"""64-bit ids (BIGINT) on PostgreSQL; dm_key wide enough for two of them; partial DM indexes

A large install passes 2**31 messages (and sessions) in time; PostgreSQL's
SERIAL columns and their sequences stop there. Every id, every column that
holds one, and the sequences become 64-bit, and ``messages.dm_key`` ("<low
id>:<high id>") 40 characters. SQLite's INTEGER is 64-bit already and it does
not enforce VARCHAR lengths: nothing to do there (the models declare the same).

On both databases the two indexes that serve direct messages (by conversation,
by recipient) hold only the rows of direct messages: a room message costs no
entry in either (measured on PostgreSQL: about a third less work per inserted
row).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 20:00:00

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column) of every id and every column holding one.
ID_COLUMNS = (
    ("users", "id"),
    ("users", "seen_message_id"),
    ("sessions", "id"),
    ("sessions", "user_id"),
    ("rooms", "id"),
    ("rooms", "owner_id"),
    ("memberships", "user_id"),
    ("memberships", "room_id"),
    ("messages", "id"),
    ("messages", "room_id"),
    ("messages", "sender_id"),
    ("messages", "recipient_id"),
)
SEQUENCES = ("users_id_seq", "sessions_id_seq", "rooms_id_seq", "messages_id_seq")


# (index, column): the direct messages' indexes, over (column, id).
DM_INDEXES = (("ix_messages_dm_key_id", "dm_key"), ("ix_messages_recipient_id_id", "recipient_id"))


def _index_messages(*, partial: bool) -> None:
    for name, column in DM_INDEXES:
        op.drop_index(name, table_name="messages")
        where = sa.text(f"{column} IS NOT NULL") if partial else None
        op.create_index(name, "messages", [column, "id"], sqlite_where=where, postgresql_where=where)


def upgrade() -> None:
    _index_messages(partial=True)
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column in ID_COLUMNS:
        op.alter_column(table, column, type_=sa.BigInteger(), existing_type=sa.Integer())
    for sequence in SEQUENCES:
        op.execute(f"ALTER SEQUENCE IF EXISTS {sequence} AS bigint")
    op.alter_column("messages", "dm_key", type_=sa.String(40), existing_type=sa.String(24))


def downgrade() -> None:
    _index_messages(partial=False)
    if op.get_bind().dialect.name != "postgresql":
        return
    # Fails, and changes nothing, if an id or a dm_key no longer fits.
    op.alter_column("messages", "dm_key", type_=sa.String(24), existing_type=sa.String(40))
    for sequence in SEQUENCES:
        op.execute(f"ALTER SEQUENCE IF EXISTS {sequence} AS integer")
    for table, column in ID_COLUMNS:
        op.alter_column(table, column, type_=sa.Integer(), existing_type=sa.BigInteger())
