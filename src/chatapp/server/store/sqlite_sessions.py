"""The SQLite fast path for session work: a whole batch of ops in one trip to one thread.

Through SQLAlchemy's async adaption every statement costs several hops
between the event loop and an aiosqlite thread (about 0.4 ms each here), and a
resume took two transactions of several statements: ~5 ms of the event loop's
time per sign-in. Here one dedicated thread with its own ``sqlite3``
connection runs a batch of :mod:`session_ops` (from many connections) start
to finish in one call, in one transaction: one hop per batch.

Values are bound and read with SQLAlchemy's own type processors for the
SQLite dialect, so rows are stored exactly as the ORM writes them and read
exactly as it reads them; results are the same records :mod:`.orm_ops`
returns, each field read from the column of its name. sqlite errors are raised as SQLAlchemy's ``DBAPIError``
subclasses, as from every other path of the store.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError

from chatapp.protocol.limits import DEFAULT_ROOM

from .models import DEFAULT_ROLE, Base
from .records import RoomRecord, SessionRecord, SignInRecord, UserRecord
from .session_ops import (
    CreateSession,
    CreateUser,
    DisplayNameInUse,
    EndOpenSessions,
    EndSession,
    FindSession,
    FindUser,
    ReopenSession,
    SessionOp,
    SetSeen,
)
from .sqlite_thread import SqliteThread, transaction
from .sqlite_values import bind, result

Record = TypeVar("Record")


class _Columns(Generic[Record]):
    """The columns of ``table`` named as the fields of ``record``: the SELECT list, and how a row
    of it becomes the record (each field from the column of its name, read as the ORM reads it)."""

    def __init__(self, record: type[Record], table: Table) -> None:
        self._record = record
        self.names = tuple(field.name for field in dataclasses.fields(record))  # type: ignore[arg-type]
        self.select = ", ".join(f"{table.name}.{name}" for name in self.names)
        self._readers = tuple(result(table.c[name]) for name in self.names)

    def __len__(self) -> int:
        return len(self.names)

    def read(self, row: Sequence[Any]) -> Record:
        values = {name: read(value) for name, read, value in zip(self.names, self._readers, row, strict=True)}
        return self._record(**values)


_SESSIONS = Base.metadata.tables["sessions"]
_USERS = Base.metadata.tables["users"]
_ROOMS = Base.metadata.tables["rooms"]
_SESSION = _Columns(SessionRecord, _SESSIONS)
_USER = _Columns(UserRecord, _USERS)
_ROOM = _Columns(RoomRecord, _ROOMS)

_STAMP = bind(_SESSIONS.c.last_seen_at)  # every timestamp column has the same type (UTCDateTime)
_READ_STAMP = result(_SESSIONS.c.last_seen_at)

_FIND_USER = f"SELECT {_USER.select} FROM users WHERE username_key = ?"
_DISPLAY_NAME_IN_USE = "SELECT 1 FROM users WHERE display_name_key = ? LIMIT 1"
_INSERT_USER = (
    "INSERT INTO users (username, username_key, password_hash, role, created_at, seen_message_id) "
    "VALUES (?, ?, ?, ?, ?, 0)"
)
_ROOM_ID = "SELECT id FROM rooms WHERE name = ?"
_INSERT_ROOM = "INSERT INTO rooms (name, topic, owner_id, created_at) VALUES (?, '', NULL, ?)"
_INSERT_MEMBERSHIP = "INSERT INTO memberships (user_id, room_id, joined_at) VALUES (?, ?, ?)"
_INSERT_SESSION = (
    "INSERT INTO sessions (user_id, token_hash, peer, created_at, last_seen_at, expires_at, node) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_USER_LOGGED_IN = "UPDATE users SET last_login_at = ? WHERE id = ?"
_ROOMS_OF_USER = (
    f"SELECT {_ROOM.select} FROM rooms "
    "JOIN memberships ON memberships.room_id = rooms.id WHERE memberships.user_id = ? ORDER BY rooms.name"
)
_SEEN_OF_USER = "SELECT seen_message_id FROM users WHERE id = ?"

_FIND_SESSION = (
    f"SELECT {_SESSION.select}, {_USER.select} "
    "FROM sessions JOIN users ON sessions.user_id = users.id WHERE sessions.token_hash = ?"
)
# Only while its token is valid: a token revoked (quit, ended by its user, taken over) after the
# resume checked it must not bring the session back.
_REOPEN = (
    "UPDATE sessions SET ended_at = NULL, end_reason = NULL, peer = ?, last_seen_at = ?, node = ? "
    "WHERE id = ? AND expires_at > ?"
)
_OWNER = "(SELECT sessions.user_id FROM sessions WHERE sessions.id = ?)"
_LOGGED_IN = f"UPDATE users SET last_login_at = ? WHERE id = {_OWNER}"
_ROOMS_OF_OWNER = (
    f"SELECT {_ROOM.select} FROM rooms "
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
_END_OPEN_OF_NODE = f"{_END_OPEN} AND node = ?"


def _apply(connection: sqlite3.Connection, op: SessionOp) -> object:
    """Run one op's statements; its result as the records :mod:`.orm_ops` returns."""
    if isinstance(op, FindUser):
        found = connection.execute(_FIND_USER, (op.username_key,)).fetchone()
        return None if found is None else _USER.read(found)
    if isinstance(op, DisplayNameInUse):
        return connection.execute(_DISPLAY_NAME_IN_USE, (op.key,)).fetchone() is not None
    if isinstance(op, CreateUser):
        now = _STAMP(op.now)
        cursor = connection.execute(
            _INSERT_USER, (op.username, op.username_key, op.password_hash, DEFAULT_ROLE, now)
        )
        user_id = cursor.lastrowid
        assert user_id is not None
        room = connection.execute(_ROOM_ID, (DEFAULT_ROOM,)).fetchone()
        if room is None:
            room = (connection.execute(_INSERT_ROOM, (DEFAULT_ROOM, now)).lastrowid,)
        connection.execute(_INSERT_MEMBERSHIP, (user_id, room[0], now))
        return UserRecord(
            id=user_id,
            username=op.username,
            password_hash=op.password_hash,
            role=DEFAULT_ROLE,
            created_at=_READ_STAMP(now),
            last_login_at=None,
        )
    if isinstance(op, CreateSession):
        now = _STAMP(op.now)
        expires = _STAMP(op.expires_at)
        values = (op.user_id, op.token_hash, op.peer, now, now, expires, op.node)
        cursor = connection.execute(_INSERT_SESSION, values)
        assert cursor.lastrowid is not None
        connection.execute(_USER_LOGGED_IN, (now, op.user_id))
        stamp = _READ_STAMP(now)
        session = SessionRecord(
            id=cursor.lastrowid,
            user_id=op.user_id,
            peer=op.peer,
            created_at=stamp,
            last_seen_at=stamp,
            expires_at=_READ_STAMP(expires),
            ended_at=None,
            end_reason=None,
        )
        rooms = [_ROOM.read(row) for row in connection.execute(_ROOMS_OF_USER, (op.user_id,))]
        seen = connection.execute(_SEEN_OF_USER, (op.user_id,)).fetchone()
        return SignInRecord(session, rooms, int(seen[0] if seen is not None else 0))
    if isinstance(op, FindSession):
        row = connection.execute(_FIND_SESSION, (op.token_hash,)).fetchone()
        if row is None:
            return None
        return _SESSION.read(row[: len(_SESSION)]), _USER.read(row[len(_SESSION) :])
    if isinstance(op, ReopenSession):
        now = _STAMP(op.now)
        if not connection.execute(_REOPEN, (op.peer, now, op.node, op.session_id, now)).rowcount:
            return None
        connection.execute(_LOGGED_IN, (now, op.session_id))
        return [_ROOM.read(row) for row in connection.execute(_ROOMS_OF_OWNER, (op.session_id,))]
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
        if op.node is None:
            return connection.execute(_END_OPEN, (_STAMP(op.now), op.reason)).rowcount
        return connection.execute(_END_OPEN_OF_NODE, (_STAMP(op.now), op.reason, op.node)).rowcount
    raise TypeError(f"not a session op: {op!r}")  # pragma: no cover


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
        self._thread = SqliteThread(path, pragmas, "sqlite-sessions")

    async def run(self, ops: Sequence[SessionOp]) -> list[object]:
        """Run ``ops`` in one transaction; per op its result or the ``DBAPIError`` that failed it.

        Raises ``DBAPIError`` if the transaction failed as a whole (nothing of it is stored).
        """
        batch = list(ops)
        try:
            return await self._thread.call(lambda connection: self._run(connection, batch))
        except sqlite3.Error as exc:
            raise _database_error(exc, ops) from exc

    def close(self) -> None:
        """Stop the thread (after the batches handed to it) and close the connections; blocks."""
        self._thread.close()

    def _run(self, connection: sqlite3.Connection, ops: list[SessionOp]) -> list[object]:
        writes = any(op.writes for op in ops)
        # A batch that writes takes the write lock at BEGIN (see engine.for_writing); reads alone
        # take a plain BEGIN: one snapshot, no lock, never waiting for a writer (WAL).
        begin = "BEGIN IMMEDIATE" if writes else "BEGIN"
        with transaction(connection, begin):
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
        if writes:
            self._thread.wrote()
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
