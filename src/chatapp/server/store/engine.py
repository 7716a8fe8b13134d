"""Engine creation, with the SQLite settings the server relies on.

SQLite connections get, on every new DBAPI connection:

- ``journal_mode=WAL``: readers never block the writer and vice versa;
- ``foreign_keys=ON``: SQLite ignores declared foreign keys otherwise;
- ``busy_timeout=5000`` (``busy_timeout_ms``): a writer waits for the lock
  instead of failing at once;
- ``synchronous=NORMAL`` (``FULL`` on request): a commit survives a crash of
  the process (WAL); with ``FULL`` also a power cut.

Every engine hides statement parameters from its error messages
(``hide_parameters``): a database error is logged, and its parameters would be
password hashes, token digests and message texts.

SQLAlchemy also takes over BEGIN from the sqlite3 driver, whose legacy mode
never begins a transaction before DDL or SELECT: with it, migrations are atomic
and reads see one snapshot. (This is the recipe of SQLAlchemy's SQLite
dialect documentation, "Enabling Non-Legacy SQLite Transactional Modes".)

Transactions that write begin with ``BEGIN IMMEDIATE`` (see :func:`for_writing`):
a deferred transaction that reads first and writes later fails at once with
``database is locked`` (SQLITE_BUSY_SNAPSHOT, no busy wait) if another
connection committed in between, whereas an immediate one queues for the write
lock up front, so read-then-write units of work are serialised, not failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Connection, Engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

DEFAULT_BUSY_TIMEOUT_MS = 5000

SQLITE_PRAGMAS = (
    "journal_mode=WAL",
    "foreign_keys=ON",
    f"busy_timeout={DEFAULT_BUSY_TIMEOUT_MS}",
    "synchronous=NORMAL",
)
DEFAULT_SYNCHRONOUS = "normal"

# Execution option read by _on_sqlite_begin; set on an engine by for_writing().
_BEGIN_IMMEDIATE = "chatapp_sqlite_begin_immediate"


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str | URL) -> Path | None:
    """The file an SQLite URL names, or None for memory and ``file:`` URI databases."""
    parsed = make_url(url)
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("uri") or database.startswith("file:"):
        return None
    return Path(database)


def create_engine(
    url: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, synchronous: str = DEFAULT_SYNCHRONOUS
) -> AsyncEngine:
    """An async engine for ``url``; for SQLite, also the directory the file will live in.

    ``busy_timeout_ms`` is how long an SQLite writer waits for another's write
    lock before failing with ``database is locked`` (ignored for other databases).
    ``synchronous`` is SQLite's ``synchronous`` pragma: ``full`` syncs the WAL to
    disk at every commit (a commit survives a power cut); ``normal`` leaves it
    to the OS (a commit survives the server process crashing, not the machine).
    """
    _check_settings(busy_timeout_ms, synchronous)
    if not is_sqlite(url):
        # pre_ping: a server-side database may drop idle connections (restart, failover).
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, hide_parameters=True)
    pragmas = sqlite_pragmas(busy_timeout_ms, synchronous)

    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        _on_sqlite_connect(dbapi_connection, connection_record, pragmas)

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def create_reader_engine(path: Path, *, busy_timeout_ms: int, synchronous: str, readers: int) -> Engine:
    """A synchronous engine on the SQLite file ``path`` for the store's reader threads (see
    :mod:`.readers`): read-only connections (``query_only``), one per reader.

    No BEGIN and no COMMIT: each statement is its own snapshot (a read is one
    statement), and every statement a reader thread runs costs it a hand-over
    of the GIL from the event loop.
    """
    _check_settings(busy_timeout_ms, synchronous)
    engine = sqlalchemy.create_engine(
        f"sqlite:///{path}",
        hide_parameters=True,
        pool_size=readers,
        max_overflow=0,
        connect_args={"check_same_thread": False},
    )
    pragmas = (*sqlite_pragmas(busy_timeout_ms, synchronous), "query_only=ON")

    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        _on_sqlite_connect(dbapi_connection, connection_record, pragmas)

    event.listen(engine, "connect", on_connect)
    return engine


def _check_settings(busy_timeout_ms: int, synchronous: str) -> None:
    if synchronous not in ("full", "normal"):
        raise ValueError(f"synchronous must be 'full' or 'normal', not {synchronous!r}")
    if busy_timeout_ms < 0:
        raise ValueError(f"busy_timeout_ms must not be negative, not {busy_timeout_ms}")


def sqlite_pragmas(busy_timeout_ms: int, synchronous: str) -> tuple[str, ...]:
    """The PRAGMAs every SQLite connection of the store runs when it opens."""
    settings = {"busy_timeout": str(int(busy_timeout_ms)), "synchronous": synchronous.upper()}
    return tuple(
        f"{name}={settings[name]}" if (name := pragma.split("=", 1)[0]) in settings else pragma
        for pragma in SQLITE_PRAGMAS
    )


def for_writing(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool), whose transactions begin with ``BEGIN IMMEDIATE`` on SQLite.

    For units of work that write, so that a read before the first write cannot
    make the transaction fail on a concurrent commit. Other databases ignore it.
    """
    return engine.execution_options(**{_BEGIN_IMMEDIATE: True})


MIGRATION_LOCK = 0x63686174_61707000
"""The key of PostgreSQL's advisory lock that migrations hold (any number; "chatapp" in ASCII)."""


def begin_immediate(connection: Connection) -> None:
    """Make ``connection``'s next transactions begin with ``BEGIN IMMEDIATE`` on SQLite (see
    :func:`for_writing`): a migration then holds the write lock from its start, so a second
    server migrating at the same time waits for it (up to the busy timeout) and then reads the
    new revision, instead of failing on a snapshot that went stale. Nothing elsewhere."""
    if connection.dialect.name == "sqlite":
        connection.execution_options(**{_BEGIN_IMMEDIATE: True})


def take_migration_lock(connection: Connection) -> None:
    """On PostgreSQL, inside the migration's transaction: wait for the migration lock, held until
    the transaction ends, so that servers starting at once on one database migrate one at a
    time. Nothing elsewhere (SQLite: see :func:`begin_immediate`)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Records are copied out of ORM objects inside the transaction, but keeping
    # attributes loaded after commit avoids surprise lazy loads (which cannot
    # run outside the greenlet) if that ever changes.
    return async_sessionmaker(engine, expire_on_commit=False)


def _on_sqlite_connect(
    dbapi_connection: Any, connection_record: Any, pragmas: tuple[str, ...] = SQLITE_PRAGMAS
) -> None:
    # None hands transaction control to SQLAlchemy (see _on_sqlite_begin), and
    # keeps the driver from wrapping the PRAGMAs below in an implicit BEGIN,
    # inside which journal_mode and foreign_keys would be silently ignored.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(_BEGIN_IMMEDIATE):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


@contextmanager
def sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """Turn SQLite foreign key enforcement off around a schema change.

    Batch migrations recreate a table and DROP the old one; with enforcement on,
    that DROP runs the ON DELETE CASCADE of every referencing table and empties
    it. SQLite ignores this PRAGMA inside a transaction, so it goes straight to
    the DBAPI connection before SQLAlchemy begins one; run ``PRAGMA
    foreign_key_check`` before committing to keep the guarantee. Does nothing
    for other databases.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    if connection.in_transaction():
        raise RuntimeError("foreign keys can only be switched off outside a transaction")
    _raw_pragma(connection, "foreign_keys=OFF")
    try:
        yield
    finally:
        # Only a failure leaves a transaction open here, and inside it the
        # PRAGMA below would be ignored.
        if connection.in_transaction():
            connection.rollback()
        _raw_pragma(connection, "foreign_keys=ON")
        if _raw_pragma(connection, "foreign_keys") != [(1,)]:
            # Never hand a pooled connection without enforcement to the server.
            connection.invalidate()


def _raw_pragma(connection: Connection, pragma: str) -> list[tuple[Any, ...]]:
    dbapi_connection = connection.connection.dbapi_connection
    assert dbapi_connection is not None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA {pragma}")
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()
