"""Users: registration, look-ups and password hashes (part of :class:`~.store.Store`)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from chatapp.protocol.rules import username_key

from .backend import Backend
from .errors import UsernameTaken
from .models import User
from .orm_ops import NO_SYNC
from .records import UserRecord
from .session_ops import CreateUser, FindUser, SessionBatcher, aware


class Users:
    _backend: Backend
    _session_ops: SessionBatcher

    async def create_user(self, username: str, password_hash: str, now: datetime) -> UserRecord:
        """Register ``username``; :class:`UsernameTaken` if it exists in any letter case.

        The unique index decides, not a prior lookup, so of two concurrent
        registrations of one name exactly one succeeds. The new user is a
        member of the room 'general' (created if missing) in the same transaction.
        """
        op = CreateUser(username, username_key(username), password_hash, aware(now))
        try:
            return cast(UserRecord, await self._session_ops.submit(op))
        except IntegrityError as exc:
            # SQLite names the column (users.username_key), PostgreSQL the
            # constraint (uq_users_username_key): both contain this.
            if "username_key" in str(exc.orig):
                raise UsernameTaken(username) from exc
            raise

    async def find_user(self, username: str) -> UserRecord | None:
        return cast(UserRecord | None, await self._session_ops.submit(FindUser(username_key(username))))

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        """Replace the hash, e.g. when argon2 parameters changed and it was rehashed at login."""
        async with self._backend.writing() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(password_hash=password_hash),
                execution_options=NO_SYNC,
            )
