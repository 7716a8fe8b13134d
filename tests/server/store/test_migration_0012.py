"""Revision 0012 (session rows name their node): up with data, and down, on both databases."""

from __future__ import annotations

import pytest

from tests.server.store.test_migration_0002 import migrate
from tests.server.store.test_migration_0004 import T0, fill_0003
from tests.support.databases import ScratchDatabase

pytestmark = pytest.mark.empty_database


def session_columns(database: ScratchDatabase) -> set[str]:
    if database.is_sqlite:
        return {name for (name,) in database.rows("SELECT name FROM pragma_table_info('sessions')")}
    rows = database.rows("SELECT column_name FROM information_schema.columns WHERE table_name = 'sessions'")
    return {name for (name,) in rows}


async def test_sessions_gain_a_node_column_and_downgrade_drops_it_keeping_the_rows(
    db_url: str, database: ScratchDatabase
) -> None:
    await migrate(db_url, "0011")
    fill_0003(database)

    await migrate(db_url, "0012")

    assert database.revisions() == ["0012"]
    assert "node" in session_columns(database)
    assert database.rows("SELECT id, node FROM sessions") == [(1, None)]  # a row from before: no node
    database.execute(
        "INSERT INTO sessions (id, user_id, token_hash, peer, created_at, last_seen_at, expires_at, node) "
        f"VALUES (2, 2, '{'b' * 64}', 'p', '{T0}', '{T0}', '{T0}', 'abcdef0123456789')"
    )
    assert database.rows("SELECT node FROM sessions WHERE id = 2") == [("abcdef0123456789",)]

    await migrate(db_url, "0011", down=True)

    assert database.revisions() == ["0011"]
    assert "node" not in session_columns(database)
    assert database.rows("SELECT id, user_id FROM sessions ORDER BY id") == [(1, 1), (2, 2)]
