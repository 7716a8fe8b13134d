"""Rooms: join (creating it if new), leave, list, topic, who is online in one.

A private room is seen and entered as :mod:`chatapp.server.services.room_access` says; a user
banned from a room is refused its door, its member list and (elsewhere) its messages."""

from __future__ import annotations

import msgspec

from chatapp.clock import utc_now
from chatapp.protocol import (
    ErrorCode,
    Join,
    Joined,
    Leave,
    Left,
    ListRooms,
    ProtocolError,
    RoomInfo,
    RoomList,
    SetTopic,
    TopicChanged,
    Who,
    WhoList,
    encode,
)
from chatapp.protocol.rules import check_room, check_topic
from chatapp.server import activity, policy
from chatapp.server.control_events import RoomFrame
from chatapp.server.filters import Target
from chatapp.server.policy import Action
from chatapp.server.services import Services
from chatapp.server.services.frames import fit, reply_budget
from chatapp.server.services.room_access import check_entry, roles_in, sees_every_room, visible_room
from chatapp.server.session import Session
from chatapp.server.store import RoomRecord, Store
from chatapp.server.throttles import Counted


async def on_join(session: Session, frame: Join, services: Services) -> None:
    check_room(frame.room)
    limits = services.limits
    limits.check_status(session)
    store = services.store
    async with session.holding_live():
        if frame.room in session.room_ids:
            room = await _existing_room(store, frame.room)
            role = await store.room_role(room.id, session.user_id)
            joined = Joined(room=room.name, topic=room.topic, private=room.private, role=role, ref=frame.ref)
            session.send(joined)
        else:
            limits.check_room_count(session)
            existing = await store.get_room(frame.room)
            invited = False
            creation: Counted | None = None
            if existing is None:
                creation = await limits.reserve_room_creation(session)
            else:
                invited = await check_entry(store, services.sanctions, session, existing)
            try:
                room, created, newly_joined = await store.join_room(session.user_id, frame.room, utc_now())
            except BaseException:
                if creation is not None:
                    await limits.room_not_created(creation)
                raise
            if creation is not None and not created:
                await limits.room_not_created(creation)  # someone else created it meanwhile
            if invited:
                await store.take_invite(room.id, session.user_id)  # an invitation lets one in once
            if created:
                activity.record("room_created", user=session.username, room=room.name)
            role = "owner" if created else await store.room_role(room.id, session.user_id)
            if session.closing:
                return
            session.room_ids[room.name] = room.id
            session.send(
                Joined(
                    room=room.name,
                    topic=room.topic,
                    created=created,
                    private=room.private,
                    role=role,
                    ref=frame.ref,
                )
            )
            if newly_joined:
                services.hub.join(session, room.name)
        room_id = session.room_ids.get(frame.room)
        if room_id is None:
            return  # kicked or banned meanwhile (by another process's moderator, say): told so already
        await services.replay.room_context(session, frame.room, room_id, last_id=frame.last_id)


async def on_leave(session: Session, frame: Leave, services: Services) -> None:
    check_room(frame.room)
    services.limits.check_status(session)
    room_id = session.room_ids.get(frame.room)
    if room_id is None:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are not in room {frame.room!r}")
    await services.store.leave_room(session.user_id, room_id)
    if session.closing:
        return
    session.room_ids.pop(frame.room, None)
    services.hub.leave(session, frame.room)
    session.send(Left(room=frame.room, ref=frame.ref))


async def on_list_rooms(session: Session, frame: ListRooms, services: Services) -> None:
    hub = services.hub
    # Private rooms only for their members, the invited, and server staff.
    viewer = None if sees_every_room(session) else session.user_id
    summaries = await services.store.visible_rooms(viewer)
    rooms = [
        RoomInfo(
            name=s.name,
            topic=s.topic,
            members=s.members,
            online=hub.online_in(s.name),
            joined=s.name in session.room_ids,
            private=s.private,
        )
        for s in summaries
    ]
    rooms, _ = fit(
        rooms,
        lambda r: len(r.name) + len(r.topic) * 6 + 64,
        reply_budget(services.config.max_frame, frame.ref),
        keep_newest=False,
    )
    session.send(RoomList(rooms=rooms, ref=frame.ref))


async def on_set_topic(session: Session, frame: SetTopic, services: Services) -> None:
    check_topic(frame.text)
    services.limits.check_status(session)
    room = await visible_room(services.store, session, frame.room)
    policy.check(Action.SET_TOPIC, await roles_in(services.store, session, room))
    text = services.screening.check(session.username, Target.TOPICS, frame.text, room=room.name)
    await services.store.set_topic(room.id, text)
    changed = TopicChanged(room=room.name, text=text, by=session.username)
    own = TopicChanged(room=room.name, text=text, by=session.username, ref=frame.ref)
    published = services.hub.publish(room.name, changed, own=(session.user_id, own))
    services.others.tell(RoomFrame(room.name, encode(changed)))  # its members on the other processes
    if not published or room.name not in session.room_ids:
        session.send(own)  # the setter hears it even when not in the room


async def on_who(session: Session, frame: Who, services: Services) -> None:
    room = await visible_room(services.store, session, frame.room)
    await services.sanctions.check_not_banned(room.name, room.id, session.user_id)
    staff = await services.store.room_staff(room.id)
    users = [
        msgspec.structs.replace(user, role=staff.get(user.username)) for user in services.hub.who(room.name)
    ]
    users, _ = fit(
        users,
        lambda u: len(u.username) + len(u.away or "") * 6 + 60,  # with its role
        reply_budget(services.config.max_frame, frame.ref),
        keep_newest=False,
    )
    session.send(WhoList(room=room.name, users=users, ref=frame.ref))


async def _existing_room(store: Store, name: str) -> RoomRecord:
    room = await store.get_room(name)
    if room is None:
        raise ProtocolError(ErrorCode.NO_SUCH_ROOM, f"there is no room {name!r}")
    return room
