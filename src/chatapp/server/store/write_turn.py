"""SQLite's single writer, taken in turns in the event loop, and failed together when it is stuck.

SQLite lets one connection write at a time. The store's writers (the message
writer's thread, the session batcher's thread, the rare ORM writes) take turns
here rather than competing for SQLite's lock through busy-timeout sleeps. A
writer holds its turn only while its statements run: it gets its database
connection *before* asking for the turn, and never waits for anything else
inside it.

When something outside the server holds the database's write lock (a backup,
an ``sqlite3`` shell), the writer in turn waits its busy timeout and fails;
each writer queued behind it would then wait its own timeout in turn (5 s,
10 s, 15 s, ...). Instead, every writer that was already waiting when that
failure came fails at once with the same error; those that ask afterwards try
again.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import sqlite3
from collections.abc import AsyncIterator

from sqlalchemy.exc import DBAPIError

from chatapp.clock import monotonic


def lock_timed_out(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's "database is locked" (the busy timeout ran out)."""
    original = error.orig if isinstance(error, DBAPIError) else error
    if not isinstance(original, sqlite3.OperationalError):
        return False
    code = getattr(original, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF == sqlite3.SQLITE_BUSY
    return "database is locked" in str(original)


class WriteTurn:
    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._failed_at = float("-inf")
        self._failure: BaseException | None = None

    @property
    def waiting(self) -> bool:
        return self._lock.locked()

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """The write turn; raises the lock failure of a writer that timed out while we waited."""
        asked = monotonic()
        async with self._lock:
            if self._failure is not None and asked <= self._failed_at:
                raise _copy(self._failure)
            try:
                yield
            except Exception as exc:
                if lock_timed_out(exc):
                    self._failed_at, self._failure = monotonic(), exc
                raise


def _copy(error: BaseException) -> BaseException:
    # One object per raise: each adds its own traceback.
    duplicate = copy.copy(error)
    duplicate.__cause__ = error.__cause__
    return duplicate
