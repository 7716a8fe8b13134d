"""The message writer's SQLite fast path: a whole batch in one trip to one thread.

Through SQLAlchemy's async adaption every statement costs several hops
between the event loop and aiosqlite's thread (about 0.4 ms each here), so a
batch (BEGIN, INSERT, COMMIT) cost 2 to 3 ms of latency and much of the event
loop's time. Here a :class:`SqliteThread` runs the batch start to finish in
one call: one hop per batch.

Only the INSERT of new messages takes this path; everything else, the rare
nonce look-ups included, goes through SQLAlchemy as usual. Values are
converted as SQLAlchemy's SQLite dialect does (``sqlite_values``), so rows
are stored exactly as the rest of the store writes and reads them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

from .sqlite_thread import SqliteThread, transaction
from .sqlite_values import utc_timestamp_text

if TYPE_CHECKING:
    from .repository import MessageDraft

_COLUMNS = ("room_id", "sender_id", "recipient_id", "dm_key", "text", "nonce", "created_at")
_SENDER, _NONCE = _COLUMNS.index("sender_id"), _COLUMNS.index("nonce")
_PAGE = 500


class SqliteBatchInserter:
    def __init__(self, path: Path, pragmas: Sequence[str]) -> None:
        self._thread = SqliteThread(path, pragmas, "sqlite-writer")
        self._statements: dict[int, str] = {}

    async def insert(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[int, int, str | None]]:
        """Insert rows of ``_COLUMNS`` values in one transaction; the (id, sender_id, nonce) of
        those inserted, in row order (rows whose (sender_id, nonce) is stored already are skipped)."""
        batch = list(rows)
        try:
            return await self._thread.call(lambda connection: self._insert(connection, batch))
        except sqlite3.Error as exc:
            # The store's callers see database errors as SQLAlchemy's, whichever path failed.
            raise DBAPIError.instance("INSERT INTO messages", None, exc, sqlite3.Error) from exc

    def close(self) -> None:
        self._thread.close()

    def _statement(self, count: int) -> str:
        statement = self._statements.get(count)
        if statement is None:
            row = "(" + ", ".join("?" * len(_COLUMNS)) + ")"
            statement = (
                f"INSERT INTO messages ({', '.join(_COLUMNS)}) VALUES {', '.join([row] * count)} "
                "ON CONFLICT (sender_id, nonce) DO NOTHING"
            )
            if len(self._statements) < 64:
                self._statements[count] = statement
        return statement

    @staticmethod
    def _inserted(
        connection: sqlite3.Connection, page: list[tuple[Any, ...]], count: int, last: int | None
    ) -> list[tuple[int, int, str | None]]:
        """(id, sender_id, nonce) of the rows one INSERT of ``page`` stored.

        Not with RETURNING: that steps the statement once per row, and Python's
        sqlite3 releases and retakes the GIL around every step, each time
        waiting for the event loop to let go of it. One multi-row INSERT gives
        its rows consecutive ids in VALUES order (one writer, inside our
        transaction), so when none was skipped the ids follow from the last
        one. Only when some repeated a stored (sender, nonce) are the stored
        ones read back: a skipped row may have used up an id (AUTOINCREMENT),
        but the ``count`` highest ids up to ``last`` are this statement's rows.
        """
        if count <= 0 or last is None:
            return []
        if count == len(page):
            first = last - count + 1
            return [(first + i, row[_SENDER], row[_NONCE]) for i, row in enumerate(page)]
        found = connection.execute(
            "SELECT id, sender_id, nonce FROM messages WHERE id <= ? ORDER BY id DESC LIMIT ?", (last, count)
        ).fetchall()
        return [(int(r[0]), int(r[1]), r[2]) for r in reversed(found)]

    def _insert(
        self, connection: sqlite3.Connection, rows: list[tuple[Any, ...]]
    ) -> list[tuple[int, int, str | None]]:
        returned: list[tuple[int, int, str | None]] = []
        with transaction(connection):
            # Pages keep each statement well under SQLite's limit of bound variables.
            for start in range(0, len(rows), _PAGE):
                page = rows[start : start + _PAGE]
                parameters = [value for row in page for value in row]
                cursor = connection.execute(self._statement(len(page)), parameters)
                returned.extend(self._inserted(connection, page, cursor.rowcount, cursor.lastrowid))
        self._thread.wrote()
        return returned


def batch_row(draft: MessageDraft, dm_key: str | None) -> tuple[Any, ...]:
    return (
        draft.room_id,
        draft.sender_id,
        draft.recipient_id,
        dm_key,
        draft.text,
        draft.nonce,
        utc_timestamp_text(draft.created_at),
    )
