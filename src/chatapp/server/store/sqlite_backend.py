"""The backend for an SQLite file: the same interface as :class:`~.backend.Backend`, on fast paths.

- One writer at a time: every write takes the write turn (:mod:`.write_turn`)
  once it has its connection, instead of competing for SQLite's lock through
  busy-timeout sleeps.
- Message batches and session-op batches each run in one trip to a thread with
  its own ``sqlite3`` connection (:mod:`.sqlite_batch`, :mod:`.sqlite_sessions`).
- Heavy reads run on reader threads with read-only connections of their own
  (:class:`~.readers.ThreadReaders`), and the replay's statements run there as
  plain SQL compiled once, a page read as one packed value (:mod:`.replay_sql`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from .backend import Backend
from .engine import create_reader_engine, sqlite_pragmas
from .readers import READER_THREADS, ThreadReaders
from .records import MessageDraft, StoredMessage
from .replay_sql import PORTABLE, SqliteStatement, packed, unpack_page
from .session_ops import SessionOp
from .sqlite_batch import SqliteBatchInserter
from .sqlite_sessions import SqliteSessions
from .write_turn import WriteTurn

T = TypeVar("T")

_REPLAY_START = SqliteStatement(PORTABLE.start)
_REPLAY_PAGE = SqliteStatement(packed(PORTABLE.page))


class SqliteFileBackend(Backend):
    def __init__(self, engine: AsyncEngine, path: Path, *, busy_timeout_ms: int, synchronous: str) -> None:
        reader_engine = create_reader_engine(
            path, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous, readers=READER_THREADS
        )
        super().__init__(engine, ThreadReaders(reader_engine, READER_THREADS))
        pragmas = sqlite_pragmas(busy_timeout_ms, synchronous)
        self._messages = SqliteBatchInserter(path, pragmas)
        self._sessions = SqliteSessions(path, pragmas)
        # SQLite has one writer at a time. Taking turns here, in the event loop, is cheaper than
        # pooled connections competing for its lock through busy-timeout sleeps (which also ended
        # in "database is locked" under load).
        self._turn = WriteTurn()

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._sessions.close)
        await loop.run_in_executor(None, self._messages.close)
        await super().close()

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        # The pooled connection is taken first, then the write turn: a writer waiting for a
        # connection (held by readers, say) holds up nobody.
        async with self._write_engine.connect() as connection, self._turn.hold():
            async with AsyncSession(bind=connection, expire_on_commit=False) as session, session.begin():
                yield session

    def writing(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        """A unit of work that writes: one at a time, begun with ``BEGIN IMMEDIATE``."""
        return self._writing()

    async def run_session_ops(self, ops: Sequence[SessionOp]) -> list[object]:
        if any(op.writes for op in ops):
            async with self._turn.hold():
                return await self._sessions.run(ops)
        return await self._sessions.run(ops)

    async def insert_messages(self, rows: Sequence[MessageDraft]) -> tuple[list[int | None], int]:
        async with self._turn.hold():
            return await self._messages.insert(rows), 0  # one process: no chain to follow

    async def replay_start(self, values: dict[str, Any]) -> int | None:
        found = await self.read(lambda connection: _REPLAY_START.scalar(connection, values))
        return None if found is None else int(found)

    async def replay_page(
        self, values: dict[str, Any], render: Callable[[list[StoredMessage]], T]
    ) -> tuple[T, int | None]:
        def read(connection: Connection) -> tuple[T, int | None]:
            messages = unpack_page(_REPLAY_PAGE.scalar(connection, values))
            return render(messages), messages[-1].id if messages else None

        return await self.read(read)
