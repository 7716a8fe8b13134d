"""Session ops (see :mod:`.session_ops`) through SQLAlchemy, and the room helpers they share.

This is how every database runs them unless its backend has a faster way (an
SQLite file: :mod:`.sqlite_sessions`); both must store the same rows and return
the same records (a test runs both).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import ScalarSelect

from chatapp.protocol.limits import DEFAULT_ROOM

from .models import Membership, Room, User, UserSession
from .records import RoomRecord, SignInRecord
from .rows import room_record, session_record, user_record
from .session_ops import (
    CreateSession,
    CreateUser,
    DisplayNameInUse,
    EndOpenSessions,
    EndSession,
    FindSession,
    FindUser,
    ReopenSession,
    SessionOp,
    SetSeen,
)

# Bulk UPDATEs here never have matching objects loaded in their short-lived
# session, so there is nothing for the ORM to synchronise.
NO_SYNC = {"synchronize_session": False}


async def apply_session_op(session: AsyncSession, op: SessionOp) -> object:
    """One session op through SQLAlchemy; its result as records."""
    if isinstance(op, FindUser):
        user = await session.scalar(select(User).where(User.username_key == op.username_key))
        return None if user is None else user_record(user)
    if isinstance(op, DisplayNameInUse):
        holder = await session.scalar(select(User.id).where(User.display_name_key == op.key).limit(1))
        return holder is not None
    if isinstance(op, CreateUser):
        return await _create_user(session, op)
    if isinstance(op, CreateSession):
        return await _create_session(session, op)
    if isinstance(op, FindSession):
        found = (
            await session.execute(
                select(UserSession, User)
                .join(User, UserSession.user_id == User.id)
                .where(UserSession.token_hash == op.token_hash)
            )
        ).one_or_none()
        return None if found is None else (session_record(found.UserSession), user_record(found.User))
    if isinstance(op, ReopenSession):
        owner = await _reopen(session, op.session_id, op.peer, op.now, op.node)
        return None if owner is None else await rooms_of(session, owner)
    if isinstance(op, EndSession):
        values: dict[str, Any] = {"ended_at": op.now, "end_reason": op.reason, "last_seen_at": op.now}
        if op.revoke:
            values["expires_at"] = op.now
        await session.execute(
            update(UserSession).where(UserSession.id == op.session_id).values(values),
            execution_options=NO_SYNC,
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
            .where(UserSession.ended_at.is_(None), true() if op.node is None else UserSession.node == op.node)
            .values(ended_at=op.now, end_reason=op.reason),
            execution_options=NO_SYNC,
        )
        return cast(CursorResult[Any], result).rowcount
    raise TypeError(f"not a session op: {op!r}")  # pragma: no cover


async def _create_user(session: AsyncSession, op: CreateUser) -> object:
    user = User(
        username=op.username, username_key=op.username_key, password_hash=op.password_hash, created_at=op.now
    )
    session.add(user)
    await session.flush()
    general, _ = await get_or_create_room(session, DEFAULT_ROOM, None, op.now)
    session.add(Membership(user_id=user.id, room_id=general.id, joined_at=op.now))
    await session.flush()
    return user_record(user)


async def _create_session(session: AsyncSession, op: CreateSession) -> SignInRecord:
    row = UserSession(
        user_id=op.user_id,
        token_hash=op.token_hash,
        peer=op.peer,
        created_at=op.now,
        last_seen_at=op.now,
        expires_at=op.expires_at,
        node=op.node,
    )
    session.add(row)
    await session.flush()
    await session.execute(
        update(User).where(User.id == op.user_id).values(last_login_at=op.now), execution_options=NO_SYNC
    )
    seen = await session.scalar(select(User.seen_message_id).where(User.id == op.user_id))
    return SignInRecord(session_record(row), await rooms_of(session, op.user_id), int(seen or 0))


async def _raise_seen(session: AsyncSession, user: int | ScalarSelect[int], message_id: int) -> None:
    await session.execute(
        update(User)
        .where(User.id == user, User.seen_message_id < message_id)
        .values(seen_message_id=message_id),
        execution_options=NO_SYNC,
    )


async def _reopen(
    session: AsyncSession, session_id: int, peer: str, now: datetime, node: str
) -> ScalarSelect[int] | None:
    """Re-open a session row and count it as a login of its user; the user's id, as a subquery.
    None, and nothing changed, when its token is no longer valid."""
    result = await session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.expires_at > now)
        .values(ended_at=None, end_reason=None, peer=peer, last_seen_at=now, node=node),
        execution_options=NO_SYNC,
    )
    if not cast(CursorResult[Any], result).rowcount:
        return None
    owner = select(UserSession.user_id).where(UserSession.id == session_id).scalar_subquery()
    await session.execute(
        update(User).where(User.id == owner).values(last_login_at=now), execution_options=NO_SYNC
    )
    return owner


async def rooms_of(session: AsyncSession, user: int | ScalarSelect[int]) -> list[RoomRecord]:
    """The rooms a user is a member of, by name."""
    rooms = await session.scalars(
        select(Room)
        .join(Membership, Membership.room_id == Room.id)
        .where(Membership.user_id == user)
        .order_by(Room.name)
    )
    return [room_record(room) for room in rooms]


async def get_or_create_room(
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


async def add_membership(session: AsyncSession, user_id: int, room_id: int, now: datetime) -> bool:
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
