"""One thread with its own ``sqlite3`` connection: what the store's fast paths run their batches on.

Through SQLAlchemy's async adaption every statement costs several hops
between the event loop and aiosqlite's thread; a fast path instead hands a
whole batch to this thread as one function call (one hop). The thread is fed
by a plain queue and answers with ``call_soon_threadsafe``: measured here,
about 30 µs of event-loop time per hop against about 70 µs for
``loop.run_in_executor``.

WAL checkpoints (copying the log back into the database, with a sync) would
run, by SQLite's default, in the connection that commits, stalling that
commit and everything queued behind it. So this connection never checkpoints
(``wal_autocheckpoint=0``); after every ``CHECKPOINT_EVERY`` batches that
wrote, a second thread runs a PASSIVE checkpoint, which never blocks a writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CHECKPOINT_EVERY = 64
"""Batches that wrote between two WAL checkpoints."""
CHECKPOINT_LOG_INTERVAL = 60.0
"""Seconds between two log lines about failing checkpoints."""

log = logging.getLogger(__name__)

_Call = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]"]


class SqliteThread:
    def __init__(self, path: Path, pragmas: Sequence[str], name: str) -> None:
        self._path = path
        self._pragmas = tuple(pragmas)
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._started = False
        self._closed = False
        self._connection: sqlite3.Connection | None = None
        self._checkpointer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-checkpoint")
        self._checkpoint_connection: sqlite3.Connection | None = None
        self._checkpoint_pending = False
        self._checkpoint_failures = 0
        self._checkpoint_logged_at = float("-inf")
        self._write_batches = 0

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in the thread, after every call handed over before it."""
        if self._closed:
            raise RuntimeError("the SQLite thread is closed")
        if not self._started:
            self._started = True
            self._thread.start()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls.put((fn, future))
        return await future

    def wrote(self) -> None:
        """In the thread, after a batch that wrote committed: checkpoint now and then."""
        self._write_batches += 1
        if self._write_batches % CHECKPOINT_EVERY == 0 and not self._checkpoint_pending:
            self._checkpoint_pending = True
            self._checkpointer.submit(self._checkpoint)

    def close(self) -> None:
        """Finish the calls handed over, then close both connections; blocks."""
        self._closed = True
        if self._started:
            self._calls.put(None)
            self._thread.join()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

        def shut_checkpointer() -> None:
            if self._checkpoint_connection is not None:
                self._checkpoint_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self._checkpoint_connection.close()
                self._checkpoint_connection = None

        self._checkpointer.submit(shut_checkpointer).result()
        self._checkpointer.shutdown(wait=True)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: callers say BEGIN and COMMIT themselves, as the store's engine does.
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        for pragma in self._pragmas:
            connection.execute(f"PRAGMA {pragma}")
        return connection

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            fn, future = call
            try:
                if self._connection is None:
                    self._connection = self._connect()
                    self._connection.execute("PRAGMA wal_autocheckpoint=0")
                result = fn(self._connection)
            except BaseException as exc:  # handed to the awaiting coroutine, which raises it
                future.get_loop().call_soon_threadsafe(_set_exception, future, exc)
            else:
                future.get_loop().call_soon_threadsafe(_set_result, future, result)

    def _checkpoint(self) -> None:
        try:
            if self._checkpoint_connection is None:
                self._checkpoint_connection = self._connect()
            self._checkpoint_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            # The next one tries again, but a WAL that is never checkpointed grows without bound:
            # say so, once a minute at most (it fails again every CHECKPOINT_EVERY batches).
            self._checkpoint_failures += 1
            now = time.monotonic()
            if now - self._checkpoint_logged_at >= CHECKPOINT_LOG_INTERVAL:
                self._checkpoint_logged_at = now
                log.warning(
                    "WAL checkpoint of %s failed (%d failures so far): %r",
                    self._path,
                    self._checkpoint_failures,
                    exc,
                )
        finally:
            self._checkpoint_pending = False


@contextlib.contextmanager
def transaction(connection: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    """``begin`` … ``COMMIT``, or ``ROLLBACK`` if the body (or the commit) raises."""
    connection.execute(begin)
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _set_result(future: asyncio.Future[Any], result: object) -> None:
    if not future.done():  # its caller may have been cancelled meanwhile
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
