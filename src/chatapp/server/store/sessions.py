"""Sessions: signing in and out, resuming, and the user's own session list (part of
:class:`~.store.Store`).

What signing in and out reads and writes goes through the session batcher
(group commit, :mod:`.session_ops`); listing and ending one's sessions is rare,
so plain ORM work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, or_, select, update

from .backend import Backend
from .models import User, UserSession
from .orm_ops import NO_SYNC
from .records import RoomRecord, SessionRecord, SignInRecord, UserRecord
from .rows import session_record
from .session_ops import (
    CreateSession,
    EndOpenSessions,
    EndSession,
    FindSession,
    ReopenSession,
    SessionBatcher,
    SetSeen,
    aware,
)


class Sessions:
    _backend: Backend
    _session_ops: SessionBatcher
    node: str
    """This server process's node id, written on the session rows it opens or resumes."""

    async def sign_in(
        self, user_id: int, token_hash: str, peer: str, now: datetime, expires_at: datetime
    ) -> SignInRecord:
        """Record a sign-in (a new session and the user's last login) and read the user's rooms and
        seen cursor, in one transaction."""
        op = CreateSession(user_id, token_hash, peer, aware(now), aware(expires_at), self.node)
        return cast(SignInRecord, await self._session_ops.submit(op))

    async def find_session(self, token_hash: str) -> tuple[SessionRecord, UserRecord] | None:
        """The session with this token and its user, ended and expired ones included."""
        found = await self._session_ops.submit(FindSession(token_hash))
        return cast(tuple[SessionRecord, UserRecord] | None, found)

    async def reopen_session_with_rooms(
        self, session_id: int, peer: str, now: datetime
    ) -> list[RoomRecord] | None:
        """Resume a session from a new connection (it counts as a login of its user) and read the
        user's rooms, in one transaction: what a resume needs.

        None, and nothing changed, if its token is no longer valid (``expires_at`` passed: revoked
        or expired), however recently it was checked.
        """
        rooms = await self._session_ops.submit(ReopenSession(session_id, peer, aware(now), self.node))
        return cast(list[RoomRecord] | None, rooms)

    async def end_session(
        self, session_id: int, reason: str, now: datetime, *, revoke: bool = False, seen_message_id: int = 0
    ) -> None:
        """Mark a session ended; with ``revoke`` (logout, replaced) its token can no longer resume it.

        With ``seen_message_id``, also what :meth:`set_seen_message_id` records for the
        session's user, in the same transaction: what a disconnect stores. A write, once
        submitted, is done even if its caller is cancelled (a connection cancelled at shutdown
        still has its session ended and its seen cursor saved).
        """
        await self._session_ops.submit(EndSession(session_id, reason, aware(now), revoke, seen_message_id))

    async def end_open_sessions(self, reason: str, now: datetime, *, own_only: bool = False) -> int:
        """End every session still marked open (``own_only``: only this process's); return how many.

        At start this closes what a crash left open; at shutdown, what is still
        connected (after every session end already submitted). ``last_seen_at``
        is left alone: after a crash it is the last sign of life we really saw.
        """
        op = EndOpenSessions(reason, aware(now), self.node if own_only else None)
        return cast(int, await self._session_ops.submit(op))

    async def open_session_nodes(self) -> list[str | None]:
        """The node ids that have open sessions (None: rows from before node ids)."""
        async with self._backend.reading() as session:
            open_rows = select(UserSession.node).where(UserSession.ended_at.is_(None)).distinct()
            rows = await session.scalars(open_rows)
            return list(rows)

    async def end_node_sessions(self, node: str | None, reason: str, now: datetime) -> int:
        """End the open sessions of another server process (None: those without a node); return
        how many. Safe to race: a second process running it for the same node ends none."""
        now = aware(now)
        owned = UserSession.node.is_(None) if node is None else UserSession.node == node
        async with self._backend.writing() as session:
            result = await session.execute(
                update(UserSession)
                .where(owned, UserSession.ended_at.is_(None))
                .values(ended_at=now, end_reason=reason),
                execution_options=NO_SYNC,
            )
            return cast(CursorResult[Any], result).rowcount

    async def set_seen_message_id(self, user_id: int, message_id: int) -> None:
        """Record what was delivered to the user; never lowers the recorded id."""
        await self._session_ops.submit(SetSeen(user_id, message_id))

    async def seen_message_id(self, user_id: int) -> int:
        """The id recorded by :meth:`set_seen_message_id`; 0 if none (or no such user)."""
        async with self._backend.reading() as session:
            seen = await session.scalar(select(User.seen_message_id).where(User.id == user_id))
            return int(seen or 0)

    async def last_seen(self, user_id: int) -> datetime | None:
        """When the user was last seen: the latest ``ended_at`` or ``last_seen_at`` of their sessions.

        None if they never signed in. Whether they are online now is the hub's business.
        """
        async with self._backend.reading() as session:
            ended, seen = (
                await session.execute(
                    select(func.max(UserSession.ended_at), func.max(UserSession.last_seen_at)).where(
                        UserSession.user_id == user_id
                    )
                )
            ).one()
            known = [value for value in (ended, seen) if value is not None]
            return max(known) if known else None

    async def live_sessions(self, user_id: int, now: datetime, limit: int) -> list[SessionRecord]:
        """The user's sessions that can still be used: open, or ended but resumable (not revoked,
        not expired); the most recently used first, at most ``limit``."""
        async with self._backend.reading() as session:
            rows = await session.scalars(
                select(UserSession)
                .where(
                    UserSession.user_id == user_id,
                    or_(UserSession.ended_at.is_(None), UserSession.expires_at > aware(now)),
                )
                .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
                .limit(limit)
            )
            return [session_record(row) for row in rows]

    async def revoke_user_session(self, user_id: int, session_id: int, reason: str, now: datetime) -> bool:
        """End one of the user's live sessions and revoke its token; False (and nothing changed)
        when it is not one: unknown, another user's, or already over."""
        now = aware(now)
        async with self._backend.writing() as session:
            result = await session.execute(
                update(UserSession)
                .where(
                    UserSession.id == session_id,
                    UserSession.user_id == user_id,
                    or_(UserSession.ended_at.is_(None), UserSession.expires_at > now),
                )
                .values(ended_at=now, end_reason=reason, last_seen_at=now, expires_at=now),
                execution_options=NO_SYNC,
            )
            return cast(CursorResult[Any], result).rowcount == 1

    async def revoke_sessions(
        self, user_id: int, reason: str, now: datetime, *, keep: int | None = None
    ) -> int:
        """End every live session of the user but ``keep`` and revoke their tokens (a password
        change); how many there were. Already ended ones keep when they ended."""
        now = aware(now)
        async with self._backend.writing() as session:
            result = await session.execute(
                update(UserSession)
                .where(
                    UserSession.user_id == user_id,
                    UserSession.id != (keep if keep is not None else 0),
                    or_(UserSession.ended_at.is_(None), UserSession.expires_at > now),
                )
                .values(
                    ended_at=func.coalesce(UserSession.ended_at, now),
                    end_reason=reason,
                    expires_at=now,
                ),
                execution_options=NO_SYNC,
            )
            return cast(CursorResult[Any], result).rowcount
