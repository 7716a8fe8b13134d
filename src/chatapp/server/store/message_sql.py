"""The SQL of messages through SQLAlchemy: the batch INSERT, nonce look-ups, read-backs, history pages.

Backend-neutral: the statements run on SQLite and PostgreSQL alike; a backend
with a faster INSERT (an SQLite file, asyncpg) still returns what
:func:`ids_in_row_order` makes of its rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Connection, Table, and_, literal_column, or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .errors import StoreError
from .models import Base, Message, dm_key
from .records import MessageDraft, StoredMessage
from .rows import MESSAGE_SELECT, stored_message

MESSAGES = Base.metadata.tables["messages"]
COLUMNS = (
    "room_id", "sender_id", "recipient_id", "dm_key", "text", "nonce", "created_at", "encrypted", "action",
    "file_id", "file",
)
"""The columns a new message fills, in the order :func:`message_values` gives them."""

_SENDERS_PER_QUERY = 100

# Both dialects' INSERT can skip rows that break a unique constraint (ON CONFLICT DO NOTHING).
_INSERTS: dict[str, Callable[[Table], Any]] = {"sqlite": sqlite_insert, "postgresql": pg_insert}


def draft_dm_key(draft: MessageDraft) -> str | None:
    return None if draft.recipient_id is None else dm_key(draft.sender_id, draft.recipient_id)


def message_values(draft: MessageDraft) -> dict[str, Any]:
    """The values of the row a draft becomes, by column name."""
    return {
        "room_id": draft.room_id,
        "sender_id": draft.sender_id,
        "recipient_id": draft.recipient_id,
        "dm_key": draft_dm_key(draft),
        "text": draft.text,
        "nonce": draft.nonce,
        "created_at": draft.created_at,
        "encrypted": draft.encrypted,
        "action": draft.action,
        "file_id": draft.file_id,
        "file": draft.file,
    }


PREV = "current_setting('chatapp.prev')::bigint"
"""On PostgreSQL, the highest message id committed before this transaction's first INSERT into
messages, which the trigger of revision 0011 notes under the turn's lock: the batch's ``prev``."""


async def insert_returning(
    connection: AsyncConnection, rows: Sequence[MessageDraft]
) -> tuple[list[int | None], int]:
    """Insert ``rows`` with multi-row INSERTs; per row its new id, or None where the database
    skipped it because its (sender, nonce) is stored already; and the batch's ``prev`` (:data:`PREV`;
    0 on SQLite or when every row was skipped)."""
    dialect = connection.dialect.name
    if dialect not in _INSERTS:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise StoreError(f"unsupported database {dialect!r}")
    statement = _INSERTS[dialect](MESSAGES).on_conflict_do_nothing(index_elements=["sender_id", "nonce"])
    # A list of parameter sets with RETURNING: SQLAlchemy's "insertmanyvalues"
    # renders one INSERT ... VALUES (...), (...) ... RETURNING per page of rows.
    on_postgres = dialect == "postgresql"
    prev_column = literal_column(PREV if on_postgres else "0", BigInteger).label("prev")
    result = await connection.execute(
        statement.returning(MESSAGES.c.id, MESSAGES.c.sender_id, MESSAGES.c.nonce, prev_column),
        [message_values(row) for row in rows],
    )
    returned = result.all()
    prev = int(returned[0].prev) if returned else 0
    return ids_in_row_order(rows, [(row.id, row.sender_id, row.nonce) for row in returned]), prev


def ids_in_row_order(
    rows: Sequence[MessageDraft], result: list[tuple[int, int, str | None]]
) -> list[int | None]:
    """Match the (id, sender, nonce) an INSERT returned to its rows: per row its id, or None if skipped.

    RETURNING gives rows in no promised order, but one INSERT ... VALUES
    assigns ids in the order of its rows, so the sorted ids belong to the
    inserted rows in order (checked against the returned sender and nonce).
    """
    returned = sorted(result)
    inserted_keys = {(sender, nonce) for _, sender, nonce in returned if nonce is not None}
    inserted = [row.nonce is None or (row.sender_id, row.nonce) in inserted_keys for row in rows]
    expected = [(row.sender_id, row.nonce) for row, kept in zip(rows, inserted, strict=True) if kept]
    if [(sender, nonce) for _, sender, nonce in returned] != expected:
        raise RuntimeError("the database did not assign message ids in the order of the rows")
    ids = iter(message_id for message_id, _, _ in returned)
    return [next(ids) if kept else None for kept in inserted]


def stored_by_nonce(
    connection: Connection, drafts: Sequence[MessageDraft]
) -> dict[tuple[int, str], StoredMessage]:
    """The stored messages matching the (sender, nonce) of any draft.

    One ``sender_id = ? AND nonce IN (...)`` term per sender, OR-ed, so that
    SQLite looks each pair up in the unique index (a row-value IN would scan
    the table); at most _SENDERS_PER_QUERY terms per query, to stay well within
    SQLite's expression depth limit.
    """
    nonces_by_sender: dict[int, set[str]] = {}
    for draft in drafts:
        if draft.nonce is not None:
            nonces_by_sender.setdefault(draft.sender_id, set()).add(draft.nonce)
    senders = sorted(nonces_by_sender)
    found: dict[tuple[int, str], StoredMessage] = {}
    for start in range(0, len(senders), _SENDERS_PER_QUERY):
        terms = [
            and_(Message.sender_id == sender, Message.nonce.in_(sorted(nonces_by_sender[sender])))
            for sender in senders[start : start + _SENDERS_PER_QUERY]
        ]
        for row in connection.execute(MESSAGE_SELECT.where(or_(*terms))):
            found[(row.sender_id, row.nonce)] = stored_message(row)
    return found


def read_back(connection: Connection, ids: list[int]) -> dict[int, StoredMessage]:
    """The stored messages with these ids, with their names, in one query."""
    wanted = set(ids)
    rows = connection.execute(
        MESSAGE_SELECT.where(Message.id >= min(ids), Message.id <= max(ids)).order_by(Message.id)
    )
    return {row.id: stored_message(row) for row in rows if row.id in wanted}


def check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def page(
    connection: Connection,
    where: ColumnElement[bool],
    before: int | None,
    after: int | None,
    limit: int,
) -> tuple[list[StoredMessage], bool]:
    """A page of history (see :meth:`Store.room_history`) and whether there are more."""
    query = MESSAGE_SELECT.where(where)
    if after is not None:
        query = query.where(Message.id > after)
    if before is not None:
        query = query.where(Message.id < before)
    if after is not None:
        # Forwards from `after`: the oldest first.
        rows = connection.execute(query.order_by(Message.id).limit(limit + 1)).all()
        return [stored_message(row) for row in rows[:limit]], len(rows) > limit
    # Backwards from `before` (or from the newest): the newest first, then reversed.
    rows = connection.execute(query.order_by(Message.id.desc()).limit(limit + 1)).all()
    return [stored_message(row) for row in reversed(rows[:limit])], len(rows) > limit
