"""Revision 0007 (file sharing): up with data, and down, on both backends."""

from __future__ import annotations

import pytest

from tests.server.store.test_migration_0002 import migrate
from tests.server.store.test_migration_0004 import T0, fill_0003
from tests.server.store.test_migration_0005 import tables
from tests.support.databases import ScratchDatabase

pytestmark = pytest.mark.empty_database

DIGEST = "ab" * 32
FILE_JSON = '{"id":"FILE000000000001","name":"a.txt","size":3,"sha256":"' + DIGEST + '"}'


async def test_upgrade_adds_files_and_downgrade_keeps_the_captions(
    db_url: str, database: ScratchDatabase
) -> None:
    await migrate(db_url, "0006")
    fill_0003(database)

    await migrate(db_url, "0007")

    assert database.revisions() == ["0007"]
    assert {"files", "uploads", "server_secrets"} <= tables(database)
    # Every message stored before shares no file.
    assert database.rows("SELECT id, text, file_id, file FROM messages ORDER BY id") == [
        (1, "room", None, None),
        (2, "direct", None, None),
    ]
    for table in ("files", "uploads"):
        database.execute(
            f"INSERT INTO {table} (id, owner_id, sha256, size, name, encrypted, room_id, created_at) "
            f"VALUES ('FILE000000000001', 1, '{DIGEST}', 3, 'a.txt', false, 7, '{T0}')"
        )
    database.execute(
        "INSERT INTO messages (id, room_id, sender_id, text, created_at, file_id, file) "
        f"VALUES (3, 7, 1, 'caption', '{T0}', 'FILE000000000001', :file)",
        file=FILE_JSON,
    )
    # A file is posted by one message only.
    with pytest.raises(Exception, match="(?i)unique"):
        database.execute(
            "INSERT INTO messages (id, room_id, sender_id, text, created_at, file_id) "
            f"VALUES (4, 7, 1, 'again', '{T0}', 'FILE000000000001')"
        )
    database.execute("INSERT INTO server_secrets (name, value) VALUES ('tickets', 'k')")

    await migrate(db_url, "0006", down=True)

    assert database.revisions() == ["0006"]
    assert not {"files", "uploads", "server_secrets"} & tables(database)
    # The message that shared a file keeps its caption, as a plain message.
    assert database.rows("SELECT id, text FROM messages ORDER BY id") == [
        (1, "room"),
        (2, "direct"),
        (3, "caption"),
    ]

    await migrate(db_url, "0007")
    assert database.rows("SELECT count(*) FROM files") == [(0,)]
    assert database.rows("SELECT file_id FROM messages WHERE id = 3") == [(None,)]
