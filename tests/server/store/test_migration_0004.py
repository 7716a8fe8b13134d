"""Revision 0004: 64-bit ids on PostgreSQL (a no-op on SQLite, whose INTEGER is 64-bit), up and
down, with data, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import DBAPIError

from chatapp.server.store import MessageDraft, Store
from tests.server.store.test_migration_0002 import migrate
from tests.support.databases import ScratchDatabase

pytestmark = pytest.mark.empty_database

BEYOND_32_BITS = 3_000_000_000
T0 = "2025-01-02 03:04:05"
USER = "INSERT INTO users (id, username, username_key, password_hash, created_at)"


def id_types(database: ScratchDatabase) -> dict[tuple[str, str], str]:
    """PostgreSQL's type of every id column (and dm_key's length)."""
    rows = database.rows(
        "SELECT table_name, column_name, data_type, character_maximum_length "
        "FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND (column_name = 'id' OR column_name LIKE '%\\_id' OR column_name = 'dm_key') "
        "AND table_name <> 'alembic_version'"
    )
    return {(table, column): f"{kind}({length})" if length else kind for table, column, kind, length in rows}


def dm_index_definitions(database: ScratchDatabase) -> list[str]:
    """The SQL of the two direct-message indexes, as the database tells it."""
    if database.is_sqlite:
        sql = (
            "SELECT sql FROM sqlite_master "
            "WHERE name IN ('ix_messages_dm_key_id', 'ix_messages_recipient_id_id')"
        )
    else:
        sql = (
            "SELECT indexdef FROM pg_indexes "
            "WHERE indexname IN ('ix_messages_dm_key_id', 'ix_messages_recipient_id_id')"
        )
    return sorted(definition for (definition,) in database.rows(sql))


def fill_0003(database: ScratchDatabase) -> None:
    for statement in (
        f"{USER} VALUES (1, 'Alice', 'alice', 'h', '{T0}')",
        f"{USER} VALUES (2, 'Bob', 'bob', 'h', '{T0}')",
        "INSERT INTO sessions (id, user_id, token_hash, peer, created_at, last_seen_at, expires_at) "
        f"VALUES (1, 1, '{'a' * 64}', 'p', '{T0}', '{T0}', '{T0}')",
        f"INSERT INTO rooms (id, name, topic, owner_id, created_at) VALUES (7, 'dev', '', 1, '{T0}')",
        f"INSERT INTO memberships (user_id, room_id, joined_at) VALUES (1, 7, '{T0}')",
        f"INSERT INTO messages (id, room_id, sender_id, text, created_at) VALUES (1, 7, 1, 'room', '{T0}')",
        "INSERT INTO messages (id, sender_id, recipient_id, dm_key, text, created_at) "
        f"VALUES (2, 1, 2, '1:2', 'direct', '{T0}')",
    ):
        database.execute(statement)


def contents(database: ScratchDatabase) -> list[list[tuple[object, ...]]]:
    return [
        database.rows("SELECT id, username, seen_message_id FROM users ORDER BY id"),
        database.rows("SELECT id, user_id FROM sessions ORDER BY id"),
        database.rows("SELECT id, name, owner_id FROM rooms ORDER BY id"),
        database.rows("SELECT user_id, room_id FROM memberships ORDER BY user_id, room_id"),
        database.rows("SELECT id, room_id, sender_id, recipient_id, dm_key, text FROM messages ORDER BY id"),
    ]


async def test_upgrade_makes_ids_64_bit_and_keeps_the_data_and_downgrade_undoes_it(
    db_url: str, database: ScratchDatabase
) -> None:
    await migrate(db_url, "0003")
    fill_0003(database)
    before = contents(database)
    if not database.is_sqlite:
        assert set(id_types(database).values()) == {"integer", "character varying(24)"}

    assert not any("WHERE" in definition for definition in dm_index_definitions(database))

    await migrate(db_url, "0004")

    assert database.revisions() == ["0004"]
    assert contents(database) == before
    # The direct messages' indexes hold direct messages only.
    indexes = dm_index_definitions(database)
    assert len(indexes) == 2 and all("IS NOT NULL" in definition for definition in indexes), indexes
    if not database.is_sqlite:
        types = id_types(database)
        assert types.pop(("messages", "dm_key")) == "character varying(40)"
        assert set(types.values()) == {"bigint"}, types
    # Ids past 32 bits, from the sequence too, and a conversation key of two of them.
    database.execute(
        f"INSERT INTO users (id, username, username_key, password_hash, created_at) "
        f"VALUES ({BEYOND_32_BITS}, 'Carol', 'carol', 'h', '{T0}')"
    )
    if not database.is_sqlite:
        database.scalar(f"SELECT setval('messages_id_seq', {BEYOND_32_BITS})")
    else:
        database.execute(f"UPDATE sqlite_sequence SET seq = {BEYOND_32_BITS} WHERE name = 'messages'")
    await migrate(db_url, "head")  # the store of today needs today's schema; back to 0004 below
    store = await Store.open(db_url, migrate=False)
    try:
        now = datetime.now(UTC)
        (big,) = await store.insert_messages(
            [MessageDraft(sender_id=BEYOND_32_BITS, recipient_id=BEYOND_32_BITS, text="far", created_at=now)]
        )
        assert big.id == BEYOND_32_BITS + 1
        await store.set_seen_message_id(BEYOND_32_BITS, big.id)
        assert await store.seen_message_id(BEYOND_32_BITS) == big.id
        page, _ = await store.dm_history(BEYOND_32_BITS, BEYOND_32_BITS, before=None, after=None, limit=5)
        assert [m.id for m in page] == [big.id]
    finally:
        await store.close()
    assert database.scalar("SELECT dm_key FROM messages WHERE id = :id", id=big.id) == (
        f"{BEYOND_32_BITS}:{BEYOND_32_BITS}"
    )
    await migrate(db_url, "0004", down=True)

    if not database.is_sqlite:
        # Down is refused while a value would not fit, and changes nothing ...
        with pytest.raises(DBAPIError):
            await migrate(db_url, "0003", down=True)
        assert database.revisions() == ["0004"]
        assert set(id_types(database).values()) == {"bigint", "character varying(40)"}
    database.execute("DELETE FROM messages WHERE id > 2")
    database.execute(f"DELETE FROM users WHERE id = {BEYOND_32_BITS}")
    if not database.is_sqlite:
        database.scalar("SELECT setval('messages_id_seq', 2)")
    # ... and once everything fits, it goes back to 32 bits with the data as it was.
    await migrate(db_url, "0003", down=True)
    assert database.revisions() == ["0003"]
    assert contents(database) == before
    assert len(dm_index_definitions(database)) == 2
    assert not any("WHERE" in definition for definition in dm_index_definitions(database))
    if not database.is_sqlite:
        assert set(id_types(database).values()) == {"integer", "character varying(24)"}
