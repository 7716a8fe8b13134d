"""The store: every read and write of the database goes through :class:`Store`.

Methods take and return the plain frozen records of :mod:`.records`, never ORM
objects, so the rest of the server depends neither on SQLAlchemy nor on the
database. Every datetime in and out is timezone-aware UTC; a naive datetime is
refused (``ValueError`` wrapped in SQLAlchemy's ``StatementError``).

The methods are written by subject (:mod:`.users`, :mod:`.sessions`,
:mod:`.rooms`, :mod:`.room_moderation`, :mod:`.messages`, :mod:`.audit`,
:mod:`.account_moderation`, :mod:`.devices`, :mod:`.files`) and run on a :class:`~.backend.Backend`,
which is where databases differ. Each method is one unit of work in its own
transaction, so concurrent tasks may share a :class:`Store` freely. What
signing in and out reads and writes is atomic per call too, but concurrent
calls share transactions (group commit, see :mod:`.session_ops`). SQLAlchemy
errors other than those the store translates propagate unchanged.
"""

from __future__ import annotations

import asyncio
import secrets

from .account_moderation import AccountModeration
from .audit import Audit
from .backend import Backend
from .devices import Devices
from .engine import DEFAULT_BUSY_TIMEOUT_MS, DEFAULT_SYNCHRONOUS, create_engine, is_sqlite, sqlite_file
from .files import Files
from .messages import Messages
from .records import OpenedDatabase
from .room_moderation import RoomModeration
from .rooms import Rooms
from .schema import prepare_schema
from .session_ops import SessionBatcher
from .sessions import Sessions
from .sqlite_backend import SqliteFileBackend
from .startup import OPEN_ERRORS, DatabaseUnavailable, describe_open_error
from .users import Users


class Store(Users, Sessions, Rooms, RoomModeration, Messages, Audit, AccountModeration, Devices, Files):
    def __init__(self, backend: Backend) -> None:
        """Use :meth:`open`; this does not check the schema."""
        self._backend = backend
        self.opened: OpenedDatabase | None = None
        self.node = secrets.token_hex(8)  # this process's node id (see Sessions.node)
        # Signing in and out: many connections' session work per transaction (see session_ops).
        self._session_ops = SessionBatcher(backend.run_session_ops)
        self._last_id: int | None = None
        self._last_id_lock = asyncio.Lock()

    @property
    def backend(self) -> Backend:
        return self._backend

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
        unless it is already there. :class:`DatabaseUnavailable` (one line that says
        why) if the URL names a driver that is not installed, or the database cannot be
        reached, signed in to or migrated. ``busy_timeout_ms``: how long an SQLite
        write waits for another connection's write lock before it fails.
        """
        try:
            engine = create_engine(url, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous)
        except OPEN_ERRORS as exc:
            raise DatabaseUnavailable(describe_open_error(url, exc, "open")) from exc
        try:
            opened = await prepare_schema(engine, url, migrate=migrate)
        except OPEN_ERRORS as exc:
            await engine.dispose()
            raise DatabaseUnavailable(describe_open_error(url, exc, "open")) from exc
        except BaseException:
            await engine.dispose()
            raise
        path = sqlite_file(url) if is_sqlite(url) else None
        backend: Backend
        if engine.dialect.driver == "asyncpg":
            # Imported here: asyncpg is an optional extra (chatapp[postgres]), and the engine
            # has just connected with it.
            from .postgres_backend import PostgresBackend

            backend = PostgresBackend(engine)
        elif path is None:
            backend = Backend(engine)
        else:
            backend = SqliteFileBackend(
                engine, path, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous
            )
        store = cls(backend)
        store.opened = opened
        return store

    async def close(self) -> None:
        # Session work already submitted (a shutdown's sign-outs) is written first.
        await self._session_ops.close()
        await self._backend.close()
