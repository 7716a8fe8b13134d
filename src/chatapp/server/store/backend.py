"""What differs between databases, behind one interface: :class:`Backend`.

The store's subject modules (users, sessions, rooms, messages) say *what* to
read and write; a backend says *how* its database runs the hot and heavy parts:

- units of work (:meth:`Backend.reading`, :meth:`Backend.writing`);
- a batch of session ops in one transaction (:meth:`Backend.run_session_ops`);
- a batch of new messages (:meth:`Backend.insert_messages`);
- heavy reads on resources of their own (:meth:`Backend.read`), and the
  replay's two queries (:meth:`Backend.replay_start`, :meth:`Backend.replay_page`).

This class is the SQLAlchemy implementation, right for every database
(PostgreSQL, SQLite in memory). :class:`~.sqlite_backend.SqliteFileBackend`
runs the same interface on an SQLite file through its fast paths, without a
branch here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .engine import create_sessionmaker, for_writing
from .message_sql import insert_returning
from .orm_ops import apply_session_op
from .readers import PoolReaders, Readers
from .records import MessageDraft, StoredMessage
from .replay_sql import replay_statements
from .rows import stored_message
from .session_ops import SessionOp

T = TypeVar("T")


class Backend:
    """The SQLAlchemy implementation: every database SQLAlchemy's async engine reaches."""

    def __init__(self, engine: AsyncEngine, readers: Readers | None = None) -> None:
        """``readers``: where heavy reads run; by default a few of the engine's pooled connections."""
        self.engine = engine
        self._readers = readers if readers is not None else PoolReaders(engine)
        # Reads begin a plain (deferred) transaction: one snapshot, no lock.
        self._reads: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)
        # Units of work that write take SQLite's write lock at BEGIN (see engine.for_writing): they
        # queue for it instead of failing when they read before writing and another connection
        # commits in between. Other databases ignore the option.
        self._write_engine = for_writing(engine)
        self._writes: async_sessionmaker[AsyncSession] = create_sessionmaker(self._write_engine)
        self._replay = replay_statements(engine.dialect.name)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def warm_up_writer(self) -> None:
        """Open now what the message writer's first batch would otherwise open (here: nothing; the
        engine's pool already holds the connection the schema was checked on)."""

    async def close(self) -> None:
        """Let go of every resource; the store has finished its queued work first."""
        await self._readers.close()
        await self.engine.dispose()

    # -- units of work ---------------------------------------------------------

    def reading(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        """A unit of work that only reads."""
        return self._reads.begin()

    def writing(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        """A unit of work that writes."""
        return self._writes.begin()

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """A heavy read: ``fn(connection)`` on the readers (see :mod:`.readers`)."""
        return await self._readers.run(fn)

    # -- session ops -------------------------------------------------------------

    async def run_session_ops(self, ops: Sequence[SessionOp]) -> list[object]:
        """Run a batch of session ops in one transaction: per op its result (records) or the
        exception that failed it alone; raises if the transaction as a whole failed.

        Ops run without savepoints first; only if one fails is the batch run again with a
        savepoint per op, so that the failing ones alone fail.
        """
        writes = any(op.writes for op in ops)
        if len(ops) > 1:
            applied = False
            try:
                async with self._session_transaction(writes) as session:
                    results = [await apply_session_op(session, op) for op in ops]
                    applied = True
                return results
            except SQLAlchemyError:
                if applied:
                    raise  # the transaction itself failed (COMMIT): every op of the batch fails
        async with self._session_transaction(writes) as session:
            if len(ops) == 1:
                # Alone in its transaction, an op that fails fails the batch: no savepoint needed.
                return [await apply_session_op(session, ops[0])]
            outcomes: list[object] = []
            for op in ops:
                try:
                    async with session.begin_nested():
                        outcomes.append(await apply_session_op(session, op))
                except SQLAlchemyError as exc:
                    outcomes.append(exc)  # rolled back to its savepoint; the others go on
            return outcomes

    def _session_transaction(self, writes: bool) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        return self.writing() if writes else self.reading()

    # -- messages ----------------------------------------------------------------

    async def insert_messages(self, rows: Sequence[MessageDraft]) -> tuple[list[int | None], int]:
        """Insert new messages in one transaction: per row its id, increasing in row order, or None
        where the database skipped a row whose (sender, nonce) is stored already; and the batch's
        ``prev``, the highest message id committed before it (PostgreSQL; 0 on SQLite, and when
        every row was skipped)."""
        async with self.writing() as session:
            return await insert_returning(await session.connection(), rows)

    async def replay_start(self, values: dict[str, Any]) -> int | None:
        """The replay's start (see :mod:`.replay_sql`) for these values: the newest message left out,
        if any."""
        start = self._replay.start
        found = await self.read(lambda connection: connection.execute(start, values).scalar())
        return None if found is None else int(found)

    async def replay_page(
        self, values: dict[str, Any], render: Callable[[list[StoredMessage]], T]
    ) -> tuple[T, int | None]:
        """A replay page (see :mod:`.replay_sql`) for these values, passed to ``render`` on the
        reader that read it; its result and the last id read (None if none)."""
        page = self._replay.page

        def read(connection: Connection) -> tuple[T, int | None]:
            messages = [stored_message(row) for row in connection.execute(page, values)]
            return render(messages), messages[-1].id if messages else None

        return await self.read(read)
