"""Revisions 0009 (messages' references unenforced on PostgreSQL) and 0010 (message inserts take
turns on PostgreSQL): up with data, and down, on both backends."""

from __future__ import annotations

import pytest

from tests.server.store.test_migration_0002 import migrate
from tests.server.store.test_migration_0004 import T0, fill_0003
from tests.support.databases import ScratchDatabase

pytestmark = pytest.mark.empty_database

MESSAGE_KEYS = {"fk_messages_room_id_rooms", "fk_messages_sender_id_users", "fk_messages_recipient_id_users"}
ORPHAN = (
    f"INSERT INTO messages (id, room_id, sender_id, text, created_at) VALUES (3, 999, 1, 'orphan', '{T0}')"
)


def message_foreign_keys(database: ScratchDatabase) -> set[str]:
    if database.is_sqlite:
        # SQLite's foreign keys have no names: one per referencing column, named as the models name them.
        rows = database.rows("SELECT \"table\", \"from\" FROM pragma_foreign_key_list('messages')")
        return {f"fk_messages_{column}_{table}" for table, column in rows}
    rows = database.rows(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'messages'::regclass AND contype = 'f'"
    )
    return {name for (name,) in rows}


async def test_postgresql_loses_the_message_foreign_keys_and_downgrade_restores_them(
    db_url: str, database: ScratchDatabase
) -> None:
    await migrate(db_url, "0008")
    fill_0003(database)
    assert message_foreign_keys(database) == MESSAGE_KEYS

    await migrate(db_url, "0009")

    assert database.revisions() == ["0009"]
    if database.is_sqlite:
        assert message_foreign_keys(database) == MESSAGE_KEYS
        with pytest.raises(Exception, match="(?i)foreign key"):
            database.execute(ORPHAN)
        return
    assert message_foreign_keys(database) == set()
    database.execute(ORPHAN)  # the server's own checks are all that stand in the way now

    await migrate(db_url, "0008", down=True)

    assert database.revisions() == ["0008"]
    assert message_foreign_keys(database) == MESSAGE_KEYS
    # The message whose room is gone went; the others stayed.
    assert database.rows("SELECT id, text FROM messages ORDER BY id") == [(1, "room"), (2, "direct")]


def turn_triggers(database: ScratchDatabase) -> list[tuple[object, ...]]:
    if database.is_sqlite:
        return database.rows("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    return database.rows(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'messages'::regclass AND NOT tgisinternal"
    )


async def test_message_inserts_take_turns_on_postgresql_and_downgrade_lets_them_go(
    db_url: str, database: ScratchDatabase
) -> None:
    await migrate(db_url, "0009")
    fill_0003(database)

    await migrate(db_url, "0010")

    assert database.revisions() == ["0010"]
    assert turn_triggers(database) == ([] if database.is_sqlite else [("messages_in_turn",)])
    # Inserting still works, one statement or several rows at once.
    database.execute(
        f"INSERT INTO messages (id, room_id, sender_id, text, created_at) VALUES (3, 7, 1, 'a', '{T0}'), "
        f"(4, 7, 2, 'b', '{T0}')"
    )
    assert database.scalar("SELECT count(*) FROM messages") == 4

    await migrate(db_url, "0009", down=True)

    assert database.revisions() == ["0009"]
    assert turn_triggers(database) == []
    assert database.scalar("SELECT count(*) FROM messages") == 4
