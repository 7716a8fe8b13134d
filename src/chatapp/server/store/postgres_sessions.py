"""PostgreSQL's path for session work: a batch of ops in one transaction on asyncpg, few round trips.

Through SQLAlchemy's ORM an op cost a flush per row, a round trip per
statement and much Python around each: about 2 ms of the event loop per
registration or sign-in (500 registrations took a second, their sign-ins 1.4 s;
on SQLite's fast path 0.05 s). Here the batch runs on a connection of its own,
each op in one or two statements that do the work of several (CTEs with
RETURNING), prepared once. As everywhere, the ops of a batch run without
savepoints, and only if one fails is the batch run again with a savepoint per
op, so the failing ones alone fail. Results are the records :mod:`.orm_ops`
returns; a test runs both paths on the same ops.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]

from chatapp.protocol.limits import DEFAULT_ROOM

from .models import DEFAULT_ROLE
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

R = TypeVar("R")

_FIELDS: dict[type, tuple[str, ...]] = {
    record: tuple(field.name for field in dataclasses.fields(record))
    for record in (UserRecord, SessionRecord, RoomRecord)
}


def _columns(record: type, alias: str) -> str:
    """The SELECT list of the table aliased ``alias`` for ``record``: each field's column, named
    ``<alias>_<field>`` (so that a join of two tables keeps them apart)."""
    return ", ".join(f"{alias}.{name} AS {alias}_{name}" for name in _FIELDS[record])


def _read(record: type[R], alias: str, row: Any) -> R:
    """The record from a row of :func:`_columns`, each field from the column of its name."""
    values = {name: row[f"{alias}_{name}"] for name in _FIELDS[record]}
    for name, value in values.items():
        if isinstance(value, datetime):
            values[name] = value.astimezone(UTC)
    return record(**values)


_USER = _columns(UserRecord, "u")
_SESSION = _columns(SessionRecord, "s")
_ROOMS_OF = (
    f"SELECT {_columns(RoomRecord, 'r')} FROM rooms r "
    "JOIN memberships m ON m.room_id = r.id WHERE m.user_id = $1 ORDER BY r.name"
)

_FIND_USER = f"SELECT {_USER} FROM users u WHERE u.username_key = $1"
_DISPLAY_NAME_IN_USE = "SELECT 1 FROM users WHERE display_name_key = $1 LIMIT 1"
# The user and their membership of 'general' in one statement; no row when 'general' is missing.
_CREATE_USER = (
    "WITH u AS (INSERT INTO users (username, username_key, password_hash, role, created_at, seen_message_id) "
    "VALUES ($1, $2, $3, $4, $5, 0) RETURNING id), "
    "m AS (INSERT INTO memberships (user_id, room_id, joined_at) "
    "SELECT u.id, r.id, $5 FROM u, rooms r WHERE r.name = $6 RETURNING user_id) "
    "SELECT u.id AS user_id, (SELECT count(*) FROM m) AS joined FROM u"
)
_CREATE_GENERAL = (
    "INSERT INTO rooms (name, topic, owner_id, created_at) VALUES ($1, '', NULL, $2) "
    "ON CONFLICT (name) DO NOTHING"
)
_JOIN_GENERAL = (
    "INSERT INTO memberships (user_id, room_id, joined_at) SELECT $1, id, $2 FROM rooms WHERE name = $3"
)
_CREATE_SESSION = (
    "WITH s AS (INSERT INTO sessions (user_id, token_hash, peer, created_at, last_seen_at, expires_at, node) "
    "VALUES ($1, $2, $3, $4, $4, $5, $6) RETURNING id), "
    "u AS (UPDATE users SET last_login_at = $4 WHERE id = $1 RETURNING seen_message_id) "
    "SELECT s.id AS session_id, (SELECT seen_message_id FROM u) AS seen FROM s"
)
_FIND_SESSION = (
    f"SELECT {_SESSION}, {_USER} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
)
# Only while its token is valid: a revocation after the resume's check wins.
_REOPEN = (
    "WITH s AS (UPDATE sessions SET ended_at = NULL, end_reason = NULL, peer = $2, last_seen_at = $3, "
    "node = $4 WHERE id = $1 AND expires_at > $3 RETURNING user_id), "
    "u AS (UPDATE users SET last_login_at = $3 WHERE id = (SELECT user_id FROM s) RETURNING id) "
    "SELECT id FROM u"
)
_END = (
    "WITH s AS (UPDATE sessions SET ended_at = $2, end_reason = $3, last_seen_at = $2, "
    "expires_at = CASE WHEN $4 THEN $2 ELSE expires_at END WHERE id = $1 RETURNING user_id) "
    "UPDATE users SET seen_message_id = $5 WHERE id = (SELECT user_id FROM s) AND seen_message_id < $5"
)
_SEEN = "UPDATE users SET seen_message_id = $2 WHERE id = $1 AND seen_message_id < $2"
_END_OPEN = "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE ended_at IS NULL"
_END_OPEN_OF_NODE = f"{_END_OPEN} AND node = $3"


class PostgresSessions:
    """Runs batches of session ops on its own asyncpg connection."""

    def __init__(self, options: dict[str, Any]) -> None:
        """``options``: what ``asyncpg.connect`` is given."""
        self._options = options
        self._connection: Any = None

    async def run(self, ops: Sequence[SessionOp]) -> list[object]:
        """Run ``ops`` in one transaction; per op its result or the exception that failed it alone.
        Raises (asyncpg's errors) if the transaction as a whole failed."""
        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(**self._options)
        connection = self._connection
        try:
            async with connection.transaction():
                return [await _apply(connection, op) for op in ops]
        except asyncpg.PostgresError:
            if len(ops) == 1 or connection.is_closed():
                raise
        # Some op failed: the batch again, each op in a savepoint, so that it fails alone.
        outcomes: list[object] = []
        async with connection.transaction():
            for op in ops:
                try:
                    async with connection.transaction():
                        outcomes.append(await _apply(connection, op))
                except asyncpg.PostgresError as exc:
                    outcomes.append(exc)
        return outcomes

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            await connection.close(timeout=5)


async def _apply(connection: Any, op: SessionOp) -> object:
    """Run one op's statements; its result as the records :mod:`.orm_ops` returns."""
    if isinstance(op, FindUser):
        row = await connection.fetchrow(_FIND_USER, op.username_key)
        return None if row is None else _read(UserRecord, "u", row)
    if isinstance(op, DisplayNameInUse):
        return await connection.fetchrow(_DISPLAY_NAME_IN_USE, op.key) is not None
    if isinstance(op, CreateUser):
        created = await connection.fetchrow(
            _CREATE_USER, op.username, op.username_key, op.password_hash, DEFAULT_ROLE, op.now, DEFAULT_ROOM
        )
        user_id = created["user_id"]
        if not created["joined"]:  # 'general' was missing: made now (or by a concurrent writer)
            await connection.execute(_CREATE_GENERAL, DEFAULT_ROOM, op.now)
            await connection.execute(_JOIN_GENERAL, user_id, op.now, DEFAULT_ROOM)
        return UserRecord(
            id=user_id,
            username=op.username,
            password_hash=op.password_hash,
            role=DEFAULT_ROLE,
            created_at=op.now.astimezone(UTC),
            last_login_at=None,
        )
    if isinstance(op, CreateSession):
        created = await connection.fetchrow(
            _CREATE_SESSION, op.user_id, op.token_hash, op.peer, op.now, op.expires_at, op.node
        )
        session_id, seen = created["session_id"], created["seen"]
        rooms = [_read(RoomRecord, "r", row) for row in await connection.fetch(_ROOMS_OF, op.user_id)]
        stamp = op.now.astimezone(UTC)
        session = SessionRecord(
            id=session_id,
            user_id=op.user_id,
            peer=op.peer,
            created_at=stamp,
            last_seen_at=stamp,
            expires_at=op.expires_at.astimezone(UTC),
            ended_at=None,
            end_reason=None,
        )
        return SignInRecord(session, rooms, int(seen or 0))
    if isinstance(op, FindSession):
        row = await connection.fetchrow(_FIND_SESSION, op.token_hash)
        return None if row is None else (_read(SessionRecord, "s", row), _read(UserRecord, "u", row))
    if isinstance(op, ReopenSession):
        user_id = await connection.fetchval(_REOPEN, op.session_id, op.peer, op.now, op.node)
        if user_id is None:
            return None
        return [_read(RoomRecord, "r", row) for row in await connection.fetch(_ROOMS_OF, user_id)]
    if isinstance(op, EndSession):
        await connection.execute(_END, op.session_id, op.now, op.reason, op.revoke, op.seen_message_id)
        return None
    if isinstance(op, SetSeen):
        await connection.execute(_SEEN, op.user_id, op.message_id)
        return None
    if isinstance(op, EndOpenSessions):
        if op.node is None:
            status = await connection.execute(_END_OPEN, op.now, op.reason)
        else:
            status = await connection.execute(_END_OPEN_OF_NODE, op.now, op.reason, op.node)
        return int(status.rsplit(" ", 1)[1])  # "UPDATE <count>"
    raise TypeError(f"not a session op: {op!r}")  # pragma: no cover
