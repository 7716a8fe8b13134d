"""Messages: to a room, to a person, and pages of the stored ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatapp.clock import utc_now
from chatapp.protocol import ErrorCode, History, HistoryPage, ProtocolError, Send, SendDirect
from chatapp.protocol.rules import check_history_limit, check_nonce, check_room, check_text
from chatapp.server.handlers.common import encoded_size, fit, message_frame, message_frames, reply_budget
from chatapp.server.store import MessageDraft, StoredMessage, UserRecord

if TYPE_CHECKING:
    from chatapp.server.connection import Connection


async def on_send(conn: Connection, frame: Send) -> None:
    conn.take_send_token()
    check_room(frame.room)
    room_id = conn.room_ids.get(frame.room)
    if room_id is None:
        raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are not in room {frame.room!r}; /join it first")
    check_text(frame.text, conn.config.max_text)
    check_nonce(frame.nonce)
    user = conn.user
    draft = MessageDraft(
        sender_id=user.user_id,
        text=frame.text,
        created_at=utc_now(),
        room_id=room_id,
        nonce=frame.nonce,
        sender_name=user.username,
        room_name=frame.room,
    )
    future = conn.services.messages.submit(draft)
    hub = conn.services.hub
    ref = frame.ref

    def deliver(stored: StoredMessage) -> None:
        own = message_frame(stored, for_sender=True, ref=ref)
        if stored.duplicate:
            conn.send_message(own, stored.id)  # a resend: the sender's acknowledgment only
        elif stored.room is not None:
            hub.publish(stored.room, message_frame(stored), stored.id, own=(user.user_id, own))

    await conn.after_commit(future, ref, deliver)


async def on_direct(conn: Connection, frame: SendDirect) -> None:
    conn.take_send_token()
    check_text(frame.text, conn.config.max_text)
    check_nonce(frame.nonce)
    target = await _find_user(conn, frame.to)
    user = conn.user
    draft = MessageDraft(
        sender_id=user.user_id,
        text=frame.text,
        created_at=utc_now(),
        recipient_id=target.id,
        nonce=frame.nonce,
        sender_name=user.username,
        recipient_name=target.username,
    )
    future = conn.services.messages.submit(draft)
    hub = conn.services.hub
    ref = frame.ref

    def deliver(stored: StoredMessage) -> None:
        own = message_frame(stored, for_sender=True, ref=ref)
        if stored.duplicate:
            conn.send_message(own, stored.id)
        else:
            hub.send_to_users(
                (user.user_id, target.id), message_frame(stored), stored.id, own=(user.user_id, own)
            )

    await conn.after_commit(future, ref, deliver)


async def on_history(conn: Connection, frame: History) -> None:
    limit = check_history_limit(frame.limit)
    if (frame.room is None) == (frame.with_ is None):
        raise ProtocolError(ErrorCode.BAD_FRAME, "history needs either 'room' or 'with'")
    store = conn.services.store
    if frame.room is not None:
        check_room(frame.room)
        room_id = conn.room_ids.get(frame.room)
        if room_id is None:
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are not in room {frame.room!r}")
        messages, more = await store.room_history(
            room_id, before=frame.before, after=frame.after, limit=limit
        )
        with_ = None
    else:
        assert frame.with_ is not None
        target = await _find_user(conn, frame.with_)
        messages, more = await store.dm_history(
            conn.user.user_id, target.id, before=frame.before, after=frame.after, limit=limit
        )
        with_ = target.username
    frames = message_frames(messages, conn.user.username)
    # Paging forward (after) keeps the oldest; otherwise the newest, nearest to what the client has.
    frames, cut = fit(
        frames, encoded_size, reply_budget(conn.config.max_frame, frame.ref), keep_newest=frame.after is None
    )
    conn.send_history(
        HistoryPage(messages=frames, has_more=more or cut, room=frame.room, with_=with_, ref=frame.ref)
    )


async def _find_user(conn: Connection, username: str) -> UserRecord:
    user = await conn.services.store.find_user(username) if len(username) <= 64 else None
    if user is None:
        raise ProtocolError(ErrorCode.NO_SUCH_USER, f"there is no user {username[:64]!r}")
    return user
