"""Revision 0008 (action messages): up with data, and down, on both backends."""

from __future__ import annotations

import pytest

from tests.server.store.test_migration_0002 import migrate
from tests.server.store.test_migration_0004 import T0, fill_0003
from tests.support.databases import ScratchDatabase

pytestmark = pytest.mark.empty_database


async def test_upgrade_keeps_messages_plain_and_downgrade_keeps_action_texts(
    db_url: str, database: ScratchDatabase
) -> None:
    await migrate(db_url, "0006")
    fill_0003(database)
    database.execute(
        "INSERT INTO messages (id, sender_id, recipient_id, dm_key, text, created_at, encrypted) "
        f"VALUES (3, 2, 1, '1:2', :envelope, '{T0}', true)",
        envelope='{"v":1}',
    )

    # 0008 only (its parent is chained when the revisions of this session are merged: "-1" below).
    await migrate(db_url, "0008")

    assert database.revisions() == ["0008"]
    # Every message stored before is a plain one, the encrypted one included.
    assert database.rows("SELECT id, text, encrypted, action FROM messages ORDER BY id") == [
        (1, "room", False, False),
        (2, "direct", False, False),
        (3, '{"v":1}', True, False),
    ]
    database.execute(
        "INSERT INTO messages (id, room_id, sender_id, text, created_at, action) "
        f"VALUES (4, 7, 1, 'waves', '{T0}', true)"
    )
    assert database.rows("SELECT action FROM messages WHERE id = 4") == [(True,)]

    await migrate(db_url, "-1", down=True)

    assert "0008" not in database.revisions()
    # The action message stays, as its text: what an older server and client show of it.
    assert database.rows("SELECT id, text FROM messages ORDER BY id") == [
        (1, "room"),
        (2, "direct"),
        (3, '{"v":1}'),
        (4, "waves"),
    ]
    with pytest.raises(Exception, match="(?i)action"):
        database.rows("SELECT action FROM messages")

    await migrate(db_url, "0008")
    assert database.rows("SELECT id, action FROM messages ORDER BY id") == [
        (1, False),
        (2, False),
        (3, False),
        (4, False),
    ]
