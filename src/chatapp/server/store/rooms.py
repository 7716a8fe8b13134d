"""Rooms: joining, leaving, topics and listings (part of :class:`~.store.Store`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.orm import aliased

from .backend import Backend
from .models import Membership, Room
from .orm_ops import NO_SYNC, add_membership, get_or_create_room
from .records import RoomRecord, RoomSummary
from .rows import room_record


class Rooms:
    _backend: Backend

    async def get_room(self, name: str) -> RoomRecord | None:
        """The room called ``name`` (exactly: names are lowercase, the caller checks them)."""
        async with self._backend.reading() as session:
            room = await session.scalar(select(Room).where(Room.name == name))
            return None if room is None else room_record(room)

    async def join_room(self, user_id: int, name: str, now: datetime) -> tuple[RoomRecord, bool, bool]:
        """Make the user a member of ``name``, creating the room (owned by them) if it does not exist.

        Returns ``(room, created, newly_joined)``. Of concurrent joins that find
        the room missing, exactly one creates it and all end up members.
        """
        async with self._backend.writing() as session:
            room, created = await get_or_create_room(session, name, user_id, now)
            newly_joined = await add_membership(session, user_id, room.id, now)
            return room_record(room), created, newly_joined

    async def leave_room(self, user_id: int, room_id: int) -> bool:
        """End a membership; False if the user was not a member. The room stays, even if empty."""
        async with self._backend.writing() as session:
            result = await session.execute(
                delete(Membership).where(Membership.user_id == user_id, Membership.room_id == room_id),
                execution_options=NO_SYNC,
            )
            return cast(CursorResult[Any], result).rowcount > 0

    async def set_topic(self, room_id: int, topic: str) -> None:
        async with self._backend.writing() as session:
            await session.execute(
                update(Room).where(Room.id == room_id).values(topic=topic), execution_options=NO_SYNC
            )

    async def list_rooms(self, limit: int = 500) -> list[RoomSummary]:
        """Rooms by name with their member counts, the first ``limit``; rooms without members included."""
        members = (
            select(func.count())
            .select_from(Membership)
            .where(Membership.room_id == Room.id)
            .correlate(Room)
            .scalar_subquery()
        )
        async with self._backend.reading() as session:
            rows = await session.execute(
                select(Room.name, Room.topic, members.label("members")).order_by(Room.name).limit(limit)
            )
            return [RoomSummary(name=row.name, topic=row.topic, members=int(row.members)) for row in rows]

    async def rooms_in_common(self, user_a: int, user_b: int) -> list[str]:
        """Names of the rooms both users are members of, in order."""
        first, second = aliased(Membership), aliased(Membership)
        async with self._backend.reading() as session:
            names = await session.scalars(
                select(Room.name)
                .join(first, first.room_id == Room.id)
                .join(second, second.room_id == Room.id)
                .where(first.user_id == user_a, second.user_id == user_b)
                .order_by(Room.name)
            )
            return list(names)
