from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from chatapp.server.config import Config
from chatapp.server.store import Store, create_engine
from chatapp.server.store.engine import for_writing, sqlite_file, sqlite_foreign_keys_off

pytestmark = pytest.mark.sqlite_only  # SQLite's pragmas, BEGIN handling and files


async def test_sqlite_pragmas_are_in_force_on_every_connection(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    try:
        async with engine.connect() as first, engine.connect() as second:
            for connection in (first, second):
                pragma = {
                    name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                    for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
                }
                # synchronous=1 is NORMAL: the default of the server's --sqlite-synchronous too.
                assert pragma == {
                    "journal_mode": "wal",
                    "foreign_keys": 1,
                    "busy_timeout": 5000,
                    "synchronous": 1,
                }
    finally:
        await engine.dispose()


async def test_store_open_defaults_to_the_servers_synchronous_setting(tmp_path: Path) -> None:
    # Store.open, create_engine and the server's config once disagreed (FULL against NORMAL).
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    try:
        assert Config().sqlite_synchronous == "normal"
        engine = store.backend.engine
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA synchronous")).scalar_one() == 1
    finally:
        await store.close()


async def test_database_errors_do_not_show_statement_parameters(tmp_path: Path) -> None:
    # A database error is logged; its parameters would be password hashes and message texts.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("CREATE TABLE secrets (value TEXT UNIQUE)")
            await connection.execute(text("INSERT INTO secrets VALUES (:v)"), {"v": "hunter2-secret"})
            with pytest.raises(IntegrityError) as caught:
                await connection.execute(text("INSERT INTO secrets VALUES (:v)"), {"v": "hunter2-secret"})
        assert "hunter2-secret" not in str(caught.value)
        assert "hunter2-secret" not in repr(caught.value)
    finally:
        await engine.dispose()


async def test_missing_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "chat.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert path.is_file()


async def test_transactions_are_real_for_ddl(tmp_path: Path) -> None:
    # The sqlite3 driver's legacy mode would autocommit this CREATE TABLE.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    try:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("CREATE TABLE scratch (x INTEGER)")
            await connection.rollback()
            tables = await connection.exec_driver_sql("SELECT name FROM sqlite_master WHERE name = 'scratch'")
            assert tables.all() == []
    finally:
        await engine.dispose()


async def test_memory_database_works(tmp_path: Path) -> None:
    engine = create_engine("sqlite+aiosqlite://")
    try:
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar_one() == 1
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:////srv/chat/chat.db", Path("/srv/chat/chat.db")),
        ("sqlite+aiosqlite:///chat.db", Path("chat.db")),
        ("sqlite+aiosqlite://", None),
        ("sqlite+aiosqlite:///:memory:", None),
        ("sqlite+aiosqlite:///file:chat?mode=memory&uri=true", None),
    ],
)
def test_sqlite_file(url: str, expected: Path | None) -> None:
    assert sqlite_file(url) == expected


async def test_foreign_keys_off_spares_referencing_rows_when_a_table_is_rebuilt(tmp_path: Path) -> None:
    # What a batch migration of `users` does; with enforcement on, DROP TABLE
    # would cascade and delete every session.
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            await connection.exec_driver_sql(
                "CREATE TABLE child (id INTEGER PRIMARY KEY, "
                "parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE)"
            )
            await connection.exec_driver_sql("INSERT INTO parent VALUES (1)")
            await connection.exec_driver_sql("INSERT INTO child VALUES (10, 1)")

        def rebuild_parent(connection: Connection) -> tuple[int, int]:
            with sqlite_foreign_keys_off(connection):
                with connection.begin():
                    enforcing = connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
                    connection.exec_driver_sql("CREATE TABLE parent_new (id INTEGER PRIMARY KEY)")
                    connection.exec_driver_sql("INSERT INTO parent_new SELECT id FROM parent")
                    connection.exec_driver_sql("DROP TABLE parent")
                    connection.exec_driver_sql("ALTER TABLE parent_new RENAME TO parent")
            return enforcing, connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one()

        async with engine.connect() as connection:
            during, after = await connection.run_sync(rebuild_parent)
            children = (await connection.exec_driver_sql("SELECT id FROM child")).all()
    finally:
        await engine.dispose()
    assert (during, after) == (0, 1)
    assert children == [(10,)]


async def test_busy_timeout_is_configurable(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}", busy_timeout_ms=250)
    try:
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one() == 250
    finally:
        await engine.dispose()
    with pytest.raises(ValueError):
        create_engine("sqlite+aiosqlite://", busy_timeout_ms=-1)


async def test_writing_transactions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("CREATE TABLE scratch (x INTEGER)")

        async with engine.begin():
            # A plain BEGIN is deferred: another writer still gets in.
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")

        async with for_writing(engine).begin():
            # Nothing executed yet, and the lock is already ours.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
        await engine.dispose()
