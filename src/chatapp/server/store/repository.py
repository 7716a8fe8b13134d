"""The store: every read and write of the database goes through :class:`Store`.

Methods take and return plain frozen records, never ORM objects, so that the
rest of the server does not depend on SQLAlchemy and another backend can offer
the same interface. Every datetime in and out is timezone-aware UTC; a naive
datetime is refused (``ValueError`` wrapped in SQLAlchemy's ``StatementError``).

Each method is one unit of work in its own transaction, so concurrent tasks
may share a :class:`Store` freely. What signing in and out reads and writes
(users, sessions, seen cursors) is atomic per call too, but concurrent calls
share transactions (group commit, see :mod:`.session_ops`), on SQLite in one
trip to a thread of the store's own (:mod:`.sqlite_sessions`). Heavy reads
(history pages, replays) run on readers of their own (:mod:`.readers`), and
every write takes the write turn (:mod:`.write_turn`) only once it has its
connection: no read, and no wait for a connection, ever holds up the message
writer. SQLAlchemy errors other than those translated below propagate unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import msgspec
from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    make_url,
    or_,
    select,
    union,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from sqlalchemy.sql.selectable import ScalarSelect

from chatapp.protocol.limits import DEFAULT_ROOM
from chatapp.protocol.rules import username_key

from .engine import (
    DEFAULT_BUSY_TIMEOUT_MS,
    DEFAULT_SYNCHRONOUS,
    create_engine,
    create_reader_engine,
    create_sessionmaker,
    for_writing,
    is_sqlite,
    sqlite_file,
    sqlite_pragmas,
)
from .migrate import SchemaState, schema_state, upgrade
from .models import Base, Membership, Message, Room, User, UserSession, dm_key, require_aware
from .readers import READER_THREADS, PoolReaders, Readers, ThreadReaders
from .session_ops import (
    CreateSession,
    CreateUser,
    EndOpenSessions,
    EndSession,
    FindSession,
    FindUser,
    ReopenSession,
    SessionBatcher,
    SessionOp,
    SetSeen,
)
from .sqlite_batch import SqliteBatchInserter, batch_row
from .sqlite_sessions import SqliteSessions
from .write_turn import WriteTurn

NONCE_MAX = 64
"""The width of ``messages.nonce``."""

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    """As typed at registration; lookups ignore case."""
    password_hash: str
    role: str
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    user_id: int
    peer: str
    """The client address ("ip:port") of the connection that last used the session."""
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    """None while a connection holds the session."""
    end_reason: str | None


@dataclass(frozen=True, slots=True)
class OpenedDatabase:
    """What :meth:`Store.open` found and did, for the start-up log."""

    url: str
    """The database URL with its password masked."""
    revision: str
    """The schema revision now."""
    migrated_from: str | None
    """The revision before the migrations run at open ("none" for a new database); None if none ran."""


@dataclass(frozen=True, slots=True)
class RoomRecord:
    id: int
    name: str
    topic: str
    owner_id: int | None
    """The creator; None for 'general' and once the owner's account is gone."""
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RoomSummary:
    name: str
    topic: str
    members: int
    """How many users are members (online or not)."""


# The two message records are msgspec Structs, not dataclasses: one of each is made per relayed
# message, and a frozen Struct is built about ten times faster than a frozen dataclass.
class StoredMessage(msgspec.Struct, frozen=True):
    id: int
    room: str | None
    """The room's name; None for a direct message."""
    sender: str
    """Usernames as registered."""
    recipient: str | None
    """Set for a direct message only."""
    text: str
    nonce: str | None
    created_at: datetime
    duplicate: bool = False
    """True when this is the message already stored for a resent (sender, nonce): it was not stored again."""


class MessageDraft(msgspec.Struct, frozen=True):
    """A message to store: exactly one of ``room_id`` and ``recipient_id`` (a direct message).

    Checked when made (``ValueError``), so that one bad draft cannot fail the
    batch it would have been committed with.
    """

    sender_id: int
    text: str
    created_at: datetime
    room_id: int | None = None
    recipient_id: int | None = None
    nonce: str | None = None
    sender_name: str | None = None
    room_name: str | None = None
    recipient_name: str | None = None
    """The names, when the caller knows them: then the stored message is built
    without reading it back (the hot path of every send)."""

    def __post_init__(self) -> None:
        if (self.room_id is None) == (self.recipient_id is None):
            raise ValueError("a message draft needs exactly one of room_id and recipient_id")
        require_aware(self.created_at)
        if self.nonce is not None and len(self.nonce) > NONCE_MAX:
            raise ValueError(f"a nonce is at most {NONCE_MAX} characters")


class StoreError(Exception):
    """Base of the errors the store raises itself."""


class UsernameTaken(StoreError):
    def __init__(self, username: str) -> None:
        super().__init__(f"the username {username!r} is taken")
        self.username = username


class SchemaOutOfDate(StoreError):
    """The database schema does not match this version of chatapp, and we may not migrate it."""

    def __init__(self, message: str, state: SchemaState) -> None:
        super().__init__(message)
        self.state = state


@dataclass(frozen=True, slots=True)
class SignInRecord:
    """What a login stores and reads in one go: the new session, the user's rooms and seen cursor."""

    session: SessionRecord
    rooms: list[RoomRecord]
    seen_message_id: int


class Store:
    def __init__(
        self,
        engine: AsyncEngine,
        batch_inserter: SqliteBatchInserter | None = None,
        session_fast_path: SqliteSessions | None = None,
        readers: Readers | None = None,
    ) -> None:
        """Use :meth:`open`; this does not check the schema.

        Without ``session_fast_path`` session work goes through SQLAlchemy (as
        on PostgreSQL), still grouped into batches. Without ``readers`` heavy
        reads use a few of the engine's pooled connections at most.
        """
        self._engine = engine
        self._batch_inserter = batch_inserter
        self._session_fast_path = session_fast_path
        self._readers = readers if readers is not None else PoolReaders(engine)
        # The replay's SQL runs as plain SQL on the readers' own sqlite3 connections (see
        # _SqliteStatement); through the pool (aiosqlite, other databases) it goes through SQLAlchemy.
        self._plain_sqlite_reads = isinstance(self._readers, ThreadReaders)
        self.opened: OpenedDatabase | None = None
        # Signing in and out: many connections' session work per transaction (see session_ops).
        self._session_ops = SessionBatcher(self._run_session_ops)
        # Reads begin a plain (deferred) transaction: one snapshot, no lock.
        self._sessions: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)
        # Units of work that write take SQLite's write lock at BEGIN (see
        # engine.for_writing): they queue for it instead of failing when they
        # read before writing and another connection commits in between.
        self._write_engine = for_writing(engine)
        self._writes: async_sessionmaker[AsyncSession] = create_sessionmaker(self._write_engine)
        # SQLite has one writer at a time. Taking turns here, in the event loop,
        # is cheaper than pooled connections competing for its lock through
        # busy-timeout sleeps (which also ended in "database is locked" under load).
        self._write_turn: WriteTurn | None = WriteTurn() if engine.dialect.name == "sqlite" else None
        self._dialect = engine.dialect.name
        self._last_id: int | None = None
        self._last_id_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        migrate: bool = True,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        synchronous: str = DEFAULT_SYNCHRONOUS,
    ) -> Store:
        """Connect to ``url`` and make sure its schema is the one this code expects.

        With ``migrate`` the schema is upgraded to the latest revision (creating
        it in a new database); without, :class:`SchemaOutOfDate` is raised
        unless it is already there. ``busy_timeout_ms``: how long an SQLite
        write waits for another connection's write lock before it fails.
        """
        engine = create_engine(url, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous)
        try:
            state = await schema_state(engine)
            if state.unknown:
                raise SchemaOutOfDate(_newer_schema_message(url, state), state)
            migrated_from = None
            if migrate:
                if not state.up_to_date:
                    migrated_from = _describe(state.current)
                await upgrade(engine)
            elif not state.up_to_date:
                raise SchemaOutOfDate(_out_of_date_message(url, state), state)
        except BaseException:
            await engine.dispose()
            raise
        path = sqlite_file(url) if is_sqlite(url) else None
        if path is None:
            store = cls(engine)
        else:
            pragmas = sqlite_pragmas(busy_timeout_ms, synchronous)
            reader_engine = create_reader_engine(
                path, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous, readers=READER_THREADS
            )
            readers = ThreadReaders(reader_engine, READER_THREADS)
            store = cls(engine, SqliteBatchInserter(path, pragmas), SqliteSessions(path, pragmas), readers)
        store.opened = OpenedDatabase(_display_url(url), _describe(state.heads), migrated_from)
        return store

    async def close(self) -> None:
        # Session work already submitted (a shutdown's sign-outs) is written first.
        await self._session_ops.close()
        if self._session_fast_path is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._session_fast_path.close)
            self._session_fast_path = None
        if self._batch_inserter is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._batch_inserter.close)
            self._batch_inserter = None
        await self._readers.close()
        await self._engine.dispose()

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that writes: one at a time on SQLite, begun with ``BEGIN IMMEDIATE``.

        The pooled connection is taken first, then the write turn: a writer
        waiting for a connection (held by readers, say) holds up nobody.
        """
        if self._write_turn is None:
            async with self._writes.begin() as session:
                yield session
            return
        async with self._write_engine.connect() as connection, self._write_turn.hold():
            async with AsyncSession(bind=connection, expire_on_commit=False) as session, session.begin():
                yield session

    # -- users ---------------------------------------------------------------

    async def create_user(self, username: str, password_hash: str, now: datetime) -> UserRecord:
        """Register ``username``; :class:`UsernameTaken` if it exists in any letter case.

        The unique index decides, not a prior lookup, so of two concurrent
        registrations of one name exactly one succeeds. The new user is a
        member of the room 'general' (created if missing) in the same transaction.
        """
        op = CreateUser(username, username_key(username), password_hash, _aware(now))
        try:
            return cast(UserRecord, await self._session_op(op))
        except IntegrityError as exc:
            # SQLite names the column (users.username_key), PostgreSQL the
            # constraint (uq_users_username_key): both contain this.
            if "username_key" in str(exc.orig):
                raise UsernameTaken(username) from exc
            raise

    async def find_user(self, username: str) -> UserRecord | None:
        return cast(UserRecord | None, await self._session_op(FindUser(username_key(username))))

    async def find_user_by_id(self, user_id: int) -> UserRecord | None:
        async with self._sessions.begin() as session:
            user = await session.get(User, user_id)
            return None if user is None else _user_record(user)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace the hash, e.g. when argon2 parameters changed and it was rehashed at login."""
        async with self._writing() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(password_hash=password_hash),
                execution_options=_NO_SYNC,
            )

    # -- sessions ------------------------------------------------------------

    async def create_session(
        self, user_id: int, token_hash: str, peer: str, now: datetime, expires_at: datetime
    ) -> SessionRecord:
        """Record a sign-in (and the user's last login) atomically."""
        return (await self.sign_in(user_id, token_hash, peer, now, expires_at)).session

    async def sign_in(
        self, user_id: int, token_hash: str, peer: str, now: datetime, expires_at: datetime
    ) -> SignInRecord:
        """:meth:`create_session`, and the user's rooms and seen cursor, in one transaction."""
        op = CreateSession(user_id, token_hash, peer, _aware(now), _aware(expires_at))
        return cast(SignInRecord, await self._session_op(op))

    async def find_session(self, token_hash: str) -> tuple[SessionRecord, UserRecord] | None:
        """The session with this token and its user, ended and expired ones included."""
        found = await self._session_op(FindSession(token_hash))
        return cast(tuple[SessionRecord, UserRecord] | None, found)

    async def reopen_session(self, session_id: int, peer: str, now: datetime) -> bool:
        """Resume a session from a new connection; counts as a login of its user.

        False, and nothing changed, if its token is no longer valid (``expires_at`` passed: revoked
        or expired), however recently it was checked.
        """
        return await self._session_op(ReopenSession(session_id, peer, _aware(now), with_rooms=False)) is True

    async def reopen_session_with_rooms(
        self, session_id: int, peer: str, now: datetime
    ) -> list[RoomRecord] | None:
        """:meth:`reopen_session` and :meth:`user_rooms` in one transaction: what a resume needs.
        None if the token is no longer valid."""
        rooms = await self._session_op(ReopenSession(session_id, peer, _aware(now), with_rooms=True))
        return cast(list[RoomRecord] | None, rooms)

    async def end_session(
        self, session_id: int, reason: str, now: datetime, *, revoke: bool = False, seen_message_id: int = 0
    ) -> None:
        """Mark a session ended; with ``revoke`` (logout, replaced) its token can no longer resume it.

        With ``seen_message_id``, also what :meth:`set_seen_message_id` records for the
        session's user, in the same transaction: what a disconnect stores.
        """
        await self._session_op(EndSession(session_id, reason, _aware(now), revoke, seen_message_id))

    async def end_open_sessions(self, reason: str, now: datetime) -> int:
        """End every session still marked open; return how many.

        At start this closes what a crash left open; at shutdown, what is still
        connected (after every session end already submitted). ``last_seen_at``
        is left alone: after a crash it is the last sign of life we really saw.
        """
        return cast(int, await self._session_op(EndOpenSessions(reason, _aware(now))))

    async def _session_op(self, op: SessionOp) -> object:
        # A write is done even if this caller is cancelled (the batcher runs cancelled writes): a
        # connection cancelled at shutdown still has its session ended and its seen cursor saved.
        return await self._session_ops.submit(op)

    async def _run_session_ops(self, ops: Sequence[SessionOp]) -> list[object]:
        """Run a batch of session ops in one transaction (see :mod:`.session_ops`)."""
        writes = any(op.writes for op in ops)
        fast = self._session_fast_path
        if fast is None:
            return await self._run_session_ops_orm(ops, writes)
        if writes:
            assert self._write_turn is not None
            async with self._write_turn.hold():
                raw = await fast.run(ops)
        else:
            raw = await fast.run(ops)
        return [_from_raw(op, result) for op, result in zip(ops, raw, strict=True)]

    async def _run_session_ops_orm(self, ops: Sequence[SessionOp], writes: bool) -> list[object]:
        """The same through SQLAlchemy: the path for databases other than SQLite.

        As on the fast path, ops run without savepoints first; only if one fails is the batch
        run again with a savepoint per op, so that the failing ones alone fail.
        """
        if len(ops) > 1:
            applied = False
            try:
                async with self._session_transaction(writes) as session:
                    results = [await _apply_session_op(session, op) for op in ops]
                    applied = True
                return results
            except SQLAlchemyError:
                if applied:
                    raise  # the transaction itself failed (COMMIT): every op of the batch fails
        async with self._session_transaction(writes) as session:
            if len(ops) == 1:
                # Alone in its transaction, an op that fails fails the batch: no savepoint needed.
                return [await _apply_session_op(session, ops[0])]
            results = []
            for op in ops:
                try:
                    async with session.begin_nested():
                        results.append(await _apply_session_op(session, op))
                except SQLAlchemyError as exc:
                    results.append(exc)  # rolled back to its savepoint; the others go on
            return results

    def _session_transaction(self, writes: bool) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        return self._writing() if writes else self._sessions.begin()

    async def last_seen(self, user_id: int) -> datetime | None:
        """When the user was last seen: the latest ``ended_at`` or ``last_seen_at`` of their sessions.

        None if they never signed in. Whether they are online now is the hub's business.
        """
        async with self._sessions.begin() as session:
            ended, seen = (
                await session.execute(
                    select(func.max(UserSession.ended_at), func.max(UserSession.last_seen_at)).where(
                        UserSession.user_id == user_id
                    )
                )
            ).one()
            known = [value for value in (ended, seen) if value is not None]
            return max(known) if known else None

    # Session control by their user (list, end one): rare, so plain ORM work outside the batcher.

    async def live_sessions(self, user_id: int, now: datetime, limit: int) -> list[SessionRecord]:
        """The user's sessions that can still be used: open, or ended but resumable (not revoked,
        not expired); the most recently used first, at most ``limit``."""
        async with self._sessions.begin() as session:
            rows = await session.scalars(
                select(UserSession)
                .where(
                    UserSession.user_id == user_id,
                    or_(UserSession.ended_at.is_(None), UserSession.expires_at > _aware(now)),
                )
                .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
                .limit(limit)
            )
            return [_session_record(row) for row in rows]

    async def revoke_user_session(self, user_id: int, session_id: int, reason: str, now: datetime) -> bool:
        """End one of the user's live sessions and revoke its token; False (and nothing changed)
        when it is not one: unknown, another user's, or already over."""
        now = _aware(now)
        async with self._writing() as session:
            result = await session.execute(
                update(UserSession)
                .where(
                    UserSession.id == session_id,
                    UserSession.user_id == user_id,
                    or_(UserSession.ended_at.is_(None), UserSession.expires_at > now),
                )
                .values(ended_at=now, end_reason=reason, last_seen_at=now, expires_at=now),
                execution_options=_NO_SYNC,
            )
            return cast(CursorResult[Any], result).rowcount == 1

    # -- rooms ---------------------------------------------------------------

    async def get_room(self, name: str) -> RoomRecord | None:
        """The room called ``name`` (exactly: names are lowercase, the caller checks them)."""
        async with self._sessions.begin() as session:
            room = await session.scalar(select(Room).where(Room.name == name))
            return None if room is None else _room_record(room)

    async def join_room(self, user_id: int, name: str, now: datetime) -> tuple[RoomRecord, bool, bool]:
        """Make the user a member of ``name``, creating the room (owned by them) if it does not exist.

        Returns ``(room, created, newly_joined)``. Of concurrent joins that find
        the room missing, exactly one creates it and all end up members.
        """
        async with self._writing() as session:
            room, created = await _get_or_create_room(session, name, user_id, now)
            newly_joined = await _add_membership(session, user_id, room.id, now)
            return _room_record(room), created, newly_joined

    async def leave_room(self, user_id: int, room_id: int) -> bool:
        """End a membership; False if the user was not a member. The room stays, even if empty."""
        async with self._writing() as session:
            result = await session.execute(
                delete(Membership).where(Membership.user_id == user_id, Membership.room_id == room_id),
                execution_options=_NO_SYNC,
            )
            return cast(CursorResult[Any], result).rowcount > 0

    async def set_topic(self, room_id: int, topic: str) -> None:
        async with self._writing() as session:
            await session.execute(
                update(Room).where(Room.id == room_id).values(topic=topic), execution_options=_NO_SYNC
            )

    async def user_rooms(self, user_id: int) -> list[RoomRecord]:
        """The rooms the user is a member of, by name."""
        async with self._sessions.begin() as session:
            return await _rooms_of(session, user_id)

    async def count_user_rooms(self, user_id: int) -> int:
        async with self._sessions.begin() as session:
            count = await session.scalar(
                select(func.count()).select_from(Membership).where(Membership.user_id == user_id)
            )
            return int(count or 0)

    async def is_member(self, user_id: int, room_id: int) -> bool:
        async with self._sessions.begin() as session:
            return await session.get(Membership, (user_id, room_id)) is not None

    async def list_rooms(self, limit: int = 500) -> list[RoomSummary]:
        """Rooms by name with their member counts, the first ``limit``; rooms without members included."""
        members = (
            select(func.count())
            .select_from(Membership)
            .where(Membership.room_id == Room.id)
            .correlate(Room)
            .scalar_subquery()
        )
        async with self._sessions.begin() as session:
            rows = await session.execute(
                select(Room.name, Room.topic, members).order_by(Room.name).limit(limit)
            )
            return [RoomSummary(name=name, topic=topic, members=int(count)) for name, topic, count in rows]

    async def rooms_in_common(self, user_a: int, user_b: int) -> list[str]:
        """Names of the rooms both users are members of, in order."""
        first, second = aliased(Membership), aliased(Membership)
        async with self._sessions.begin() as session:
            names = await session.scalars(
                select(Room.name)
                .join(first, first.room_id == Room.id)
                .join(second, second.room_id == Room.id)
                .where(first.user_id == user_a, second.user_id == user_b)
                .order_by(Room.name)
            )
            return list(names)

    # -- messages ------------------------------------------------------------

    async def insert_messages(self, drafts: Sequence[MessageDraft]) -> list[StoredMessage]:
        """Store a batch of messages in one transaction; the results are in the order of ``drafts``.

        New messages get increasing ids in draft order. A draft whose
        (sender, nonce) is already stored, or comes earlier in the batch, is
        not stored again: its result is the stored message with
        ``duplicate=True``. Everything commits or nothing does.
        """
        if not drafts:
            return []
        # A repeat of an earlier (sender, nonce) of this batch is not sent to the database at all.
        rows: list[MessageDraft] = []
        plan: list[tuple[int, bool]] = []  # per draft: (index into rows, repeats an earlier draft)
        first_in_batch: dict[tuple[int, str], int] = {}
        for draft in drafts:
            key = None if draft.nonce is None else (draft.sender_id, draft.nonce)
            if key is not None and key in first_in_batch:
                plan.append((first_in_batch[key], True))
                continue
            if key is not None:
                first_in_batch[key] = len(rows)
            plan.append((len(rows), False))
            rows.append(draft)
        if self._batch_inserter is not None:
            assert self._write_turn is not None
            batch = [batch_row(row, _dm_key(row)) for row in rows]
            async with self._write_turn.hold():
                returned = await self._batch_inserter.insert(batch)
            if len(returned) == len(drafts) and all(_named(row) for row in rows):
                # The common case, every draft new and named: its result is made from the draft.
                stored = [stored_from_draft(row, r[0]) for row, r in zip(rows, returned, strict=True)]
                self._note_last_id(stored[-1].id)
                return stored
            ids = _ids_in_row_order(rows, returned)
            skipped = [row for row, message_id in zip(rows, ids, strict=True) if message_id is None]
            unnamed = [i for row, i in zip(rows, ids, strict=True) if i is not None and not _named(row)]
            if skipped or unnamed:
                async with self._sessions.begin() as session:
                    earlier = await _stored_by_nonce(session, skipped) if skipped else {}
                    read_back = await _read_back(session, unnamed) if unnamed else {}
            else:
                earlier, read_back = {}, {}
        else:
            async with self._writing() as session:
                ids = await _insert_new(session, rows, self._dialect)
                # Rows the database skipped repeat a (sender, nonce) stored before this batch.
                skipped = [row for row, message_id in zip(rows, ids, strict=True) if message_id is None]
                earlier = await _stored_by_nonce(session, skipped) if skipped else {}
                unnamed = [i for row, i in zip(rows, ids, strict=True) if i is not None and not _named(row)]
                read_back = await _read_back(session, unnamed) if unnamed else {}
        self._note_last_id(max((i for i in ids if i is not None), default=0))
        results_by_row: list[StoredMessage] = []
        for row, message_id in zip(rows, ids, strict=True):
            if message_id is None:
                assert row.nonce is not None
                results_by_row.append(_as_duplicate(earlier[(row.sender_id, row.nonce)]))
            elif _named(row):
                results_by_row.append(stored_from_draft(row, message_id))
            else:
                results_by_row.append(read_back[message_id])
        return [
            _as_duplicate(results_by_row[index]) if repeated else results_by_row[index]
            for index, repeated in plan
        ]

    def _note_last_id(self, newest: int) -> None:
        if self._last_id is not None and newest > self._last_id:
            self._last_id = newest

    async def room_history(
        self, room_id: int, *, before: int | None, after: int | None, limit: int
    ) -> tuple[list[StoredMessage], bool]:
        """A page of a room's messages, in ascending id order, and whether there are more.

        - ``after``: the first ``limit`` with id > after; more = newer ones exist;
        - ``before``: the last ``limit`` with id < before; more = older ones exist;
        - neither: the latest ``limit``; more = older ones exist;
        - both: the first ``limit`` within (after, before); more = newer ones within it.
        """
        _check_limit(limit)
        where = Message.room_id == room_id
        return await self._readers.run(lambda connection: _page(connection, where, before, after, limit))

    async def dm_history(
        self, user_a: int, user_b: int, *, before: int | None, after: int | None, limit: int
    ) -> tuple[list[StoredMessage], bool]:
        """A page of the direct messages between two users, both ways; paging as :meth:`room_history`."""
        _check_limit(limit)
        where = Message.dm_key == dm_key(user_a, user_b)
        return await self._readers.run(lambda connection: _page(connection, where, before, after, limit))

    async def missed_messages(
        self, user_id: int, after_id: int, limit: int, *, until: int | None = None
    ) -> list[StoredMessage]:
        """Up to ``limit`` messages with id > ``after_id`` (and <= ``until``), ascending, that
        concern the user.

        Those of the rooms they are a member of now, and direct messages to or
        from them. Each source is read through its index and cut at ``limit``
        before the merge, so a long absence costs at most ``limit`` rows per
        room, not everything written since; only direct messages *sent* by the
        user are found through the (sender, nonce) index, i.e. among all they sent.
        """
        page, _ = await self.replay_page(user_id, after_id, until, limit, list)
        return page

    async def replay_start(self, user_id: int, after_id: int, until: int, keep: int) -> tuple[int, bool]:
        """Where a replay of the user's messages in (``after_id``, ``until``] starts so that it holds
        at most ``keep`` of them, the newest; and whether older ones were left out.

        One row is read, whatever ``keep`` is: the newest message left out, if any.
        """
        if keep < 0:
            raise ValueError(f"keep must not be negative, not {keep}")
        if until <= after_id:
            return after_id, False
        values = {"user": user_id, "after": after_id, "until": until, "scan": keep + 1, "keep": keep}
        if self._plain_sqlite_reads:
            cut = await self._readers.run(lambda connection: _SQLITE_REPLAY_START.scalar(connection, values))
        else:
            cut = await self._readers.run(
                lambda connection: connection.execute(_REPLAY_START, values).scalar()
            )
        return (after_id, False) if cut is None else (int(cut), True)

    async def replay_page(
        self,
        user_id: int,
        after_id: int,
        until: int | None,
        limit: int,
        render: Callable[[list[StoredMessage]], R],
    ) -> tuple[R, int | None]:
        """The next ``limit`` messages for the user after ``after_id`` (up to ``until``), in id order,
        passed to ``render`` on the reader that read them; its result and the last id read (None
        if there were none).

        ``render`` is how a replay turns its page into frames off the event loop (on SQLite it
        runs in a reader thread): it must not touch anything the event loop does.
        """
        _check_limit(limit)
        end = _NO_END if until is None else until
        values = {"user": user_id, "after": after_id, "until": end, "scan": limit}
        packed = self._plain_sqlite_reads

        def read(connection: Connection) -> tuple[R, int | None]:
            if packed:
                messages = _unpack_page(_SQLITE_REPLAY_PAGE.scalar(connection, values))
            else:
                messages = [_stored_message(row) for row in connection.execute(_REPLAY_PAGE, values)]
            return render(messages), messages[-1].id if messages else None

        return await self._readers.run(read)

    async def set_seen_message_id(self, user_id: int, message_id: int) -> None:
        """Record what was delivered to the user; never lowers the recorded id."""
        await self._session_op(SetSeen(user_id, message_id))

    async def seen_message_id(self, user_id: int) -> int:
        """The id recorded by :meth:`set_seen_message_id`; 0 if none (or no such user)."""
        async with self._sessions.begin() as session:
            seen = await session.scalar(select(User.seen_message_id).where(User.id == user_id))
            return int(seen or 0)

    async def last_message_id(self) -> int:
        """The highest id of a stored message; 0 if there is none.

        Remembered after the first query and raised by every insert, so asking
        costs nothing on a sign-in. (Several server processes on one database
        will need to ask the database, or the broker, instead.)
        """
        if self._last_id is None:
            async with self._last_id_lock:  # the sign-ins right after a start ask it once, not each
                if self._last_id is None:
                    async with self._sessions.begin() as session:
                        last = int(await session.scalar(select(func.max(Message.id))) or 0)
                    self._last_id = max(last, self._last_id or 0)
        return self._last_id

    async def prune_messages(self, older_than: datetime, *, batch_size: int = 2000) -> int:
        """Delete the messages created before ``older_than``; return how many.

        In transactions of at most ``batch_size`` rows, so that a large prune
        lets other writers (the message writer) in between.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        total = 0
        while True:
            async with self._writing() as session:
                batch = select(Message.id).where(Message.created_at < older_than).limit(batch_size)
                result = await session.execute(
                    delete(Message).where(Message.id.in_(batch)), execution_options=_NO_SYNC
                )
                deleted = cast(CursorResult[Any], result).rowcount
            total += deleted
            if deleted < batch_size:
                return total


# Bulk UPDATEs here never have matching objects loaded in their short-lived
# session, so there is nothing for the ORM to synchronise.
_NO_SYNC = {"synchronize_session": False}


def _user_record(user: User) -> UserRecord:
    return UserRecord(
        id=user.id,
        username=user.username,
        password_hash=user.password_hash,
        role=user.role,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def _session_record(row: UserSession) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        user_id=row.user_id,
        peer=row.peer,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
    )


def _room_record(room: Room) -> RoomRecord:
    return RoomRecord(
        id=room.id, name=room.name, topic=room.topic, owner_id=room.owner_id, created_at=room.created_at
    )


async def _get_or_create_room(
    session: AsyncSession, name: str, owner_id: int | None, now: datetime
) -> tuple[Room, bool]:
    """The room ``name`` and whether this call created it.

    On SQLite the write transaction (BEGIN IMMEDIATE) already serialises
    creators; the savepoint makes the same true where it does not (PostgreSQL):
    the loser of the race on the unique name finds the winner's room.
    """
    room = await session.scalar(select(Room).where(Room.name == name))
    if room is not None:
        return room, False
    try:
        async with session.begin_nested():
            room = Room(name=name, topic="", owner_id=owner_id, created_at=now)
            session.add(room)
    except IntegrityError:
        room = await session.scalar(select(Room).where(Room.name == name))
        if room is None:
            raise
        return room, False
    return room, True


async def _add_membership(session: AsyncSession, user_id: int, room_id: int, now: datetime) -> bool:
    """Make the user a member; False if they already were."""
    if await session.get(Membership, (user_id, room_id)) is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(Membership(user_id=user_id, room_id=room_id, joined_at=now))
    except IntegrityError:
        # A concurrent join won (on a database without SQLite's write lock);
        # anything else, such as a missing user, is still an error.
        if await session.get(Membership, (user_id, room_id), populate_existing=True) is None:
            raise
        return False
    return True


_MESSAGES = Base.metadata.tables["messages"]
_SENDER = aliased(User, name="sender")
_RECIPIENT = aliased(User, name="recipient")


# Messages with names instead of ids, in one query (outer joins: a message is
# a room message or a DM). The trailing sender id is for matching nonces;
# _stored_message ignores it. Statements are immutable: refine with .where().
_MESSAGE_SELECT = (
    select(
        Message.id,
        Room.name.label("room"),
        _SENDER.username.label("sender"),
        _RECIPIENT.username.label("recipient"),
        Message.text,
        Message.nonce,
        Message.created_at,
        Message.sender_id,
    )
    .select_from(Message)
    .join(_SENDER, _SENDER.id == Message.sender_id)
    .outerjoin(Room, Room.id == Message.room_id)
    .outerjoin(_RECIPIENT, _RECIPIENT.id == Message.recipient_id)
)


def _stored_message(row: Any) -> StoredMessage:
    return StoredMessage(
        id=row[0], room=row[1], sender=row[2], recipient=row[3], text=row[4], nonce=row[5], created_at=row[6]
    )


async def _rooms_of(session: AsyncSession, user: int | ScalarSelect[int]) -> list[RoomRecord]:
    """The rooms a user is a member of, by name."""
    rooms = await session.scalars(
        select(Room)
        .join(Membership, Membership.room_id == Room.id)
        .where(Membership.user_id == user)
        .order_by(Room.name)
    )
    return [_room_record(room) for room in rooms]


async def _reopen(
    session: AsyncSession, session_id: int, peer: str, now: datetime
) -> ScalarSelect[int] | None:
    """Re-open a session row and count it as a login of its user; the user's id, as a subquery.
    None, and nothing changed, when its token is no longer valid."""
    result = await session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.expires_at > now)
        .values(ended_at=None, end_reason=None, peer=peer, last_seen_at=now),
        execution_options=_NO_SYNC,
    )
    if not cast(CursorResult[Any], result).rowcount:
        return None
    owner = select(UserSession.user_id).where(UserSession.id == session_id).scalar_subquery()
    await session.execute(
        update(User).where(User.id == owner).values(last_login_at=now), execution_options=_NO_SYNC
    )
    return owner


def _aware(now: datetime) -> datetime:
    """Refuse a naive datetime when the op is made, as the ORM's bind would (StatementError)."""
    try:
        return require_aware(now)
    except ValueError as error:
        raise StatementError(str(error), None, None, error) from None


async def _apply_session_op(session: AsyncSession, op: SessionOp) -> object:
    """One session op through SQLAlchemy; results as records (see :mod:`.session_ops`)."""
    if isinstance(op, FindUser):
        user = await session.scalar(select(User).where(User.username_key == op.username_key))
        return None if user is None else _user_record(user)
    if isinstance(op, CreateUser):
        user = User(
            username=op.username,
            username_key=op.username_key,
            password_hash=op.password_hash,
            created_at=op.now,
        )
        session.add(user)
        await session.flush()
        general, _ = await _get_or_create_room(session, DEFAULT_ROOM, None, op.now)
        session.add(Membership(user_id=user.id, room_id=general.id, joined_at=op.now))
        await session.flush()
        return _user_record(user)
    if isinstance(op, CreateSession):
        row = UserSession(
            user_id=op.user_id,
            token_hash=op.token_hash,
            peer=op.peer,
            created_at=op.now,
            last_seen_at=op.now,
            expires_at=op.expires_at,
        )
        session.add(row)
        await session.flush()
        await session.execute(
            update(User).where(User.id == op.user_id).values(last_login_at=op.now), execution_options=_NO_SYNC
        )
        seen = await session.scalar(select(User.seen_message_id).where(User.id == op.user_id))
        return SignInRecord(_session_record(row), await _rooms_of(session, op.user_id), int(seen or 0))
    if isinstance(op, FindSession):
        found = (
            await session.execute(
                select(UserSession, User)
                .join(User, UserSession.user_id == User.id)
                .where(UserSession.token_hash == op.token_hash)
            )
        ).one_or_none()
        return None if found is None else (_session_record(found[0]), _user_record(found[1]))
    if isinstance(op, ReopenSession):
        owner = await _reopen(session, op.session_id, op.peer, op.now)
        if owner is None:
            return None
        return await _rooms_of(session, owner) if op.with_rooms else True
    if isinstance(op, EndSession):
        values: dict[str, Any] = {"ended_at": op.now, "end_reason": op.reason, "last_seen_at": op.now}
        if op.revoke:
            values["expires_at"] = op.now
        await session.execute(
            update(UserSession).where(UserSession.id == op.session_id).values(values),
            execution_options=_NO_SYNC,
        )
        if op.seen_message_id:
            owner = select(UserSession.user_id).where(UserSession.id == op.session_id).scalar_subquery()
            await _raise_seen(session, owner, op.seen_message_id)
        return None
    if isinstance(op, SetSeen):
        await _raise_seen(session, op.user_id, op.message_id)
        return None
    if isinstance(op, EndOpenSessions):
        result = await session.execute(
            update(UserSession)
            .where(UserSession.ended_at.is_(None))
            .values(ended_at=op.now, end_reason=op.reason),
            execution_options=_NO_SYNC,
        )
        return cast(CursorResult[Any], result).rowcount
    raise TypeError(f"not a session op: {op!r}")  # pragma: no cover


async def _raise_seen(session: AsyncSession, user: int | ScalarSelect[int], message_id: int) -> None:
    await session.execute(
        update(User)
        .where(User.id == user, User.seen_message_id < message_id)
        .values(seen_message_id=message_id),
        execution_options=_NO_SYNC,
    )


def _from_raw(op: SessionOp, raw: object) -> object:
    """The fast path's plain tuples as the records the ORM path returns (errors pass through)."""
    if raw is None or isinstance(raw, BaseException):
        return raw
    if isinstance(op, FindUser | CreateUser):
        return UserRecord(*cast(tuple[Any, ...], raw))
    if isinstance(op, CreateSession):
        session, rooms, seen = cast(tuple[tuple[Any, ...], list[tuple[Any, ...]], int], raw)
        return SignInRecord(SessionRecord(*session), [RoomRecord(*room) for room in rooms], seen)
    if isinstance(op, FindSession):
        row = cast(tuple[Any, ...], raw)
        return SessionRecord(*row[:8]), UserRecord(*row[8:])
    if isinstance(op, ReopenSession):
        if not isinstance(raw, list):
            return raw
        return [RoomRecord(*room) for room in cast(list[tuple[Any, ...]], raw)]
    return raw


def _dm_key(draft: MessageDraft) -> str | None:
    return None if draft.recipient_id is None else dm_key(draft.sender_id, draft.recipient_id)


def _message_row(draft: MessageDraft) -> dict[str, Any]:
    return {
        "room_id": draft.room_id,
        "sender_id": draft.sender_id,
        "recipient_id": draft.recipient_id,
        "dm_key": _dm_key(draft),
        "text": draft.text,
        "nonce": draft.nonce,
        "created_at": draft.created_at,
    }


async def _stored_by_nonce(
    session: AsyncSession, drafts: Sequence[MessageDraft]
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
        for row in await session.execute(_MESSAGE_SELECT.where(or_(*terms))):
            message = _stored_message(row)
            assert message.nonce is not None
            found[(row[7], message.nonce)] = message
    return found


_SENDERS_PER_QUERY = 100


# Both dialects' INSERT can skip rows that break a unique constraint (ON CONFLICT DO NOTHING).
_INSERTS: dict[str, Callable[[Table], Any]] = {"sqlite": sqlite_insert, "postgresql": pg_insert}


async def _insert_new(session: AsyncSession, rows: list[MessageDraft], dialect: str) -> list[int | None]:
    """Insert ``rows`` with one multi-row INSERT; per row its new id, or None where the database
    skipped it because its (sender, nonce) is stored already.

    RETURNING gives rows in no promised order, but one INSERT ... VALUES
    assigns ids in the order of its rows, so the sorted ids belong to the
    inserted rows in order (checked against the returned sender and nonce).
    """
    if not rows:
        return []
    if dialect not in _INSERTS:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise StoreError(f"unsupported database {dialect!r}")
    statement = _INSERTS[dialect](_MESSAGES).on_conflict_do_nothing(index_elements=["sender_id", "nonce"])
    connection = await session.connection()
    # A list of parameter sets with RETURNING: SQLAlchemy's "insertmanyvalues"
    # renders one INSERT ... VALUES (...), (...) ... RETURNING per page of rows.
    result = await connection.execute(
        statement.returning(_MESSAGES.c.id, _MESSAGES.c.sender_id, _MESSAGES.c.nonce),
        [_message_row(row) for row in rows],
    )
    return _ids_in_row_order(rows, [(row[0], row[1], row[2]) for row in result])


def _ids_in_row_order(
    rows: list[MessageDraft], result: list[tuple[int, int, str | None]]
) -> list[int | None]:
    """Match the (id, sender, nonce) an INSERT returned to its rows: per row its id, or None if skipped."""
    returned = sorted(result)
    inserted_keys = {(sender, nonce) for _, sender, nonce in returned if nonce is not None}
    inserted = [row.nonce is None or (row.sender_id, row.nonce) in inserted_keys for row in rows]
    expected = [(row.sender_id, row.nonce) for row, kept in zip(rows, inserted, strict=True) if kept]
    if [(sender, nonce) for _, sender, nonce in returned] != expected:
        raise RuntimeError("the database did not assign message ids in the order of the rows")
    ids = iter(message_id for message_id, _, _ in returned)
    return [next(ids) if kept else None for kept in inserted]


def _named(draft: MessageDraft) -> bool:
    if draft.sender_name is None:
        return False
    return draft.room_name is not None if draft.room_id is not None else draft.recipient_name is not None


def _as_duplicate(stored: StoredMessage) -> StoredMessage:
    return msgspec.structs.replace(stored, duplicate=True)


def stored_from_draft(draft: MessageDraft, message_id: int) -> StoredMessage:
    """The stored message a draft with names becomes once it has its id."""
    assert draft.sender_name is not None, "a draft with its names (see MessageDraft)"
    return StoredMessage(
        id=message_id,
        room=draft.room_name,
        sender=draft.sender_name,
        recipient=draft.recipient_name,
        text=draft.text,
        nonce=draft.nonce,
        created_at=draft.created_at,
    )


async def _read_back(session: AsyncSession, ids: list[int]) -> dict[int, StoredMessage]:
    """The stored messages with these ids, with their names, in one query."""
    wanted = set(ids)
    rows = await session.execute(
        _MESSAGE_SELECT.where(Message.id >= min(ids), Message.id <= max(ids)).order_by(Message.id)
    )
    return {row[0]: _stored_message(row) for row in rows if row[0] in wanted}


def _check_limit(limit: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")


def _page(
    connection: Connection,
    where: ColumnElement[bool],
    before: int | None,
    after: int | None,
    limit: int,
) -> tuple[list[StoredMessage], bool]:
    query = _MESSAGE_SELECT.where(where)
    if after is not None:
        query = query.where(Message.id > after)
    if before is not None:
        query = query.where(Message.id < before)
    if after is not None:
        # Forwards from `after`: the oldest first.
        rows = connection.execute(query.order_by(Message.id).limit(limit + 1)).all()
        return [_stored_message(row) for row in rows[:limit]], len(rows) > limit
    # Backwards from `before` (or from the newest): the newest first, then reversed.
    rows = connection.execute(query.order_by(Message.id.desc()).limit(limit + 1)).all()
    return [_stored_message(row) for row in reversed(rows[:limit])], len(rows) > limit


# A replay page on SQLite is read as one value, not one row per message. A reader thread lets go
# of the GIL around every row SQLite steps to and must take it back from the event loop each time
# (up to the 5 ms switch interval when the loop is busy): at 250 rows a page, that made replays
# crawl and stalled the loop. One row per page is one hand-over. Fields are separated by control
# characters that names cannot hold; text and nonce, which can hold anything, travel as hex.
_FIELD, _RECORD = "\x1f", "\x1e"


def _packed(query: Any) -> Any:
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
    ]
    record = fields[0]
    for field in fields[1:]:
        record = record.concat(_FIELD).concat(field)
    return select(func.group_concat(record, _RECORD))


def _unpack_page(packed: str | None) -> list[StoredMessage]:
    if not packed:
        return []
    messages = []
    for record in packed.split(_RECORD):
        message_id, room, sender, recipient, text, nonce, created_at = record.split(_FIELD)
        messages.append(
            StoredMessage(
                id=int(message_id),
                room=room or None,
                sender=sender,
                recipient=recipient or None,
                text=bytes.fromhex(text).decode(),
                nonce=bytes.fromhex(nonce).decode() if nonce else None,
                created_at=datetime.fromisoformat(created_at).replace(tzinfo=UTC),
            )
        )
    # group_concat keeps the order of the subquery it reads in practice, but no document says so.
    if any(a.id >= b.id for a, b in zip(messages, messages[1:], strict=False)):
        messages.sort(key=lambda message: message.id)
    return messages


def _concerning(*, newest_first: bool) -> Any:
    """The ids of messages in (``:after``, ``:until``] that concern the user ``:user``, as a
    subquery with an ``id`` column: for each of their rooms and for direct messages to and from
    them, the ``:scan`` first (or newest) read through that source's index, so a long absence
    costs at most ``:scan`` rows per source. A direct message to oneself is found twice: UNION
    keeps it once.
    """
    user_id = bindparam("user", type_=Integer)
    after_id = bindparam("after", type_=Integer)
    until = bindparam("until", type_=Integer)
    limit = bindparam("scan", type_=Integer)
    membership, recent = aliased(Membership, name="membership"), aliased(Message, name="recent")

    def bounded(column: Any, query: Select[Any]) -> Select[Any]:
        query = query.where(column > after_id, column <= until)
        return query.order_by(column.desc() if newest_first else column).limit(limit)

    # A lateral join, written portably: for each of the user's rooms, the first
    # (or last) `limit` ids from its (room_id, id) index.
    of_room = bounded(recent.id, select(recent.id).where(recent.room_id == membership.room_id)).correlate(
        membership
    )
    in_rooms = (
        select(Message.id)
        .select_from(membership)
        .join(Message, Message.id.in_(of_room))
        .where(membership.user_id == user_id)
    )
    to_user = bounded(Message.id, select(Message.id).where(Message.recipient_id == user_id)).subquery()
    from_user = bounded(
        Message.id, select(Message.id).where(Message.sender_id == user_id, Message.recipient_id.is_not(None))
    ).subquery()
    return union(in_rooms, select(to_user.c.id), select(from_user.c.id)).subquery("concerning")


# Built once: making these statements anew for every page cost more than running them.
_NO_END = 2**62
"""``:until`` when a page has no upper bound."""
_NEWEST = _concerning(newest_first=True)
_REPLAY_START = (
    select(_NEWEST.c.id).order_by(_NEWEST.c.id.desc()).limit(1).offset(bindparam("keep", type_=Integer))
)
_REPLAY_PAGE = (
    _MESSAGE_SELECT.where(Message.id.in_(select(_concerning(newest_first=False).c.id)))
    .order_by(Message.id)
    .limit(bindparam("scan", type_=Integer))
)


class _SqliteStatement:
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


_SQLITE_REPLAY_START = _SqliteStatement(_REPLAY_START)
_SQLITE_REPLAY_PAGE = _SqliteStatement(_packed(_REPLAY_PAGE))


def _display_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _describe(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) if revisions else "none (no chatapp tables yet)"


def _out_of_date_message(url: str, state: SchemaState) -> str:
    display = _display_url(url)
    return (
        f"the database schema at {display} is out of date "
        f"(revision {_describe(state.current)}, this version of chatapp needs {_describe(state.heads)}). "
        f"Run `alembic upgrade head` from the chatapp source tree with CHATAPP_DATABASE_URL={display}, "
        "or start the server without --no-migrate to upgrade it at start."
    )


def _newer_schema_message(url: str, state: SchemaState) -> str:
    return (
        f"the database at {_display_url(url)} is at revision {_describe(state.unknown)}, which this version "
        f"of chatapp does not know (it knows up to {_describe(state.heads)}): it was probably migrated by a "
        "newer chatapp. Run that version, or restore a backup made before the upgrade."
    )
