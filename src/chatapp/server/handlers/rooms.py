"""Rooms: join (creating it if new), leave, list, topic, who is online in one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatapp.clock import monotonic, utc_now
from chatapp.protocol import (
    ErrorCode,
    HistoryPage,
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
)
from chatapp.protocol.limits import HISTORY_PAGE_MAX, JOIN_CONTEXT
from chatapp.protocol.rules import check_room, check_topic
from chatapp.server import activity
from chatapp.server.handlers.common import encoded_size, fit, message_frames, reply_budget
from chatapp.server.store import RoomRecord

if TYPE_CHECKING:
    from chatapp.server.connection import Connection


async def on_join(conn: Connection, frame: Join) -> None:
    check_room(frame.room)
    conn.take_status_token()
    store = conn.services.store
    user = conn.user
    async with conn.holding_live():
        if frame.room in conn.room_ids:
            room = await _existing_room(conn, frame.room)
            conn.send(Joined(room=room.name, topic=room.topic, ref=frame.ref))
        else:
            if len(conn.room_ids) >= conn.config.max_rooms_per_user:
                raise ProtocolError(
                    ErrorCode.TOO_MANY_ROOMS,
                    f"you are in {len(conn.room_ids)} rooms, the most allowed; leave one first",
                )
            creations = conn.services.room_creations
            if await store.get_room(frame.room) is None:
                wait = creations.retry_after(str(user.user_id), monotonic())
                if wait:
                    raise ProtocolError(
                        ErrorCode.RATE_LIMITED,
                        "you have created many rooms lately; wait a while",
                        retry_after=round(wait),
                    )
            room, created, newly_joined = await store.join_room(user.user_id, frame.room, utc_now())
            if created:
                creations.add(str(user.user_id), monotonic())
                activity.record("room_created", user=user.username, room=room.name)
            if conn.closing:
                return
            conn.room_ids[room.name] = room.id
            conn.send(Joined(room=room.name, topic=room.topic, created=created, ref=frame.ref))
            if newly_joined:
                conn.services.hub.join(conn, room.name)
        await send_room_context(conn, frame.room, conn.room_ids[frame.room], last_id=frame.last_id)


async def send_room_context(conn: Connection, room: str, room_id: int, *, last_id: int | None) -> int:
    """What a client joining a room should see: what it missed after ``last_id``, or the latest few.

    Returns the highest message id the page holds (0 if none).
    """
    store = conn.services.store
    if last_id is None:
        messages, more = await store.room_history(room_id, before=None, after=None, limit=JOIN_CONTEXT)
    else:
        messages, more = await store.room_history(room_id, before=None, after=last_id, limit=HISTORY_PAGE_MAX)
    frames = message_frames(messages, conn.user.username, replayed=True)
    frames, cut = fit(frames, encoded_size, conn.config.max_frame, keep_newest=last_id is None)
    conn.send_history(HistoryPage(messages=frames, has_more=more or cut, room=room))
    return max((frame.id for frame in frames), default=0)


async def on_leave(conn: Connection, frame: Leave) -> None:
    check_room(frame.room)
    conn.take_status_token()
    room_id = conn.room_ids.get(frame.room)
    if room_id is None:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are not in room {frame.room!r}")
    await conn.services.store.leave_room(conn.user.user_id, room_id)
    if conn.closing:
        return
    conn.room_ids.pop(frame.room, None)
    conn.services.hub.leave(conn, frame.room)
    conn.send(Left(room=frame.room, ref=frame.ref))


async def on_list_rooms(conn: Connection, frame: ListRooms) -> None:
    hub = conn.services.hub
    summaries = await conn.services.store.list_rooms()
    rooms = [
        RoomInfo(
            name=s.name,
            topic=s.topic,
            members=s.members,
            online=hub.online_in(s.name),
            joined=s.name in conn.room_ids,
        )
        for s in summaries
    ]
    rooms, _ = fit(
        rooms,
        lambda r: len(r.name) + len(r.topic) * 6 + 64,
        reply_budget(conn.config.max_frame, frame.ref),
        keep_newest=False,
    )
    conn.send(RoomList(rooms=rooms, ref=frame.ref))


async def on_set_topic(conn: Connection, frame: SetTopic) -> None:
    check_room(frame.room)
    check_topic(frame.text)
    conn.take_status_token()
    room = await _existing_room(conn, frame.room)
    if room.owner_id != conn.user.user_id:
        raise ProtocolError(ErrorCode.FORBIDDEN, f"only the owner of {room.name!r} can set its topic")
    await conn.services.store.set_topic(room.id, frame.text)
    changed = TopicChanged(room=room.name, text=frame.text, by=conn.user.username)
    own = TopicChanged(room=room.name, text=frame.text, by=conn.user.username, ref=frame.ref)
    published = conn.services.hub.publish(room.name, changed, own=(conn.user.user_id, own))
    if not published or room.name not in conn.room_ids:
        conn.send(own)  # the owner hears it even when not in the room


async def on_who(conn: Connection, frame: Who) -> None:
    check_room(frame.room)
    room = await _existing_room(conn, frame.room)
    users = conn.services.hub.who(room.name)
    users, _ = fit(
        users,
        lambda u: len(u.username) + len(u.away or "") * 6 + 40,
        reply_budget(conn.config.max_frame, frame.ref),
        keep_newest=False,
    )
    conn.send(WhoList(room=room.name, users=users, ref=frame.ref))


async def _existing_room(conn: Connection, name: str) -> RoomRecord:
    room = await conn.services.store.get_room(name)
    if room is None:
        raise ProtocolError(ErrorCode.NO_SUCH_ROOM, f"there is no room {name!r}")
    return room
