"""Heavy reads on resources of their own, which the writers never wait for.

Replays, history pages and a new account's first page of ``general`` read
hundreds of rows each. On the engine's pool they took the connections that
sign-ins needed, and a sign-in waiting for one held up the message writer
behind it. Here a read is a plain function of a synchronous SQLAlchemy
``Connection``, run by a :class:`Readers` without a transaction (each
statement is its own snapshot; a read is one statement, or several that do
not need to agree):

- on an SQLite file, :class:`ThreadReaders`: a few threads of their own, each
  with its own read-only connection (``query_only``), fed by a queue. WAL lets
  them read while the writers write; nothing else takes these connections.
- elsewhere (PostgreSQL, SQLite in memory), :class:`PoolReaders`: the engine's
  pool, but at most ``slots`` connections at once, fewer than the pool holds,
  so writes always find a connection.

The same function (a SQLAlchemy Core statement and what is done with its
rows) runs on both, so the statements stay backend-neutral.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

READER_THREADS = 2
"""SQLite reader threads (and connections)."""
POOL_READ_SLOTS = 3
"""Pool connections heavy reads may hold at once elsewhere: below SQLAlchemy's default pool of 5."""


class Readers:
    """Runs ``fn(connection)`` on the readers' own resources, each statement its own snapshot."""

    async def run(self, fn: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class ThreadReaders(Readers):
    """SQLite: ``threads`` threads, each with its own read-only connection of ``engine``."""

    def __init__(self, engine: Engine, threads: int = READER_THREADS) -> None:
        if threads < 1:
            raise ValueError("at least one reader thread")
        self._engine = engine
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sqlite-reader")

    async def run(self, fn: Callable[[Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._read, fn)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        with self._engine.connect() as connection, connection.begin():
            return fn(connection)

    async def close(self) -> None:
        def shut() -> None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._engine.dispose()

        await asyncio.get_running_loop().run_in_executor(None, shut)


class PoolReaders(Readers):
    """Other databases: the async engine's pool, at most ``slots`` connections at once."""

    def __init__(self, engine: AsyncEngine, slots: int = POOL_READ_SLOTS) -> None:
        if slots < 1:
            raise ValueError("at least one read slot")
        self._engine = engine
        self._slots = asyncio.Semaphore(slots)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        # Autocommit, as on the reader threads: each statement is its own snapshot, and a read
        # costs no BEGIN and COMMIT round trips (two of four on PostgreSQL, with the pool's ping).
        async with self._slots, self._engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            return await connection.run_sync(fn)

    async def close(self) -> None:
        pass  # the engine is the store's, disposed with it
