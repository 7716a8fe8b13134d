"""Signing in and out: register, login, resume, quit; and the frames any state accepts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatapp.protocol import (
    ByeReason,
    ClientFrame,
    ErrorCode,
    Login,
    Ping,
    Pong,
    ProtocolError,
    Quit,
    Register,
    Resume,
    Synced,
)
from chatapp.protocol.limits import DEFAULT_ROOM, HISTORY_PAGE_MAX
from chatapp.server import activity
from chatapp.server.auth import SignedIn
from chatapp.server.handlers.common import message_frame
from chatapp.server.handlers.rooms import send_room_context
from chatapp.server.states import State
from chatapp.server.store import UserRecord

if TYPE_CHECKING:
    from chatapp.server.connection import Connection


async def on_register(conn: Connection, frame: Register) -> None:
    user = await conn.services.auth.register(frame.username, frame.password, conn.address)
    await _open_session(conn, user, frame.ref, "register", replay_after=None)


async def on_login(conn: Connection, frame: Login) -> None:
    user = await conn.services.auth.login(frame.username, frame.password, conn.address)
    after = max(await conn.services.store.seen_message_id(user.id), conn.services.hub.seen(user.id))
    await _open_session(conn, user, frame.ref, "login", replay_after=after, takeover=bool(frame.takeover))


async def on_resume(conn: Connection, frame: Resume) -> None:
    auth = conn.services.auth
    signed = await auth.check_token(frame.token, conn.address)
    conn.check_duplicate(signed.user_id, signed.session_id)
    rooms = await auth.reopen_session(signed, conn.peer)
    after = frame.last_id
    if after is None:
        after = max(
            await conn.services.store.seen_message_id(signed.user_id), conn.services.hub.seen(signed.user_id)
        )
    await _sign_in(conn, signed, frame.ref, "resume", replay_after=after, rooms=rooms)


async def _open_session(
    conn: Connection,
    user: UserRecord,
    ref: str | int | None,
    event: str,
    *,
    replay_after: int | None,
    takeover: bool = False,
) -> None:
    conn.check_duplicate(user.id, takeover=takeover)
    auth = conn.services.auth
    signed = await auth.open_session(user, conn.peer)
    try:
        # Another login of this account may have finished while we awaited the database.
        conn.check_duplicate(user.id, signed.session_id, takeover=takeover)
    except ProtocolError:
        await auth.end_session(signed.session_id, "rejected", revoke=True)
        raise
    replaced = conn.services.hub.online(user.id)
    if replaced is not None:
        # A takeover, or policy "replace": revoke the old session's token before we go online,
        # so its client cannot resume in the meantime and bounce this one out.
        old_session = getattr(replaced, "session_id", None)
        if isinstance(old_session, int):
            await auth.end_session(old_session, "replaced", revoke=True)
            if takeover:
                activity.record("takeover", user=user.username, addr=conn.peer, replaced=old_session)
    await _sign_in(conn, signed, ref, event, replay_after=replay_after, takeover=takeover)


async def _sign_in(
    conn: Connection,
    signed: SignedIn,
    ref: str | int | None,
    event: str,
    *,
    replay_after: int | None,
    rooms: dict[str, int] | None = None,
    takeover: bool = False,
) -> None:
    store = conn.services.store
    if rooms is None:
        rooms = {room.name: room.id for room in await store.user_rooms(signed.user_id)}
    try:
        # The last look, with nothing awaited between it and going online: another sign-in of
        # the account may have come online meanwhile, and only a takeover may displace it.
        conn.check_duplicate(signed.user_id, signed.session_id, takeover=takeover)
    except ProtocolError:
        # A new session dies with its token; a resumed one goes back to waiting for its client.
        await conn.services.auth.end_session(signed.session_id, "rejected", revoke=signed.token is not None)
        raise
    async with conn.holding_live():
        if not conn.become(signed, rooms, ref, event):
            return
        if replay_after is None:
            # A new account: some recent context of the room it starts in, nothing "missed" —
            # and its next login replays only what comes from now on.
            last_id = await store.last_message_id()
            await store.set_seen_message_id(signed.user_id, last_id)
            if DEFAULT_ROOM in rooms:
                await send_room_context(conn, DEFAULT_ROOM, rooms[DEFAULT_ROOM], last_id=None)
            conn.send(Synced(last_id=last_id))
        else:
            await replay_missed(conn, replay_after)


async def replay_missed(conn: Connection, after: int) -> None:
    """Send every message of the user's rooms and DMs after ``after``, then ``synced``."""
    store = conn.services.store
    if after >= await store.last_message_id():
        conn.send(Synced(last_id=after))  # nothing was missed: the common case, and free
        return
    cap = conn.config.replay_max
    sent = 0
    last = after
    has_more = False
    while not conn.closing:
        want = min(HISTORY_PAGE_MAX, cap - sent)
        page = await store.missed_messages(conn.user.user_id, last, want)
        for stored in page:
            own = stored.sender == conn.user.username
            conn.send_message(message_frame(stored, for_sender=own, replayed=True), stored.id)
            last = stored.id
        sent += len(page)
        if len(page) < want:
            break
        if sent >= cap:
            has_more = True
            break
        await conn.drain()
    conn.send(Synced(last_id=last, has_more=has_more))


async def on_quit(conn: Connection, frame: Quit) -> None:
    if conn.state is State.AUTHENTICATED:
        activity.record("logout", user=conn.user.username, addr=conn.peer)
    conn.close(ByeReason.QUIT, end_reason="quit", revoke=True)


async def on_ping(conn: Connection, frame: Ping) -> None:
    conn.send(Pong(ref=frame.ref))


async def on_pong(conn: Connection, frame: Pong) -> None:
    pass  # any traffic counts as alive; it was noted when the bytes arrived


async def need_auth(conn: Connection, frame: ClientFrame) -> None:
    raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "log in or register first")


async def already_authenticated(conn: Connection, frame: ClientFrame) -> None:
    raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, "you are already signed in")
