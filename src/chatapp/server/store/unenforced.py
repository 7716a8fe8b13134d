"""The foreign keys the models declare that PostgreSQL does not have, on purpose, and the filter
that leaves them out when alembic compares a database with the models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

UNENFORCED_ON_POSTGRESQL = frozenset(
    {"fk_messages_room_id_rooms", "fk_messages_sender_id_users", "fk_messages_recipient_id_users"}
)
"""The foreign keys of ``messages`` that PostgreSQL does not have (revision 0009).

PostgreSQL checks a foreign key with a trigger per inserted row, which was a
third of its CPU per message (docs/performance.md, "PostgreSQL"); SQLite's
check is an in-process index probe and stays. Only the server inserts messages,
after checking the room and the sender, rooms are deleted with their messages
(``RoomModerationStore.delete_room``) and users never are; a message that
races its room's deletion is left unreachable (its room id is never reused)
until retention removes it.
"""


def schema_filter(dialect_name: str) -> Callable[[Any, str | None, str, bool, Any], bool]:
    """alembic's ``include_object`` for a database of ``dialect_name``: leave out of a comparison
    with the models what that database lacks on purpose (:data:`UNENFORCED_ON_POSTGRESQL`)."""
    unenforced = UNENFORCED_ON_POSTGRESQL if dialect_name == "postgresql" else frozenset()

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (type_ == "foreign_key_constraint" and not reflected and name in unenforced)

    return include_object
