"""Revision 0002 (rooms, memberships, messages, users.seen_message_id) on a database with data."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection

from chatapp.server.store import Store, create_engine, upgrade
from chatapp.server.store.migrate import alembic_config
from tests.server.store.helpers import rooms_of
from tests.support.databases import ScratchDatabase

# The SQLite side of an old revision: its rebuilt tables, checked through SQLite's own pragmas.
# (Every revision runs on PostgreSQL in test_migrations and test_migration_0004.)
pytestmark = pytest.mark.sqlite_only

# How the server's UTCDateTime stores an instant in SQLite: UTC wall-clock digits.
T0 = "2025-01-02 03:04:05.000000"
T1 = "2025-01-02 04:04:05.000000"
T2 = "2025-01-03 03:04:05.000000"


async def migrate(url: str, revision: str, *, down: bool = False) -> None:
    engine = create_engine(url)
    try:
        if not down:
            await upgrade(engine, revision)
            return
        config = alembic_config()

        def run(connection: Connection) -> None:
            config.attributes["connection"] = connection
            command.downgrade(config, revision)

        async with engine.connect() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


def query(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def execute(path: Path, *statements: str) -> None:
    connection = sqlite3.connect(path)
    try:
        with connection:
            for statement in statements:
                connection.execute(statement)
    finally:
        connection.close()


def schema(
    path: Path, table: str
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Columns, indexes (name, unique, origin) and foreign keys of ``table``, as SQLite sees them."""
    columns = query(path, f"PRAGMA table_info({table})")
    indexes = sorted((row[1], row[2], row[3]) for row in query(path, f"PRAGMA index_list({table})"))
    foreign_keys = query(path, f"PRAGMA foreign_key_list({table})")
    return columns, indexes, foreign_keys


def fill_0001(path: Path) -> None:
    execute(
        path,
        "INSERT INTO users (id, username, username_key, password_hash, created_at, last_login_at) "
        f"VALUES (1, 'Alice', 'alice', 'hash-a', '{T0}', '{T1}')",
        "INSERT INTO users (id, username, username_key, password_hash, role, created_at) "
        f"VALUES (2, 'Bob', 'bob', 'hash-b', 'admin', '{T0}')",
        "INSERT INTO sessions (id, user_id, token_hash, peer, created_at, last_seen_at, expires_at, "
        f"ended_at, end_reason) VALUES (1, 1, '{'a' * 64}', '10.0.0.1:1', '{T0}', '{T1}', '{T2}', '{T1}', "
        "'logout')",
        "INSERT INTO sessions (id, user_id, token_hash, peer, created_at, last_seen_at, expires_at) "
        f"VALUES (2, 2, '{'b' * 64}', '10.0.0.2:2', '{T0}', '{T0}', '{T2}')",
    )


async def test_upgrade_from_0001_keeps_users_and_sessions_and_puts_everyone_in_general(
    db_url: str, db_path: Path, database: ScratchDatabase
) -> None:
    await migrate(db_url, "0001")
    fill_0001(db_path)
    users_before = query(db_path, "SELECT * FROM users ORDER BY id")
    sessions_before = query(db_path, "SELECT * FROM sessions ORDER BY id")
    before = datetime.now(UTC)

    await migrate(db_url, "0004")

    # Old columns as they were, and the new one at 0.
    assert query(db_path, "SELECT * FROM users ORDER BY id") == [(*row, 0) for row in users_before]
    assert query(db_path, "SELECT * FROM sessions ORDER BY id") == sessions_before
    assert query(db_path, "PRAGMA foreign_key_check") == []
    await migrate(db_url, "head")  # today's store needs today's schema
    store = await Store.open(db_url, migrate=False)
    try:
        general = await store.get_room("general")
        assert general is not None
        assert (general.topic, general.owner_id) == ("", None)
        assert before - timedelta(seconds=1) <= general.created_at <= datetime.now(UTC)
        for user_id in (1, 2):
            assert rooms_of(database, user_id) == ["general"]
            assert await store.seen_message_id(user_id) == 0
        alice = await store.find_user("alice")
        assert alice is not None and alice.username == "Alice" and alice.role == "user"
        assert alice.created_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
        found = await store.find_session("a" * 64)
        assert found is not None and found[0].end_reason == "logout" and found[1] == alice

        # A user registered after the upgrade joins the same 'general'.
        carol = await store.create_user("Carol", "hash-c", before)
        assert rooms_of(database, carol.id) == ["general"]
        assert [(r.name, r.members) for r in await store.list_rooms()] == [("general", 3)]
    finally:
        await store.close()


async def test_upgrade_of_an_empty_0001_database_creates_general_without_members(
    db_url: str, db_path: Path
) -> None:
    await migrate(db_url, "0001")
    await migrate(db_url, "0004")

    assert query(db_path, "SELECT name, topic, owner_id FROM rooms") == [("general", "", None)]
    assert query(db_path, "SELECT count(*) FROM memberships") == [(0,)]


async def test_messages_ids_use_autoincrement(db_url: str, db_path: Path) -> None:
    await migrate(db_url, "0004")

    (sql,) = query(db_path, "SELECT sql FROM sqlite_master WHERE name = 'messages'")[0]
    assert "AUTOINCREMENT" in sql


async def test_downgrade_to_0001_restores_its_schema_and_keeps_its_data(
    db_url: str, db_path: Path, tmp_path: Path
) -> None:
    reference = tmp_path / "reference.db"
    await migrate(f"sqlite+aiosqlite:///{reference}", "0001")
    await migrate(db_url, "0001")
    fill_0001(db_path)
    users_before = query(db_path, "SELECT * FROM users ORDER BY id")
    sessions_before = query(db_path, "SELECT * FROM sessions ORDER BY id")
    await migrate(db_url, "0004")
    # Data in the new tables (and seen_message_id) must not stop the downgrade.
    execute(
        db_path,
        "INSERT INTO messages (room_id, sender_id, text, created_at) "
        f"SELECT id, 1, 'hello', '{T1}' FROM rooms WHERE name = 'general'",
        "UPDATE users SET seen_message_id = 1",
    )

    await migrate(db_url, "0001", down=True)

    assert query(db_path, "SELECT version_num FROM alembic_version") == [("0001",)]
    tables = {name for (name,) in query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not tables & {"rooms", "memberships", "messages"}
    for table in ("users", "sessions"):
        assert schema(db_path, table) == schema(reference, table)
    # users was rebuilt without the column: that must not have cascaded into sessions.
    assert query(db_path, "SELECT * FROM users ORDER BY id") == users_before
    assert query(db_path, "SELECT * FROM sessions ORDER BY id") == sessions_before
    assert query(db_path, "PRAGMA foreign_key_check") == []

    # And up again.
    await migrate(db_url, "0004")
    assert query(db_path, "SELECT user_id FROM memberships ORDER BY user_id") == [(1,), (2,)]
