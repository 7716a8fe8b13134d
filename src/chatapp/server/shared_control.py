"""Moderation and administration across server processes (``--redis-url``): :class:`SharedControl`
tells the others what a moderator did here, on one Redis pub/sub channel (``chatapp:control``), and
hands what the others did to this process's :class:`Follower` (:mod:`chatapp.server.live_sync`).

Pub/sub may lose an event while this process is cut off from Redis. Each time the subscription is
made again (and the first time: a change committed between reading the state at start and
subscribing would be missed too), the follower reloads what it caches of moderation from the
database, which is the truth, so a lost suspension, mute, ban or room sanction is made good within
the reconnect. What a lost event would have told live (a closed connection, a room event) is done
by the reload where the database says so (a suspended user's connection is closed).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import msgspec

from chatapp.server.control_events import ControlEvent, Told, decode_told, encode_told
from chatapp.server.redis_link import RedisLink

log = logging.getLogger("chatapp.control")

CHANNEL = "chatapp:control"


class Follower(Protocol):
    """What this process does with the others' events."""

    def apply(self, event: ControlEvent) -> None: ...
    async def resync(self) -> None:
        """Events may have been lost: read the cached moderation state again from the database."""
        ...

    def close(self) -> None:
        """Stop what the applied events left running (before the store closes)."""
        ...


class SharedControl:
    def __init__(self, url: str, node: str) -> None:
        self._node = node
        self._link = RedisLink(url, self._received, self._subscribed, channel=CHANNEL)
        self._follower: Follower | None = None
        self._resyncs: set[asyncio.Task[None]] = set()
        self.applied = 0

    def follow(self, follower: Follower) -> None:
        """Hand the others' events to ``follower`` (before :meth:`start`)."""
        self._follower = follower

    async def start(self) -> None:
        await self._link.start()

    async def close(self) -> None:
        for task in list(self._resyncs):
            task.cancel()
        await self._link.close()
        if self._follower is not None:
            self._follower.close()

    def tell(self, *events: ControlEvent) -> None:
        self._link.publish(encode_told(Told(self._node, list(events))))

    def _received(self, data: bytes) -> None:
        try:
            told = decode_told(data)
        except msgspec.DecodeError:
            log.warning("event=control_undecodable bytes=%d", len(data))
            return
        if told.node == self._node or self._follower is None:
            return  # this process applied its own event when it acted
        for event in told.events:
            try:
                self._follower.apply(event)
            except Exception:  # a bug: logged, and the next events are applied still
                log.exception("event=control_apply_failed kind=%s", type(event).__name__)
            self.applied += 1

    def _subscribed(self) -> None:
        if self._follower is None:
            return
        task = asyncio.create_task(self._resync(self._follower))
        self._resyncs.add(task)
        task.add_done_callback(self._resyncs.discard)

    async def _resync(self, follower: Follower) -> None:
        try:
            await follower.resync()
        except Exception:
            # The database may be away too: what is cached stays, and the next reconnect tries again.
            log.exception("event=control_resync_failed")
