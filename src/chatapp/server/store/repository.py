"""The store: every read and write of the database goes through :class:`Store`.

Methods take and return plain frozen records, never ORM objects, so that the
rest of the server does not depend on SQLAlchemy and another backend can offer
the same interface. Every datetime in and out is timezone-aware UTC; a naive
datetime is refused (``ValueError`` wrapped in SQLAlchemy's ``StatementError``).

Each method is one unit of work in its own transaction and its own
``AsyncSession``, so concurrent tasks may share a :class:`Store` freely.
SQLAlchemy errors other than those translated below propagate unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, make_url, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from chatapp.protocol.rules import username_key

from .engine import create_engine, create_sessionmaker
from .migrate import SchemaState, schema_state, upgrade
from .models import User, UserSession


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


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        """Use :meth:`open`; this does not check the schema."""
        self._engine = engine
        self._sessions: async_sessionmaker[AsyncSession] = create_sessionmaker(engine)

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect to ``url`` and make sure its schema is the one this code expects.

        With ``migrate`` the schema is upgraded to the latest revision (creating
        it in a new database); without, :class:`SchemaOutOfDate` is raised
        unless it is already there.
        """
        engine = create_engine(url)
        try:
            state = await schema_state(engine)
            if state.unknown:
                raise SchemaOutOfDate(_newer_schema_message(url, state), state)
            if migrate:
                await upgrade(engine)
            elif not state.up_to_date:
                raise SchemaOutOfDate(_out_of_date_message(url, state), state)
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine)

    async def close(self) -> None:
        await self._engine.dispose()

    # -- users ---------------------------------------------------------------

    async def create_user(self, username: str, password_hash: str, now: datetime) -> UserRecord:
        """Register ``username``; :class:`UsernameTaken` if it exists in any letter case.

        The unique index decides, not a prior lookup, so of two concurrent
        registrations of one name exactly one succeeds.
        """
        try:
            async with self._sessions.begin() as session:
                user = User(
                    username=username,
                    username_key=username_key(username),
                    password_hash=password_hash,
                    created_at=now,
                )
                session.add(user)
                await session.flush()
                return _user_record(user)
        except IntegrityError as exc:
            # SQLite names the column (users.username_key), PostgreSQL the
            # constraint (uq_users_username_key): both contain this.
            if "username_key" in str(exc.orig):
                raise UsernameTaken(username) from exc
            raise

    async def find_user(self, username: str) -> UserRecord | None:
        async with self._sessions.begin() as session:
            user = await session.scalar(select(User).where(User.username_key == username_key(username)))
            return None if user is None else _user_record(user)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace the hash, e.g. when argon2 parameters changed and it was rehashed at login."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(password_hash=password_hash),
                execution_options=_NO_SYNC,
            )

    # -- sessions ------------------------------------------------------------

    async def create_session(
        self, user_id: int, token_hash: str, peer: str, now: datetime, expires_at: datetime
    ) -> SessionRecord:
        """Record a sign-in (and the user's last login) atomically."""
        async with self._sessions.begin() as session:
            row = UserSession(
                user_id=user_id,
                token_hash=token_hash,
                peer=peer,
                created_at=now,
                last_seen_at=now,
                expires_at=expires_at,
            )
            session.add(row)
            await session.flush()
            await session.execute(
                update(User).where(User.id == user_id).values(last_login_at=now),
                execution_options=_NO_SYNC,
            )
            return _session_record(row)

    async def find_session(self, token_hash: str) -> tuple[SessionRecord, UserRecord] | None:
        """The session with this token and its user, ended and expired ones included."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                select(UserSession, User)
                .join(User, UserSession.user_id == User.id)
                .where(UserSession.token_hash == token_hash)
            )
            found = result.one_or_none()
            if found is None:
                return None
            row, user = found
            return _session_record(row), _user_record(user)

    async def reopen_session(self, session_id: int, peer: str, now: datetime) -> None:
        """Resume a session from a new connection; counts as a login of its user."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(UserSession)
                .where(UserSession.id == session_id)
                .values(ended_at=None, end_reason=None, peer=peer, last_seen_at=now),
                execution_options=_NO_SYNC,
            )
            owner = select(UserSession.user_id).where(UserSession.id == session_id).scalar_subquery()
            await session.execute(
                update(User).where(User.id == owner).values(last_login_at=now),
                execution_options=_NO_SYNC,
            )

    async def end_session(self, session_id: int, reason: str, now: datetime, *, revoke: bool = False) -> None:
        """Mark a session ended; with ``revoke`` (logout, replaced) its token can no longer resume it."""
        values: dict[str, Any] = {"ended_at": now, "end_reason": reason, "last_seen_at": now}
        if revoke:
            values["expires_at"] = now
        async with self._sessions.begin() as session:
            await session.execute(
                update(UserSession).where(UserSession.id == session_id).values(values),
                execution_options=_NO_SYNC,
            )

    async def end_open_sessions(self, reason: str, now: datetime) -> int:
        """End every session still marked open; return how many.

        At start this closes what a crash left open; at shutdown, what is still
        connected. ``last_seen_at`` is left alone: after a crash it is the last
        sign of life we really saw.
        """
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(UserSession)
                .where(UserSession.ended_at.is_(None))
                .values(ended_at=now, end_reason=reason),
                execution_options=_NO_SYNC,
            )
            return cast(CursorResult[Any], result).rowcount


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
