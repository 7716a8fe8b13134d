"""Revision 0003: message timestamps written by sqlite3's own adapter are rewritten in the ORM's form."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatapp.server.store import Store
from tests.server.store.test_migration_0002 import T0, execute, fill_0001, migrate, query

pytestmark = pytest.mark.sqlite_only  # the revision rewrites what only SQLite's fast path wrote


async def test_adapter_timestamps_become_the_orms_and_read_the_same(db_url: str, db_path: Path) -> None:
    await migrate(db_url, "0001")
    fill_0001(db_path)
    await migrate(db_url, "0002")
    execute(
        db_path,
        "INSERT INTO messages (id, room_id, sender_id, text, created_at) SELECT 1, id, 1, 'a', "
        "'2026-11-26 03:21:56.353768+00:00' FROM rooms WHERE name = 'general'",
        "INSERT INTO messages (id, room_id, sender_id, text, created_at) SELECT 2, id, 1, 'b', "
        "'2026-11-26 03:21:57+00:00' FROM rooms WHERE name = 'general'",
        "INSERT INTO messages (id, room_id, sender_id, text, created_at) SELECT 3, id, 1, 'c', "
        f"'{T0}' FROM rooms WHERE name = 'general'",
    )

    await migrate(db_url, "head")

    assert query(db_path, "SELECT created_at FROM messages ORDER BY id") == [
        ("2026-11-26 03:21:56.353768",),
        ("2026-11-26 03:21:57.000000",),
        (T0,),
    ]
    store = await Store.open(db_url, migrate=False)
    try:
        room_id = query(db_path, "SELECT id FROM rooms WHERE name = 'general'")[0][0]
        page, _ = await store.room_history(room_id, before=None, after=None, limit=10)
        stamps = {m.id: m.created_at.isoformat() for m in page}
        assert stamps == {
            1: "2026-11-26T03:21:56.353768+00:00",
            2: "2026-11-26T03:21:57+00:00",
            3: "2025-01-02T03:04:05+00:00",
        }
    finally:
        await store.close()
