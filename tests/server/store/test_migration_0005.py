"""Revision 0005 (moderation): up with data, and down, on both backends."""

from __future__ import annotations

import pytest

from tests.server.store.test_migration_0002 import migrate
from tests.server.store.test_migration_0004 import T0, USER, fill_0003
from tests.support.databases import ScratchDatabase

pytestmark = pytest.mark.empty_database

NEW_TABLES = {
    "room_operators",
    "room_invites",
    "room_sanctions",
    "account_sanctions",
    "address_bans",
    "audit_events",
}


def tables(database: ScratchDatabase) -> set[str]:
    if database.is_sqlite:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    return {name for (name,) in database.rows(sql)}


async def test_upgrade_keeps_the_data_grants_nothing_and_downgrade_drops_the_moderation_state(
    db_url: str, database: ScratchDatabase
) -> None:
    await migrate(db_url, "0004")
    fill_0003(database)
    database.execute(f"{USER} VALUES (3, 'Mallory', 'mallory', 'h', '{T0}')")
    database.execute("UPDATE users SET role = 'root' WHERE id = 3")  # no such role: it grants nothing
    database.execute("UPDATE users SET role = 'moderator' WHERE id = 2")
    messages = database.rows("SELECT id, text FROM messages ORDER BY id")

    await migrate(db_url, "0005")

    assert database.revisions() == ["0005"]
    assert NEW_TABLES <= tables(database)
    assert database.rows("SELECT id, role, display_name, bio FROM users ORDER BY id") == [
        (1, "user", None, None),
        (2, "moderator", None, None),
        (3, "user", None, None),
    ]
    assert database.rows("SELECT private FROM rooms WHERE id = 7") == [(False,)]
    assert database.rows("SELECT id, text, removed_by FROM messages ORDER BY id") == [
        (i, text, None) for i, text in messages
    ]

    # Moderation state, and a removed message (a tombstone: no text left).
    database.execute(
        f"INSERT INTO room_sanctions (room_id, user_id, kind, created_at) VALUES (7, 2, 'ban', '{T0}')"
    )
    database.execute(
        f"INSERT INTO account_sanctions (user_id, kind, created_at) VALUES (3, 'suspend', '{T0}')"
    )
    database.execute(f"INSERT INTO audit_events (created_at, actor, action) VALUES ('{T0}', 'alice', 'ban')")
    database.execute(f"INSERT INTO address_bans (network, created_at) VALUES ('10.0.0.0/8', '{T0}')")
    database.execute(f"UPDATE messages SET text = '', removed_by = 'alice', removed_at = '{T0}' WHERE id = 1")
    database.execute("UPDATE rooms SET private = true WHERE id = 7")

    await migrate(db_url, "0004", down=True)

    assert database.revisions() == ["0004"]
    assert not NEW_TABLES & tables(database)
    # The removed message is gone (an older server would show it as an empty message); the rest stays.
    assert database.rows("SELECT id, text FROM messages ORDER BY id") == [(2, "direct")]
    assert database.rows("SELECT id, role FROM users ORDER BY id") == [
        (1, "user"),
        (2, "moderator"),
        (3, "user"),
    ]

    # And up again, clean.
    await migrate(db_url, "0005")
    assert database.rows("SELECT count(*) FROM room_sanctions") == [(0,)]
    assert database.rows("SELECT private FROM rooms WHERE id = 7") == [(False,)]
