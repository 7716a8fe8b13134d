"""Catching a client up: the messages it missed, and a room's recent context.

On ``resume`` (with the client's ``last_id``), on ``login`` (from the highest id
delivered when the user's last session ended) and on ``join``, the session
holds live deliveries back (:meth:`Session.holding_live`) while this module
sends stored messages; the hold-back then sends what arrived meanwhile, except
what the replay already carried. So nothing is lost or doubled, and ids arrive
in increasing order.
"""

from __future__ import annotations

import asyncio

from chatapp.protocol import HistoryPage, Synced
from chatapp.protocol.limits import DEFAULT_ROOM, HISTORY_PAGE_MAX, JOIN_CONTEXT
from chatapp.server import activity
from chatapp.server.config import Config
from chatapp.server.services.frames import encoded_size, fit, message_frames, replay_encoder
from chatapp.server.services.limits import Limits
from chatapp.server.session import Session
from chatapp.server.store import Store

REPLAY_PAGE = 250
"""Messages read, encoded and sent at a time; the client's reading paces the next page."""


class Replay:
    def __init__(self, config: Config, store: Store, limits: Limits) -> None:
        self._config = config
        self._store = store
        self._limits = limits

    async def after_sign_in(self, session: Session, replay_after: int | None) -> None:
        """What a client gets after ``auth_ok``: what it missed after ``replay_after``, then ``synced``.

        A new account (``replay_after`` None) gets some recent context of the room
        it starts in, nothing "missed" — and its next login replays only what comes
        from now on. The page may hold messages committed after the store's last id
        was noted: ``synced`` covers them too.
        """
        if replay_after is not None:
            await self.missed(session, replay_after)
            return
        store = self._store
        newest = 0
        if DEFAULT_ROOM in session.room_ids:
            newest = await self.room_context(
                session, DEFAULT_ROOM, session.room_ids[DEFAULT_ROOM], last_id=None
            )
        last_id = max(await store.last_message_id(), newest)
        await store.set_seen_message_id(session.user_id, last_id)
        session.send(Synced(last_id=last_id))

    async def missed(self, session: Session, after: int) -> None:
        """Send the messages of the user's rooms and DMs after ``after``, then ``synced``.

        At most ``--replay-max``, and no more than the account's replay budget
        allows: when either cuts the replay, the newest messages are the ones sent
        and ``synced.has_more`` says older ones were left out. Pages are read in id
        order and encoded off the event loop (:func:`replay_encoder`), and each is
        sent once the client has taken most of the one before.
        """
        store = self._store
        until = await store.last_message_id()
        # Above what this process has delivered, the client came from another process that was
        # ahead (this one's chain would hand it those messages again), or made its last_id up: never
        # above what is committed, so that no new message is hidden.
        session.skip_live_through(after if after <= until else min(after, await store.newest_message_id()))
        if after >= until:
            session.send(Synced(last_id=after))  # nothing was missed: the common case, and free
            return
        granted = self._limits.grant_replay(session)
        sent = 0
        try:
            start, cut = await store.replay_start(session.user_id, after, until, granted)
            sent = await self._send_pages(session, start, until, granted)
        finally:
            self._limits.unused_replay(session, granted - sent)
        if sent:
            activity.record("replayed", user=session.username, messages=sent, cut=cut or None)
        session.send(Synced(last_id=until, has_more=cut))

    async def _send_pages(self, session: Session, after: int, until: int, most: int) -> int:
        """Send the user's messages in (``after``, ``until``], at most ``most``; how many were sent."""
        if most < 1:
            return 0
        store = self._store
        user_id = session.user_id
        sent = 0
        encode_replayed = replay_encoder(session.username)
        page = asyncio.ensure_future(
            store.replay_page(user_id, after, until, min(REPLAY_PAGE, most), encode_replayed)
        )
        try:
            while True:
                (frames, ids), last = await page
                if last is None or session.closing:
                    break
                session.send_replayed(frames, ids)
                sent += len(ids)
                if len(ids) < REPLAY_PAGE or sent >= most:
                    break
                # The next page is read while this one goes out.
                page = asyncio.ensure_future(
                    store.replay_page(user_id, last, until, min(REPLAY_PAGE, most - sent), encode_replayed)
                )
                await session.drain()
        finally:
            if not page.done():
                page.cancel()
        return sent

    async def room_context(self, session: Session, room: str, room_id: int, *, last_id: int | None) -> int:
        """What a client joining a room should see: what it missed after ``last_id``, or the latest few.

        Returns the highest message id the page holds (0 if none).
        """
        store = self._store
        if last_id is None:
            messages, more = await store.room_history(room_id, before=None, after=None, limit=JOIN_CONTEXT)
        else:
            messages, more = await store.room_history(
                room_id, before=None, after=last_id, limit=HISTORY_PAGE_MAX
            )
        frames = message_frames(messages, session.username, replayed=True)
        frames, cut = fit(frames, encoded_size, self._config.max_frame, keep_newest=last_id is None)
        session.send_history(HistoryPage(messages=frames, has_more=more or cut, room=room))
        return max((frame.id for frame in frames), default=0)
