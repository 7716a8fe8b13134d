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
from typing import Any

from sqlalchemy.exc import DBAPIError

from .message_sql import draft_dm_key, ids_in_row_order
from .records import MessageDraft
from .sqlite_thread import SqliteThread, transaction
from .sqlite_values import utc_timestamp_text

_COLUMNS = (
    "room_id", "sender_id", "recipient_id", "dm_key", "text", "nonce", "created_at", "encrypted", "action",
    "file_id", "file",
)
_PAGE = 500


def _values(draft: MessageDraft) -> tuple[Any, ...]:
    """The row of ``draft``, in the order of ``_COLUMNS``, as SQLAlchemy's SQLite dialect binds it."""
    return (
        draft.room_id,
        draft.sender_id,
        draft.recipient_id,
        draft_dm_key(draft),
        draft.text,
        draft.nonce,
        utc_timestamp_text(draft.created_at),
        1 if draft.encrypted else 0,  # SQLAlchemy's Boolean on SQLite
        1 if draft.action else 0,
        draft.file_id,
        draft.file,
    )


class SqliteBatchInserter:
    def __init__(self, path: Path, pragmas: Sequence[str]) -> None:
        self._thread = SqliteThread(path, pragmas, "sqlite-writer")
        self._statements: dict[int, str] = {}

    async def insert(self, drafts: Sequence[MessageDraft]) -> list[int | None]:
        """Insert ``drafts`` in one transaction; per draft its new id, or None where it was skipped
        because its (sender_id, nonce) is stored already."""
        batch = list(drafts)
        rows = [_values(draft) for draft in batch]
        try:
            return await self._thread.call(lambda connection: self._insert(connection, batch, rows))
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
        connection: sqlite3.Connection, drafts: list[MessageDraft], count: int, last: int | None
    ) -> list[int | None]:
        """Per draft of one INSERT, the id it got (None: skipped).

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
            return [None] * len(drafts)
        if count == len(drafts):
            return list(range(last - count + 1, last + 1))
        found = connection.execute(
            "SELECT id, sender_id, nonce FROM messages WHERE id <= ? ORDER BY id DESC LIMIT ?", (last, count)
        ).fetchall()
        return ids_in_row_order(
            drafts, [(int(message_id), int(sender), nonce) for message_id, sender, nonce in found]
        )

    def _insert(
        self, connection: sqlite3.Connection, drafts: list[MessageDraft], rows: list[tuple[Any, ...]]
    ) -> list[int | None]:
        ids: list[int | None] = []
        with transaction(connection):
            # Pages keep each statement well under SQLite's limit of bound variables.
            for start in range(0, len(rows), _PAGE):
                page = rows[start : start + _PAGE]
                parameters = [value for row in page for value in row]
                cursor = connection.execute(self._statement(len(page)), parameters)
                ids.extend(
                    self._inserted(
                        connection, drafts[start : start + _PAGE], cursor.rowcount, cursor.lastrowid
                    )
                )
        self._thread.wrote()
        return ids
