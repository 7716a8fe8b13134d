"""The SQLite fast path for session work: a whole batch of ops in one trip to one thread.

Through SQLAlchemy's async adaption every statement costs several hops
between the event loop and an aiosqlite thread (about 0.4 ms each here), and a
resume took two transactions of several statements: ~5 ms of the event loop's
time per sign-in. Here one dedicated thread with its own ``sqlite3``
connection runs a batch of :mod:`session_ops` (from many connections) start
to finish in one call, in one transaction: one hop per batch.

Values are bound and read with SQLAlchemy's own type processors for the
SQLite dialect, so rows are stored exactly as the ORM writes them and read
exactly as it reads them; results are plain tuples, which the store turns
into its records. sqlite errors are raised as SQLAlchemy's ``DBAPIError``
subclasses, as from every other path of the store.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from .models import Base
from .session_ops import EndOpenSessions, EndSession, FindSession, ReopenSession, SessionOp, SetSeen
from .sqlite_values import bind, result

_SESSIONS = Base.metadata.tables["sessions"]
_USERS = Base.metadata.tables["users"]
_ROOMS = Base.metadata.tables["rooms"]
CHECKPOINT_EVERY = 64
"""Write batches between two WAL checkpoints (see :class:`SqliteSessions`)."""


_STAMP = bind(_SESSIONS.c.last_seen_at)  # every timestamp column has the same type (UTCDateTime)

# Columns read, in the order of the records the store builds from them.
_SESSION_COLUMNS = (
    "id",
    "user_id",
    "peer",
    "created_at",
    "last_seen_at",
    "expires_at",
    "ended_at",
    "end_reason",
)
_USER_COLUMNS = ("id", "username", "password_hash", "role", "created_at", "last_login_at")
_ROOM_COLUMNS = ("id", "name", "topic", "owner_id", "created_at")
_SESSION_USER_READERS = [result(_SESSIONS.c[name]) for name in _SESSION_COLUMNS] + [
    result(_USERS.c[name]) for name in _USER_COLUMNS
]
_ROOM_READERS = [result(_ROOMS.c[name]) for name in _ROOM_COLUMNS]

_FIND_SESSION = (
    f"SELECT {', '.join('sessions.' + c for c in _SESSION_COLUMNS)}, "
    f"{', '.join('users.' + c for c in _USER_COLUMNS)} "
    "FROM sessions JOIN users ON sessions.user_id = users.id WHERE sessions.token_hash = ?"
)
_REOPEN = "UPDATE sessions SET ended_at = NULL, end_reason = NULL, peer = ?, last_seen_at = ? WHERE id = ?"
_OWNER = "(SELECT sessions.user_id FROM sessions WHERE sessions.id = ?)"
_LOGGED_IN = f"UPDATE users SET last_login_at = ? WHERE id = {_OWNER}"
_ROOMS_OF_OWNER = (
    f"SELECT {', '.join('rooms.' + c for c in _ROOM_COLUMNS)} FROM rooms "
    f"JOIN memberships ON memberships.room_id = rooms.id WHERE memberships.user_id = {_OWNER} "
    "ORDER BY rooms.name"
)
_END = "UPDATE sessions SET ended_at = ?, end_reason = ?, last_seen_at = ? WHERE id = ?"
_END_REVOKE = (
    "UPDATE sessions SET ended_at = ?, end_reason = ?, last_seen_at = ?, expires_at = ? WHERE id = ?"
)
_SEEN_OF_OWNER = f"UPDATE users SET seen_message_id = ? WHERE id = {_OWNER} AND seen_message_id < ?"
_SEEN = "UPDATE users SET seen_message_id = ? WHERE id = ? AND seen_message_id < ?"
_END_OPEN = "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL"


def _apply(connection: sqlite3.Connection, op: SessionOp) -> object:
    """Run one op's statements; its raw result (tuples of values as the ORM would read them)."""
    if isinstance(op, FindSession):
        row = connection.execute(_FIND_SESSION, (op.token_hash,)).fetchone()
        if row is None:
            return None
        return tuple(read(value) for read, value in zip(_SESSION_USER_READERS, row, strict=True))
    if isinstance(op, ReopenSession):
        now = _STAMP(op.now)
        connection.execute(_REOPEN, (op.peer, now, op.session_id))
        connection.execute(_LOGGED_IN, (now, op.session_id))
        if not op.with_rooms:
            return None
        return [
            tuple(read(value) for read, value in zip(_ROOM_READERS, row, strict=True))
            for row in connection.execute(_ROOMS_OF_OWNER, (op.session_id,))
        ]
    if isinstance(op, EndSession):
        now = _STAMP(op.now)
        if op.revoke:
            connection.execute(_END_REVOKE, (now, op.reason, now, now, op.session_id))
        else:
            connection.execute(_END, (now, op.reason, now, op.session_id))
        if op.seen_message_id:
            connection.execute(_SEEN_OF_OWNER, (op.seen_message_id, op.session_id, op.seen_message_id))
        return None
    if isinstance(op, SetSeen):
        connection.execute(_SEEN, (op.message_id, op.user_id, op.message_id))
        return None
    if isinstance(op, EndOpenSessions):
        return connection.execute(_END_OPEN, (_STAMP(op.now), op.reason)).rowcount
    raise TypeError(f"not a session op: {op!r}")  # pragma: no cover


_Request = tuple[list[SessionOp], "asyncio.Future[list[object]]"]


def _set_result(future: asyncio.Future[list[object]], results: list[object]) -> None:
    if not future.done():  # its caller may have been cancelled meanwhile
        future.set_result(results)


def _set_exception(future: asyncio.Future[list[object]], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _database_error(exc: sqlite3.Error, ops: Sequence[SessionOp]) -> DBAPIError:
    # The store's callers see database errors as SQLAlchemy's, whichever path failed.
    kinds = ", ".join(sorted({type(op).__name__ for op in ops}))
    error = DBAPIError.instance(f"session batch ({kinds})", None, exc, sqlite3.Error)
    assert isinstance(error, DBAPIError)  # always, for an error of the driver's own classes
    return error


class SqliteSessions:
    """Runs batches of session ops on its own connection in its own thread.

    The caller holds the store's write turn around a batch that writes, so this
    connection never waits on SQLite's lock behind the message writer's.
    """

    def __init__(self, path: Path, pragmas: Sequence[str]) -> None:
        self._path = path
        self._pragmas = tuple(pragmas)
        # A thread of its own fed by a queue, answering through call_soon_threadsafe: measured here,
        # half the event loop's time per hop of loop.run_in_executor (~30 µs against ~70 µs).
        self._requests: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="sqlite-sessions", daemon=True)
        self._started = False
        self._connection: sqlite3.Connection | None = None
        # As for the message writer (sqlite_batch): the committing connection never checkpoints,
        # which would stall the commit while it holds the write turn; a second thread runs a
        # PASSIVE checkpoint (it never blocks a writer) after every CHECKPOINT_EVERY write batches.
        self._checkpointer = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sqlite-sessions-checkpoint"
        )
        self._checkpoint_connection: sqlite3.Connection | None = None
        self._checkpoint_pending = False
        self._write_batches = 0

    async def run(self, ops: Sequence[SessionOp]) -> list[object]:
        """Run ``ops`` in one transaction; per op its raw result or the ``DBAPIError`` that failed it.

        Raises ``DBAPIError`` if the transaction failed as a whole (nothing of it is stored).
        """
        if not self._started:
            self._started = True
            self._thread.start()
        future: asyncio.Future[list[object]] = asyncio.get_running_loop().create_future()
        self._requests.put((list(ops), future))
        try:
            return await future
        except sqlite3.Error as exc:
            raise _database_error(exc, ops) from exc

    def close(self) -> None:
        """Stop the thread (after the batches handed to it) and close the connections; blocks."""
        if self._started:
            self._requests.put(None)
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
        # isolation_level=None: this code says BEGIN and COMMIT itself, as the store's engine does.
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        for pragma in self._pragmas:
            connection.execute(f"PRAGMA {pragma}")
        return connection

    def _checkpoint(self) -> None:
        try:
            if self._checkpoint_connection is None:
                self._checkpoint_connection = self._connect()
            self._checkpoint_connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # the next one will try again
        finally:
            self._checkpoint_pending = False

    def _serve(self) -> None:
        while (request := self._requests.get()) is not None:
            ops, future = request
            try:
                results = self._run(ops)
            except BaseException as exc:  # handed to the waiting coroutine, which raises it
                future.get_loop().call_soon_threadsafe(_set_exception, future, exc)
            else:
                future.get_loop().call_soon_threadsafe(_set_result, future, results)

    def _run(self, ops: list[SessionOp]) -> list[object]:
        if self._connection is None:
            self._connection = self._connect()
            self._connection.execute("PRAGMA wal_autocheckpoint=0")
        connection = self._connection
        writes = any(op.writes for op in ops)
        # A batch that writes takes the write lock at BEGIN (see engine.for_writing); reads alone
        # take a plain BEGIN: one snapshot, no lock, never waiting for a writer (WAL).
        begin = "BEGIN IMMEDIATE" if writes else "BEGIN"
        connection.execute(begin)
        try:
            try:
                results = [_apply(connection, op) for op in ops]
            except sqlite3.Error:
                if len(ops) == 1:
                    raise  # alone in its transaction, the op that failed fails the batch
                # Some op failed. Savepoints would cost two more statements per op on every batch,
                # for a rare case; so only now undo the batch and run it again with a savepoint
                # per op: the ops that fail are rolled back alone, the others commit.
                connection.execute("ROLLBACK")
                connection.execute(begin)
                results = [self._apply_in_savepoint(connection, op) for op in ops]
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        if writes:
            self._write_batches += 1
            if self._write_batches % CHECKPOINT_EVERY == 0 and not self._checkpoint_pending:
                self._checkpoint_pending = True
                self._checkpointer.submit(self._checkpoint)
        return results

    @staticmethod
    def _apply_in_savepoint(connection: sqlite3.Connection, op: SessionOp) -> object:
        """One op of a batch: rolled back alone, and its error returned, if it fails."""
        connection.execute("SAVEPOINT session_op")
        try:
            result = _apply(connection, op)
        except sqlite3.Error as exc:
            connection.execute("ROLLBACK TO session_op")
            connection.execute("RELEASE session_op")
            return _database_error(exc, [op])
        connection.execute("RELEASE session_op")
        return result
