"""Who may see and enter a room: private rooms, bans at the door, a user's roles in a room.

A private room is visible (``rooms``, ``who``, acting on it) only to its members, the users
invited to it, and server staff (``SEE_PRIVATE_ROOMS`` in the permission table); to anyone else
it does not exist (``no_such_room``), so a private room's name is not confirmed to strangers.
"""

from __future__ import annotations

from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.protocol.rules import check_room
from chatapp.server import policy
from chatapp.server.policy import Action, Role
from chatapp.server.services.room_sanctions import RoomSanctions
from chatapp.server.session import Session
from chatapp.server.store import RoomRecord, Store


def sees_every_room(session: Session) -> bool:
    """Server staff see private rooms they are not in, and join them uninvited."""
    return policy.allowed(Action.SEE_PRIVATE_ROOMS, session.roles())


async def visible_room(store: Store, session: Session, name: str) -> RoomRecord:
    """The room called ``name`` if it exists and the user may see it; ``no_such_room`` otherwise."""
    check_room(name)
    room = await store.get_room(name)
    if room is None or (room.private and not await _may_see(store, session, room)):
        raise ProtocolError(ErrorCode.NO_SUCH_ROOM, f"there is no room {name!r}")
    return room


async def _may_see(store: Store, session: Session, room: RoomRecord) -> bool:
    if room.name in session.room_ids or sees_every_room(session):
        return True
    return await store.is_invited(room.id, session.user_id)


async def roles_in(store: Store, session: Session, room: RoomRecord) -> frozenset[Role]:
    """The user's roles in the room for :func:`policy.check`: server role and room role."""
    return session.roles(await store.room_role(room.id, session.user_id))


async def check_entry(store: Store, sanctions: RoomSanctions, session: Session, room: RoomRecord) -> bool:
    """Refuse a join of an existing room to a user banned from it (``banned``) or not invited to
    it while it is private (``invite_only``). True when the join uses up an invitation."""
    await sanctions.check_not_banned(room.name, room.id, session.user_id)
    if not room.private or sees_every_room(session):
        return False
    if await store.is_invited(room.id, session.user_id):
        return True
    raise ProtocolError(ErrorCode.INVITE_ONLY, f"room {room.name!r} is private: you need an invitation")
