"""Users: registration, look-ups, password hashes and profiles (part of :class:`~.store.Store`)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from chatapp.protocol.profile_rules import name_key
from chatapp.protocol.rules import username_key

from .backend import Backend
from .errors import DisplayNameTaken, UsernameTaken
from .models import User
from .orm_ops import NO_SYNC
from .records import ProfileRecord, UserRecord
from .session_ops import CreateUser, DisplayNameInUse, FindUser, SessionBatcher, aware

_PROFILE = select(User.display_name, User.bio)


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

    async def profile(self, user_id: int) -> ProfileRecord:
        """The user's display name and bio (None where not set, or no such user)."""
        async with self._backend.reading() as session:
            row = (await session.execute(_PROFILE.where(User.id == user_id))).first()
        return ProfileRecord(row[0], row[1]) if row is not None else ProfileRecord(None, None)

    async def set_profile(
        self, user_id: int, *, display_name: str | None = None, bio: str | None = None
    ) -> ProfileRecord:
        """Change what is given (None: unchanged; "": cleared) and return the profile.

        :class:`DisplayNameTaken` if the display name's key (``name_key``) is another account's
        username or display name: checked here, and by the unique index for two users taking
        one name at once.
        """
        values: dict[str, str | None] = {}
        if display_name is not None:
            key = name_key(display_name) if display_name else None
            values.update(display_name=display_name or None, display_name_key=key)
        if bio is not None:
            values["bio"] = bio or None
        try:
            async with self._backend.writing() as session:
                key = values.get("display_name_key")
                if key is not None:
                    clash = await session.scalar(
                        select(User.id)
                        .where(User.id != user_id)
                        .where(or_(User.username_key == key, User.display_name_key == key))
                        .limit(1)
                    )
                    if clash is not None:
                        raise DisplayNameTaken(display_name)
                if values:
                    await session.execute(
                        update(User).where(User.id == user_id).values(**values), execution_options=NO_SYNC
                    )
                row = (await session.execute(_PROFILE.where(User.id == user_id))).one()
        except IntegrityError as exc:
            if "display_name_key" in str(exc.orig):
                raise DisplayNameTaken(display_name) from exc
            raise
        return ProfileRecord(row[0], row[1])

    async def display_name_in_use(self, name: str) -> bool:
        """Whether some account's display name is ``name`` (in the sense of ``name_key``): a new
        username must not be another user's display name either."""
        return cast(bool, await self._session_ops.submit(DisplayNameInUse(name_key(name))))

