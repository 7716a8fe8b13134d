"""PostgreSQL: messages' references to their room, sender and recipient are not enforced

On PostgreSQL a foreign key is checked by a trigger per inserted row, which was a third of the
database's CPU per message; the server alone inserts messages, after checking the room and the
sender, and deletes a room's messages with the room (see ``UNENFORCED_ON_POSTGRESQL`` in
chatapp.server.store.models). SQLite keeps its checks (an in-process index probe each).

Downgrade deletes the messages whose room, sender or recipient is gone (a message that raced its
room's deletion), then puts the foreign keys back.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 07:20:00

"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a revision must not change when the models do.
_FOREIGN_KEYS = (
    ("fk_messages_room_id_rooms", "room_id", "rooms"),
    ("fk_messages_sender_id_users", "sender_id", "users"),
    ("fk_messages_recipient_id_users", "recipient_id", "users"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, _, _ in _FOREIGN_KEYS:
        op.drop_constraint(name, "messages", type_="foreignkey")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for _, column, table in _FOREIGN_KEYS:
        op.execute(
            f"DELETE FROM messages WHERE {column} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {table} WHERE {table}.id = messages.{column})"
        )
    for name, column, table in _FOREIGN_KEYS:
        op.create_foreign_key(name, "messages", table, [column], ["id"], ondelete="CASCADE")
