"""The backend for PostgreSQL through asyncpg: message batches in one statement, session-op
batches on a connection of their own (:mod:`.postgres_sessions`).

Through SQLAlchemy a batch of messages cost a pool check-out (with its ping),
BEGIN, a multi-row INSERT whose text (and so whose prepared statement) changed
with every batch size, the RETURNING rows turned into SQLAlchemy rows, and
COMMIT: five round trips and much of the event loop's time per batch (see
docs/design.md, "PostgreSQL"). Here the message writer has a connection of its
own and one statement prepared once, whatever the batch size::

    INSERT INTO messages (...) SELECT * FROM unnest($1::bigint[], ...) RETURNING id, sender_id, nonce, prev

(``prev``: the highest id committed before the batch, noted by revision 0011's trigger), run
outside an explicit transaction: a single statement is its own
transaction, so a batch is one round trip, and all of it commits or none.
A resent nonce (rare: a client resending after a reconnect) makes that
statement fail on the unique index, and the batch is written again with
``ON CONFLICT (sender_id, nonce) DO NOTHING``, which skips it: PostgreSQL's
speculative insertion costs every row more than a failed batch now and then.
Heavy reads and the rare writes are the SQLAlchemy backend's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine

from .backend import Backend
from .message_sql import draft_dm_key, ids_in_row_order
from .postgres_errors import DRIVER_ERRORS, as_sqlalchemy
from .postgres_sessions import PostgresSessions
from .records import MessageDraft
from .session_ops import SessionOp

log = logging.getLogger(__name__)

_INSERT = """
INSERT INTO messages (
    room_id, sender_id, recipient_id, dm_key, text, nonce, created_at, encrypted, action, file_id, file
)
SELECT * FROM unnest(
    $1::bigint[], $2::bigint[], $3::bigint[], $4::varchar[], $5::text[], $6::varchar[], $7::timestamptz[],
    $8::boolean[], $9::boolean[], $10::varchar[], $11::text[]
)
RETURNING id, sender_id, nonce, current_setting('chatapp.prev')::bigint AS prev
"""

_INSERT_SKIPPING_RESENT = _INSERT.replace("RETURNING", "ON CONFLICT (sender_id, nonce) DO NOTHING\nRETURNING")

_NONCE_CONSTRAINT = "uq_messages_sender_id_nonce"


# Options of SQLAlchemy's asyncpg dialect that asyncpg.connect itself does not take.
_DIALECT_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func", "async_creator_fn")


def connect_options(engine: AsyncEngine) -> dict[str, Any]:
    """What ``asyncpg.connect`` is given for the engine's own connections (host, user, password,
    database, SSL and the rest of the URL's options), for connections of our own."""
    _, options = engine.dialect.create_connect_args(engine.url)
    return {name: value for name, value in options.items() if name not in _DIALECT_ONLY}


class PostgresBackend(Backend):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._options = connect_options(engine)
        self._connection: Any = None
        self._insert: Any = None
        self._sessions = PostgresSessions(self._options)

    async def close(self) -> None:
        await self._disconnect()
        await self._sessions.close()
        await super().close()

    async def warm_up_writer(self) -> None:
        """Open the message writer's connection and prepare its statement now, as it starts.

        Not on the first message, which would wait meanwhile: a connection, its sign-in and the
        PREPARE cost this process about 2.5 ms of CPU and its sender 6 ms (with several
        processes, each paid it in the first moments of traffic). Should it fail, the first
        batch connects, as after any lost connection."""
        try:
            await self._prepared_insert()
        except DRIVER_ERRORS as exc:
            await self._disconnect()
            log.warning("event=writer_connect_failed error=%r", exc)

    async def _prepared_insert(self) -> Any:
        if self._insert is None:
            self._connection = await asyncpg.connect(**self._options)
            self._insert = await self._connection.prepare(_INSERT)
        return self._insert

    async def run_session_ops(self, ops: Sequence[SessionOp]) -> list[object]:
        try:
            outcomes = await self._sessions.run(ops)
        except DRIVER_ERRORS as exc:
            raise as_sqlalchemy(exc, "session batch") from exc
        return [
            as_sqlalchemy(outcome, "session op") if isinstance(outcome, DRIVER_ERRORS) else outcome
            for outcome in outcomes
        ]

    async def insert_messages(self, rows: Sequence[MessageDraft]) -> tuple[list[int | None], int]:
        columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [], [], [], [])
        room, sender, recipient, key, text, nonce, created, encrypted, action, file_id, file = columns
        for row in rows:
            room.append(row.room_id)
            sender.append(row.sender_id)
            recipient.append(row.recipient_id)
            key.append(draft_dm_key(row))
            text.append(row.text)
            nonce.append(row.nonce)
            created.append(row.created_at)
            encrypted.append(row.encrypted)
            action.append(row.action)
            file_id.append(row.file_id)
            file.append(row.file)
        try:
            insert = await self._prepared_insert()
            try:
                returned = await insert.fetch(*columns)
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name != _NONCE_CONSTRAINT:
                    raise
                returned = await self._connection.fetch(_INSERT_SKIPPING_RESENT, *columns)
        except DRIVER_ERRORS as exc:
            if self._connection is None or self._connection.is_closed():
                await self._disconnect()  # the next batch connects again
            raise as_sqlalchemy(exc, "INSERT INTO messages") from exc
        prev = int(returned[0]["prev"]) if returned else 0
        return ids_in_row_order(rows, [(r["id"], r["sender_id"], r["nonce"]) for r in returned]), prev

    async def _disconnect(self) -> None:
        connection, self._connection, self._insert = self._connection, None, None
        if connection is not None and not connection.is_closed():
            try:
                await connection.close(timeout=5)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
                connection.terminate()
