"""Room moderation: room roles, bans and mutes, invitations, privacy, ownership, deleting rooms and
removing messages (part of :class:`~.store.Store`).

The owner of a room is ``rooms.owner_id``; its operators are rows of ``room_operators``. A ban or
mute whose ``until`` has passed counts as none: the reads leave it out. Deleting a room takes its
memberships, messages, operators, sanctions and invitations with it (their foreign keys cascade).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, exists, false, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from .backend import Backend
from .models import Membership, Message, Room, RoomInvite, RoomOperator, RoomSanction, User
from .orm_ops import NO_SYNC
from .records import MessageOrigin, RoomSummary, SanctionRecord

OWNER, OPERATOR = "owner", "operator"


def _changed(result: Any) -> bool:
    return cast(CursorResult[Any], result).rowcount > 0


class RoomModeration:
    _backend: Backend

    # -- roles -------------------------------------------------------------------

    async def room_role(self, room_id: int, user_id: int) -> str | None:
        """The user's role in the room: ``owner``, ``operator`` or None."""
        async with self._backend.reading() as session:
            return await _room_role(session, room_id, user_id)

    async def room_staff(self, room_id: int) -> dict[str, str]:
        """The room's owner and operators: username → ``owner`` or ``operator``."""
        async with self._backend.reading() as session:
            operators = await session.execute(
                select(User.username)
                .join(RoomOperator, RoomOperator.user_id == User.id)
                .where(RoomOperator.room_id == room_id)
            )
            staff = {row.username: OPERATOR for row in operators}
            owner = await session.scalar(
                select(User.username).join(Room, Room.owner_id == User.id).where(Room.id == room_id)
            )
            if owner is not None:
                staff[owner] = OWNER
            return staff

    async def add_operator(self, room_id: int, user_id: int, by: str, now: datetime) -> bool:
        """Make the user an operator of the room; False if they were one already."""
        async with self._backend.writing() as session:
            if await session.get(RoomOperator, (room_id, user_id)) is not None:
                return False
            session.add(RoomOperator(room_id=room_id, user_id=user_id, granted_by=by, granted_at=now))
            return True

    async def remove_operator(self, room_id: int, user_id: int) -> bool:
        """The user is no longer an operator of the room; False if they were not one."""
        async with self._backend.writing() as session:
            result = await session.execute(
                delete(RoomOperator).where(RoomOperator.room_id == room_id, RoomOperator.user_id == user_id),
                execution_options=NO_SYNC,
            )
            return _changed(result)

    async def transfer_room(
        self, room_id: int, new_owner_id: int, by: str, now: datetime
    ) -> int | None:
        """Make ``new_owner_id`` the room's owner; the old owner (returned, if there was one) becomes
        an operator, and the new one is no longer one."""
        async with self._backend.writing() as session:
            old_owner = await session.scalar(select(Room.owner_id).where(Room.id == room_id))
            await session.execute(
                update(Room).where(Room.id == room_id).values(owner_id=new_owner_id),
                execution_options=NO_SYNC,
            )
            await session.execute(
                delete(RoomOperator).where(
                    RoomOperator.room_id == room_id, RoomOperator.user_id == new_owner_id
                ),
                execution_options=NO_SYNC,
            )
            if old_owner is not None and old_owner != new_owner_id:
                if await session.get(RoomOperator, (room_id, old_owner)) is None:
                    operator = RoomOperator(room_id=room_id, user_id=old_owner, granted_by=by, granted_at=now)
                    session.add(operator)
            return old_owner

    async def is_member(self, room_id: int, user_id: int) -> bool:
        async with self._backend.reading() as session:
            return await session.get(Membership, (user_id, room_id)) is not None

    # -- bans and mutes ------------------------------------------------------------

    async def room_sanctions(self, room_id: int, now: datetime) -> list[SanctionRecord]:
        """The bans and mutes in force in the room, by username (an expired one is left out, and
        replaced when the user is next banned or muted)."""
        async with self._backend.reading() as session:
            rows = await session.execute(
                select(RoomSanction, User.username)
                .join(User, User.id == RoomSanction.user_id)
                .where(
                    RoomSanction.room_id == room_id,
                    or_(RoomSanction.until.is_(None), RoomSanction.until > now),
                )
                .order_by(User.username_key, RoomSanction.kind)
            )
            return [_sanction(row.RoomSanction, row.username) for row in rows]

    async def set_sanction(
        self,
        room_id: int,
        user_id: int,
        kind: str,
        *,
        actor: str,
        reason: str | None,
        now: datetime,
        until: datetime | None,
    ) -> SanctionRecord:
        """Ban or mute (``kind``) the user in the room, replacing one of that kind in force. A ban
        also ends the user's membership, operator status and any invitation."""
        async with self._backend.writing() as session:
            sanction = await session.get(RoomSanction, (room_id, user_id, kind))
            if sanction is None:
                sanction = RoomSanction(room_id=room_id, user_id=user_id, kind=kind)
                session.add(sanction)
            sanction.actor, sanction.reason, sanction.created_at, sanction.until = actor, reason, now, until
            if kind == "ban":
                for table in (Membership, RoomOperator, RoomInvite):
                    await session.execute(
                        delete(table).where(table.room_id == room_id, table.user_id == user_id),
                        execution_options=NO_SYNC,
                    )
            username = await session.scalar(select(User.username).where(User.id == user_id))
            assert username is not None, "the caller found the user"
            return _sanction(sanction, username)

    async def lift_sanction(self, room_id: int, user_id: int, kind: str, now: datetime) -> bool:
        """Lift a ban or mute; False if none was in force."""
        async with self._backend.writing() as session:
            result = await session.execute(
                delete(RoomSanction)
                .where(
                    RoomSanction.room_id == room_id,
                    RoomSanction.user_id == user_id,
                    RoomSanction.kind == kind,
                )
                .returning(RoomSanction.until),
                execution_options=NO_SYNC,
            )
            ends = [row.until for row in result]
            return any(until is None or until > now for until in ends)

    # -- invitations and privacy ---------------------------------------------------

    async def invite(self, room_id: int, user_id: int, by: str, now: datetime) -> bool:
        """Invite the user to the room; False if they were invited already."""
        async with self._backend.writing() as session:
            if await session.get(RoomInvite, (room_id, user_id)) is not None:
                return False
            session.add(RoomInvite(room_id=room_id, user_id=user_id, invited_by=by, created_at=now))
            return True

    async def uninvite(self, room_id: int, user_id: int) -> bool:
        """Withdraw an invitation; False if there was none."""
        async with self._backend.writing() as session:
            result = await session.execute(
                delete(RoomInvite).where(RoomInvite.room_id == room_id, RoomInvite.user_id == user_id),
                execution_options=NO_SYNC,
            )
            return _changed(result)

    async def is_invited(self, room_id: int, user_id: int) -> bool:
        async with self._backend.reading() as session:
            return await session.get(RoomInvite, (room_id, user_id)) is not None

    async def take_invite(self, room_id: int, user_id: int) -> bool:
        """Use up the user's invitation to the room (joining it); False if there was none."""
        return await self.uninvite(room_id, user_id)

    async def set_private(self, room_id: int, private: bool) -> None:
        async with self._backend.writing() as session:
            await session.execute(
                update(Room).where(Room.id == room_id).values(private=private), execution_options=NO_SYNC
            )

    async def visible_rooms(self, viewer_id: int | None, limit: int = 500) -> list[RoomSummary]:
        """Rooms by name with their member counts, the first ``limit``: every room when
        ``viewer_id`` is None (server staff), else the public ones and the private ones the viewer
        is a member of or invited to."""
        members = select(Membership.room_id).where(Membership.user_id == viewer_id)
        invited = select(RoomInvite.room_id).where(RoomInvite.user_id == viewer_id)
        count = (
            select(Membership.room_id, func.count().label("members")).group_by(Membership.room_id).subquery()
        )
        query = (
            select(Room.name, Room.topic, Room.private, count.c.members)
            .outerjoin(count, count.c.room_id == Room.id)
            .order_by(Room.name)
            .limit(limit)
        )
        if viewer_id is not None:
            query = query.where(or_(Room.private == false(), Room.id.in_(members), Room.id.in_(invited)))
        async with self._backend.reading() as session:
            rows = await session.execute(query)
            return [
                RoomSummary(name=r.name, topic=r.topic, members=int(r.members or 0), private=bool(r.private))
                for r in rows
            ]

    # -- deleting ------------------------------------------------------------------

    async def delete_room(self, room_id: int) -> bool:
        """Delete the room, its messages and, by cascade, its memberships, operators, sanctions and
        invitations; False if it was gone already."""
        async with self._backend.writing() as session:
            # Said, not left to a cascade: PostgreSQL has no foreign key from messages to rooms
            # (UNENFORCED_ON_POSTGRESQL in .unenforced).
            messages = delete(Message).where(Message.room_id == room_id)
            await session.execute(messages, execution_options=NO_SYNC)
            result = await session.execute(delete(Room).where(Room.id == room_id), execution_options=NO_SYNC)
            return _changed(result)

    async def message_origin(self, message_id: int) -> MessageOrigin | None:
        """Where the message belongs and who wrote it; None if there is no such message."""
        async with self._backend.reading() as session:
            row = (
                await session.execute(
                    select(
                        Message.id,
                        Message.sender_id,
                        Message.room_id,
                        Room.name,
                        Message.recipient_id,
                        Message.removed_by,
                    )
                    .outerjoin(Room, Room.id == Message.room_id)
                    .where(Message.id == message_id)
                )
            ).first()
            if row is None:
                return None
            return MessageOrigin(
                id=row.id,
                sender_id=row.sender_id,
                room_id=row.room_id,
                room=row.name,
                recipient_id=row.recipient_id,
                removed_by=row.removed_by,
            )

    async def remove_message(self, message_id: int, by: str, now: datetime) -> bool:
        """Make the message a tombstone: its text emptied, who removed it and when recorded (the
        nonce stays, so a resend is still recognised). False if it was removed already."""
        async with self._backend.writing() as session:
            result = await session.execute(
                update(Message)
                .where(Message.id == message_id, Message.removed_by.is_(None))
                .values(text="", removed_by=by, removed_at=now, file_id=None, file=None),
                execution_options=NO_SYNC,
            )
            return _changed(result)


async def _room_role(session: AsyncSession, room_id: int, user_id: int) -> str | None:
    owner = await session.scalar(select(Room.owner_id).where(Room.id == room_id))
    if owner is not None and owner == user_id:
        return OWNER
    operator = await session.scalar(
        select(exists().where(and_(RoomOperator.room_id == room_id, RoomOperator.user_id == user_id)))
    )
    return OPERATOR if operator else None


def _sanction(row: RoomSanction, username: str) -> SanctionRecord:
    return SanctionRecord(
        user_id=row.user_id,
        username=username,
        kind=row.kind,
        created_at=row.created_at,
        actor=row.actor,
        reason=row.reason,
        until=row.until,
    )
