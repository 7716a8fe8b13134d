"""Signing in and out: register, login, resume, quit; and the frames any state accepts."""

from __future__ import annotations

import asyncio
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
from chatapp.protocol.limits import DEFAULT_ROOM
from chatapp.server import activity
from chatapp.server.auth import SignedIn
from chatapp.server.handlers.common import replay_encoder
from chatapp.server.handlers.rooms import send_room_context
from chatapp.server.states import State
from chatapp.server.store import UserRecord

if TYPE_CHECKING:
    from chatapp.server.connection import Connection


async def on_register(conn: Connection, frame: Register) -> None:
    user = await conn.services.auth.register(frame.username, frame.password, conn.address)
    await _open_session(conn, user, frame.ref, "register", new_account=True)


async def on_login(conn: Connection, frame: Login) -> None:
    user = await conn.services.auth.login(frame.username, frame.password, conn.address)
    await _open_session(conn, user, frame.ref, "login", new_account=False, takeover=bool(frame.takeover))


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
    new_account: bool,
    takeover: bool = False,
) -> None:
    conn.check_duplicate(user.id, takeover=takeover)
    auth = conn.services.auth
    signed, rooms, seen = await auth.open_session(user, conn.peer)
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
    # A login replays from the highest id the user was handed before (stored when their last
    # session ended, or still in the hub's memory if that end is not written yet).
    replay_after = None if new_account else max(seen, conn.services.hub.seen(user.id))
    await _sign_in(conn, signed, ref, event, replay_after=replay_after, rooms=rooms, takeover=takeover)


async def _sign_in(
    conn: Connection,
    signed: SignedIn,
    ref: str | int | None,
    event: str,
    *,
    replay_after: int | None,
    rooms: dict[str, int],
    takeover: bool = False,
) -> None:
    store = conn.services.store
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
            # and its next login replays only what comes from now on. The page may hold messages
            # committed after the store's last id was noted: synced covers them too.
            newest = 0
            if DEFAULT_ROOM in rooms:
                newest = await send_room_context(conn, DEFAULT_ROOM, rooms[DEFAULT_ROOM], last_id=None)
            last_id = max(await store.last_message_id(), newest)
            await store.set_seen_message_id(signed.user_id, last_id)
            conn.send(Synced(last_id=last_id))
        else:
            await replay_missed(conn, replay_after)


REPLAY_PAGE = 250
"""Messages read, encoded and sent at a time; the client's reading paces the next page."""


async def replay_missed(conn: Connection, after: int) -> None:
    """Send the messages of the user's rooms and DMs after ``after``, then ``synced``.

    At most ``--replay-max``, and no more than the account's replay budget
    allows: when either cuts the replay, the newest messages are the ones sent
    and ``synced.has_more`` says older ones were left out. Pages are read in id
    order and encoded off the event loop (:func:`replay_encoder`), and each is
    sent once the client has taken most of the one before.
    """
    store = conn.services.store
    until = await store.last_message_id()
    if after >= until:
        conn.send(Synced(last_id=after))  # nothing was missed: the common case, and free
        return
    user_id = conn.user.user_id
    budget = conn.services.replay_budget
    granted = budget.take(user_id, conn.config.replay_max)
    sent = 0
    try:
        start, cut = await store.replay_start(user_id, after, until, granted)
        sent = await _send_pages(conn, start, until, granted)
    finally:
        budget.give_back(user_id, granted - sent)
    if sent:
        activity.record("replayed", user=conn.user.username, messages=sent, cut=cut or None)
    conn.send(Synced(last_id=until, has_more=cut))


async def _send_pages(conn: Connection, after: int, until: int, most: int) -> int:
    """Send the user's messages in (``after``, ``until``], at most ``most``; how many were sent."""
    store = conn.services.store
    user_id = conn.user.user_id
    sent = 0
    if most < 1:
        return 0
    encode_replayed = replay_encoder(conn.user.username)
    first = min(REPLAY_PAGE, most)
    page = asyncio.ensure_future(store.replay_page(user_id, after, until, first, encode_replayed))
    try:
        while True:
            (frames, ids), last = await page
            if last is None or conn.closing:
                break
            conn.send_replayed(frames, ids)
            sent += len(ids)
            if len(ids) < REPLAY_PAGE or sent >= most:
                break
            # The next page is read while this one goes out.
            page = asyncio.ensure_future(
                store.replay_page(user_id, last, until, min(REPLAY_PAGE, most - sent), encode_replayed)
            )
            await conn.drain()
    finally:
        if not page.done():
            page.cancel()
    return sent


async def on_quit(conn: Connection, frame: Quit) -> None:
    if conn.state is State.AUTHENTICATED:
        activity.record("logout", user=conn.user.username, addr=conn.peer)
        await conn.settle()  # the messages sent just before the quit are acknowledged first
    conn.close(ByeReason.QUIT, end_reason="quit", revoke=True)


async def on_ping(conn: Connection, frame: Ping) -> None:
    conn.send(Pong(ref=frame.ref))


async def on_pong(conn: Connection, frame: Pong) -> None:
    pass  # any traffic counts as alive; it was noted when the bytes arrived


async def need_auth(conn: Connection, frame: ClientFrame) -> None:
    raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "log in or register first")


async def already_authenticated(conn: Connection, frame: ClientFrame) -> None:
    raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, "you are already signed in")
