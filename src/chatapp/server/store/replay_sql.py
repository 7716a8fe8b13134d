"""The replay's statements: which messages concern a user, where a replay starts, its pages.

Built once: making these statements anew for every page cost more than
running them. They are SQLAlchemy Core, the same on every database; an SQLite
file's backend runs them compiled once as plain SQL, a page packed into one
value (:class:`SqliteStatement`, :func:`packed`, :func:`unpack_page`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Connection, Select, String, bindparam, func, select, true, union
from sqlalchemy import cast as cast_
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.orm import aliased

from .models import Membership, Message
from .records import StoredMessage
from .rows import MESSAGE_SELECT

NO_END = 2**62
"""``:until`` when a page has no upper bound."""


def _concerning(*, newest_first: bool, lateral: bool) -> Any:
    """The ids of messages in (``:after``, ``:until``] that concern the user ``:user``, as a
    subquery with an ``id`` column: for each of their rooms and for direct messages to and from
    them, the ``:scan`` first (or newest) read through that source's index, so a long absence
    costs at most ``:scan`` rows per source. A direct message to oneself is found twice: UNION
    keeps it once.

    For each room, the ids come from a subquery correlated with the membership: a LATERAL
    join where the database has one (PostgreSQL), else (SQLite) ``messages.id IN (...)``,
    which SQLite runs per room but PostgreSQL only as a filter on every message (1.3 s a page
    at 10,000 messages, measured).
    """
    user_id = bindparam("user", type_=BigInteger)
    after_id = bindparam("after", type_=BigInteger)
    until = bindparam("until", type_=BigInteger)
    limit = bindparam("scan", type_=BigInteger)
    membership, recent = aliased(Membership, name="membership"), aliased(Message, name="recent")

    def bounded(column: Any, query: Select[Any]) -> Select[Any]:
        query = query.where(column > after_id, column <= until)
        return query.order_by(column.desc() if newest_first else column).limit(limit)

    # For each of the user's rooms, the first (or last) `limit` ids from its (room_id, id) index.
    of_room = bounded(recent.id, select(recent.id).where(recent.room_id == membership.room_id))
    if lateral:
        per_room = of_room.lateral("of_room")
        in_rooms = (
            select(per_room.c.id)
            .select_from(membership)
            .join(per_room, true())
            .where(membership.user_id == user_id)
        )
    else:
        in_rooms = (
            select(Message.id)
            .select_from(membership)
            .join(Message, Message.id.in_(of_room.correlate(membership)))
            .where(membership.user_id == user_id)
        )
    to_user = bounded(Message.id, select(Message.id).where(Message.recipient_id == user_id)).subquery()
    from_user = bounded(
        Message.id, select(Message.id).where(Message.sender_id == user_id, Message.recipient_id.is_not(None))
    ).subquery()
    return union(in_rooms, select(to_user.c.id), select(from_user.c.id)).subquery("concerning")


@dataclass(frozen=True, slots=True)
class ReplayStatements:
    start: Any
    """The newest message a replay keeping ``:keep`` messages leaves out (none: no row)."""
    page: Any
    """The next ``:scan`` messages of the user after ``:after``, up to ``:until``, in id order."""


def _replay_statements(*, lateral: bool) -> ReplayStatements:
    newest = _concerning(newest_first=True, lateral=lateral)
    start = (
        select(newest.c.id).order_by(newest.c.id.desc()).limit(1).offset(bindparam("keep", type_=BigInteger))
    )
    page = (
        MESSAGE_SELECT.where(Message.id.in_(select(_concerning(newest_first=False, lateral=lateral).c.id)))
        .order_by(Message.id)
        .limit(bindparam("scan", type_=BigInteger))
    )
    return ReplayStatements(start, page)


PORTABLE = _replay_statements(lateral=False)
"""For SQLite, which has no LATERAL."""
LATERAL = _replay_statements(lateral=True)
"""For PostgreSQL."""


def replay_statements(dialect: str) -> ReplayStatements:
    """The statements for a database (by SQLAlchemy's dialect name)."""
    return LATERAL if dialect == "postgresql" else PORTABLE


# A replay page on SQLite is read as one value, not one row per message. A reader thread lets go
# of the GIL around every row SQLite steps to and must take it back from the event loop each time
# (up to the 5 ms switch interval when the loop is busy): at 250 rows a page, that made replays
# crawl and stalled the loop. One row per page is one hand-over. Fields are separated by control
# characters that names cannot hold; text and nonce, which can hold anything, travel as hex.
_FIELD, _RECORD = "\x1f", "\x1e"


def packed(query: Any) -> Any:
    """SQLite: the rows of ``query`` (labelled as the replay page's) as one text value."""
    page = query.subquery("page")
    c = page.c
    fields = [
        cast_(c.id, String),
        func.coalesce(c.room, ""),
        c.sender,
        func.coalesce(c.recipient, ""),
        func.hex(c.text),
        func.hex(c.nonce),
        cast_(c.created_at, String),
        func.coalesce(c.removed_by, ""),
        cast_(c.encrypted, String),
        cast_(c.action, String),
        func.hex(c.file),
    ]
    record = fields[0]
    for field in fields[1:]:
        record = record.concat(_FIELD).concat(field)
    return select(func.group_concat(record, _RECORD))


def unpack_page(packed_page: str | None) -> list[StoredMessage]:
    """The messages of a page :func:`packed` made, in id order."""
    if not packed_page:
        return []
    messages = []
    for record in packed_page.split(_RECORD):
        fields = record.split(_FIELD)
        (message_id, room, sender, recipient, text, nonce, created_at, removed_by, encrypted, action,
         file) = fields
        messages.append(
            StoredMessage(
                id=int(message_id),
                room=room or None,
                sender=sender,
                recipient=recipient or None,
                text=bytes.fromhex(text).decode(),
                nonce=bytes.fromhex(nonce).decode() if nonce else None,
                created_at=datetime.fromisoformat(created_at).replace(tzinfo=UTC),
                removed_by=removed_by or None,
                encrypted=encrypted == "1",
                action=action == "1",
                file=bytes.fromhex(file).decode() if file else None,
            )
        )
    # group_concat keeps the order of the subquery it reads in practice, but no document says so.
    if any(a.id >= b.id for a, b in zip(messages, messages[1:], strict=False)):
        messages.sort(key=lambda message: message.id)
    return messages


class SqliteStatement:
    """A Core statement compiled once for SQLite and run as plain SQL.

    A replay runs these several times per sign-in; SQLAlchemy's statement cache still
    walks a statement this size to make its cache key on every execution, which cost
    more than running it.
    """

    def __init__(self, statement: Any) -> None:
        self.compiled = statement.compile(dialect=sqlite_dialect.dialect())
        self.sql = str(self.compiled)
        self.names = tuple(self.compiled.positiontup or ())

    def scalar(self, connection: Connection, values: dict[str, Any]) -> Any:
        """The first column of the first row, for these values of the named parameters."""
        raw = connection.connection.driver_connection
        assert raw is not None
        given = self.compiled.construct_params(values)  # with the statement's own (LIMIT 1, ...)
        row = raw.execute(self.sql, [given[name] for name in self.names]).fetchone()
        return None if row is None else row[0]
