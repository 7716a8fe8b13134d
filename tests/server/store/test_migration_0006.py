"""Revision 0006 (end-to-end encryption): up with data, and down, on both backends."""

from __future__ import annotations

import pytest

from tests.server.store.test_migration_0002 import migrate
from tests.server.store.test_migration_0004 import T0, fill_0003
from tests.server.store.test_migration_0005 import tables
from tests.support.databases import ScratchDatabase

pytestmark = pytest.mark.empty_database

CURVE, ED, SIGNATURE = "C" * 43, "E" * 43, "S" * 86


async def test_upgrade_keeps_the_messages_plain_and_downgrade_drops_devices_and_encrypted_messages(
    db_url: str, database: ScratchDatabase
) -> None:
    await migrate(db_url, "0005")
    fill_0003(database)
    database.execute(f"UPDATE messages SET text = '', removed_by = 'Alice', removed_at = '{T0}' WHERE id = 1")

    await migrate(db_url, "0006")

    assert database.revisions() == ["0006"]
    assert {"devices", "one_time_keys"} <= tables(database)
    # Every message stored before is plain; the tombstone stays a tombstone.
    assert database.rows("SELECT id, text, removed_by, encrypted FROM messages ORDER BY id") == [
        (1, "", "Alice", False),
        (2, "direct", None, False),
    ]
    database.execute(
        "INSERT INTO devices (id, user_id, device, curve25519, ed25519, signature, added_at) "
        f"VALUES (1, 1, 'LAPTOP01', '{CURVE}', '{ED}', '{SIGNATURE}', '{T0}')"
    )
    database.execute(
        f"INSERT INTO one_time_keys (device_id, key_id, key, added_at) VALUES (1, 'AAAA', '{CURVE}', '{T0}')"
    )
    # A device id is unique per user, a key id per device.
    with pytest.raises(Exception, match="(?i)unique"):
        database.execute(
            "INSERT INTO devices (user_id, device, curve25519, ed25519, signature, added_at) "
            f"VALUES (1, 'LAPTOP01', '{CURVE}', '{ED}', '{SIGNATURE}', '{T0}')"
        )
    with pytest.raises(Exception, match="(?i)unique"):
        database.execute(
            "INSERT INTO one_time_keys (device_id, key_id, key, added_at) "
            f"VALUES (1, 'AAAA', '{CURVE}', '{T0}')"
        )
    database.execute(
        "INSERT INTO messages (id, sender_id, recipient_id, dm_key, text, created_at, encrypted) "
        f"VALUES (3, 2, 1, '1:2', :envelope, '{T0}', true)",
        envelope='{"v":1}',
    )

    await migrate(db_url, "0005", down=True)

    assert database.revisions() == ["0005"]
    assert not {"devices", "one_time_keys"} & tables(database)
    # An older server would show an envelope as text: the encrypted message is gone, the rest stays.
    assert database.rows("SELECT id, text FROM messages ORDER BY id") == [(1, ""), (2, "direct")]

    await migrate(db_url, "0006")
    assert database.rows("SELECT count(*) FROM devices") == [(0,)]
