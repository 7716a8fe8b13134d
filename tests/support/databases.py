"""Databases for tests, on either backend: a fresh SQLite file, or a fresh PostgreSQL database.

:class:`ScratchDatabase` is what a test gets: its URL (for ``Store.open``, a
server's config, a server subprocess) and a backend-neutral way to look at the
stored rows (:meth:`ScratchDatabase.rows`, through SQLAlchemy on either URL).

:class:`PostgresDatabases` hands out PostgreSQL databases cheaply: each is
``CREATE DATABASE ... TEMPLATE`` of a template made once per session (empty, or
migrated to the latest revision), a few made ahead in a background thread and
dropped there after use, so a test rarely waits for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.support.postgres import PostgresServer

T = TypeVar("T")

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
BACKENDS = (SQLITE, POSTGRESQL)

EMPTY = "chatapp_template_empty"
MIGRATED = "chatapp_template_migrated"
AHEAD = 2
"""Databases made ahead per template."""


@dataclass(frozen=True)
class ScratchDatabase:
    """One test's database."""

    backend: str
    url: str
    path: Path | None = None
    """The SQLite file (None on PostgreSQL)."""

    @property
    def is_sqlite(self) -> bool:
        return self.backend == SQLITE

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """The rows of a query, as tuples; blocks (fine in a test, even an async one)."""
        return run_sql(self.url, sql, params, fetch=True)

    def scalar(self, sql: str, **params: Any) -> Any:
        found = self.rows(sql, **params)
        return found[0][0] if found else None

    def execute(self, sql: str, **params: Any) -> int:
        """Run a statement and commit; the number of rows it touched."""
        return run_sql(self.url, sql, params, fetch=False)

    @contextlib.contextmanager
    def refusing_writes(self, table: str) -> Iterator[None]:
        """While inside, the database refuses to write ``table``: on SQLite another connection
        holds the write lock (a write fails after the busy timeout, "database is locked"); on
        PostgreSQL a trigger raises at once. What a full disk or a backup holding a lock does."""
        if self.path is not None:
            locker = sqlite3.connect(self.path, isolation_level=None)
            try:
                locker.execute("BEGIN EXCLUSIVE")
                yield
            finally:
                locker.execute("ROLLBACK")
                locker.close()
            return
        self.execute(
            "CREATE FUNCTION refuse_writes() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'writes refused by the test'; END $$"
        )
        self.execute(
            f"CREATE TRIGGER refuse_writes BEFORE INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_writes()"
        )
        try:
            yield
        finally:
            self.execute(f"DROP TRIGGER refuse_writes ON {table}")
            self.execute("DROP FUNCTION refuse_writes()")

    def tables(self) -> set[str]:
        """The names of the tables in the database."""
        return {name for (name,) in self.rows(_TABLES[self.backend])}

    def revisions(self) -> list[str]:
        """What ``alembic_version`` holds (nothing if it does not exist)."""
        if "alembic_version" not in self.tables():
            return []
        return [name for (name,) in self.rows("SELECT version_num FROM alembic_version")]


_TABLES = {
    SQLITE: "SELECT name FROM sqlite_master WHERE type = 'table'",
    POSTGRESQL: "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()",
}


def run_sql(url: str, sql: str, params: dict[str, Any], *, fetch: bool) -> Any:
    """``sql`` on the database at ``url``, through SQLAlchemy, on a connection of its own."""
    parsed = sqlalchemy.make_url(url)
    if parsed.get_backend_name() == SQLITE:
        engine = sqlalchemy.create_engine(parsed.set(drivername="sqlite"), poolclass=NullPool)
        # Foreign keys enforced, as on the store's own connections (and always on PostgreSQL).
        sqlalchemy.event.listen(engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA foreign_keys=ON"))
        try:
            with engine.begin() as connection:
                return _run(connection, sql, params, fetch)
        finally:
            engine.dispose()

    async def run_async() -> Any:
        async_engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with async_engine.begin() as connection:
                return await connection.run_sync(_run, sql, params, fetch)
        finally:
            await async_engine.dispose()

    return in_thread(run_async)


def _run(connection: sqlalchemy.Connection, sql: str, params: dict[str, Any], fetch: bool) -> Any:
    result = connection.execute(sqlalchemy.text(sql), params)
    return [tuple(row) for row in result] if fetch else result.rowcount


def in_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a loop of its own in another thread: callable from sync
    code and from inside a running event loop alike."""
    done: Future[T] = Future()

    def run() -> None:
        try:
            done.set_result(asyncio.run(make()))
        except BaseException as exc:
            done.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return done.result()


class PostgresDatabases:
    """Fresh databases on one PostgreSQL server, from templates made once."""

    def __init__(self, server: PostgresServer, migrate: Callable[[str], None]) -> None:
        """``migrate(url)`` brings the database at ``url`` to the latest schema revision."""
        self.server = server
        self._names = itertools.count(1)
        self._ready: dict[str, queue.SimpleQueue[str]] = {
            EMPTY: queue.SimpleQueue(),
            MIGRATED: queue.SimpleQueue(),
        }
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._admin = _Admin(server.url("postgres").replace("+asyncpg", ""))
        self._admin.execute(f'CREATE DATABASE "{EMPTY}"')
        self._admin.execute(f'CREATE DATABASE "{MIGRATED}"')
        migrate(server.url(MIGRATED))
        self._worker = threading.Thread(target=self._work, name="postgres-databases", daemon=True)
        self._worker.start()
        for template in (EMPTY, MIGRATED):
            for _ in range(AHEAD):
                self._jobs.put(lambda template=template: self._make(template))  # type: ignore[misc]

    def take(self, *, migrated: bool) -> str:
        """A new database's name (migrated to the latest revision, or empty); make it if none is ready."""
        template = MIGRATED if migrated else EMPTY
        self._jobs.put(lambda: self._make(template))  # the next one, made while this test runs
        try:
            return self._ready[template].get_nowait()
        except queue.Empty:
            return self._ready[template].get(timeout=60)

    def give_back(self, name: str) -> None:
        """Drop the database, in the background."""
        self._jobs.put(lambda: self._admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self._jobs.put(None)
        self._worker.join(30)
        self._admin.close()

    def _make(self, template: str) -> None:
        name = f"test_{os.getpid()}_{next(self._names)}"
        # FILE_COPY: copy the template's files (cheap without fsync) rather than log every block.
        self._admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        self._ready[template].put(name)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception as exc:  # a failed drop must not stop the others; a failed create shows
                print(f"postgres-databases: {exc!r}")


class _Admin:
    """One asyncpg connection to the server's ``postgres`` database, on a loop in its own thread."""

    def __init__(self, dsn: str) -> None:
        import asyncpg

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="postgres-admin", daemon=True)
        self._thread.start()
        self._connection: Any = self._call(asyncpg.connect(dsn))

    def execute(self, sql: str) -> None:
        self._call(self._connection.execute(sql))

    def close(self) -> None:
        self._call(self._connection.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(120)
