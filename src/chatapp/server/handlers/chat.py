"""Messages: to a room, to a person, and pages of the stored ones."""

from __future__ import annotations

from chatapp.protocol import ErrorCode, History, HistoryPage, ProtocolError, Send, SendDirect
from chatapp.protocol.rules import check_history_limit, check_room
from chatapp.server.services import Services
from chatapp.server.services.frames import encoded_size, fit, message_frames, reply_budget
from chatapp.server.services.people import find_user
from chatapp.server.session import Session


async def on_send(session: Session, frame: Send, services: Services) -> None:
    await services.messaging.post_message(
        session,
        frame.text,
        frame.nonce,
        frame.ref,
        room=frame.room,
        action=bool(frame.action),
        file=frame.file,
    )


async def on_direct(session: Session, frame: SendDirect, services: Services) -> None:
    both = frame.text is not None and frame.e2e is not None
    if both or (frame.text is None and frame.e2e is None and frame.file is None):
        raise ProtocolError(ErrorCode.BAD_FRAME, "a direct message has either 'text' or 'e2e', not both")
    if frame.e2e is not None and frame.action:
        # The server is to learn nothing of an encrypted message: its action flag is inside.
        raise ProtocolError(ErrorCode.BAD_FRAME, "an encrypted message has 'action' inside its ciphertext")
    await services.messaging.post_message(
        session,
        frame.text or "",
        frame.nonce,
        frame.ref,
        to=frame.to,
        envelope=frame.e2e,
        action=bool(frame.action),
        file=frame.file,
    )


async def on_history(session: Session, frame: History, services: Services) -> None:
    limit = check_history_limit(frame.limit)
    if (frame.room is None) == (frame.with_ is None):
        raise ProtocolError(ErrorCode.BAD_FRAME, "history needs either 'room' or 'with'")
    store = services.store
    if frame.room is not None:
        check_room(frame.room)
        room_id = session.room_ids.get(frame.room)
        if room_id is None:
            await services.sanctions.check_not_banned_by_name(frame.room, session.user_id)
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are not in room {frame.room!r}")
        messages, more = await store.room_history(
            room_id, before=frame.before, after=frame.after, limit=limit
        )
        with_ = None
    else:
        assert frame.with_ is not None
        target = await find_user(store, frame.with_)
        messages, more = await store.dm_history(
            session.user_id, target.id, before=frame.before, after=frame.after, limit=limit
        )
        with_ = target.username
    frames = message_frames(messages, session.username)
    # Paging forward (after) keeps the oldest; otherwise the newest, nearest to what the client has.
    budget = reply_budget(services.config.max_frame, frame.ref)
    frames, cut = fit(frames, encoded_size, budget, keep_newest=frame.after is None)
    session.send_history(
        HistoryPage(messages=frames, has_more=more or cut, room=frame.room, with_=with_, ref=frame.ref)
    )
