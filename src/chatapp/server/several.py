"""One server process among several (``--redis-url``): the parts that reach the others through Redis.

Made only with ``--redis-url`` (they need the redis extra). The app builds everything else as for
one process and takes these in place of their one-process versions: the message chain and its
channel (what the message writer tells of each batch, and the turn it inserts in), the node watch
(this process's heartbeat; the sessions of processes that died), the shared hub (presence and
duplicate login), the control channel (moderation and administration) and the shared limits.
The app starts them in the order its first client needs them; :meth:`SeveralProcesses.close`
closes all but the node watch, whose heartbeat must outlive the ending of this process's sessions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from chatapp.server import activity
from chatapp.server.config import Config
from chatapp.server.node_watch import NodeWatch
from chatapp.server.redis_link import RedisLink
from chatapp.server.services.message_chain import MessageChain
from chatapp.server.shared_control import SharedControl
from chatapp.server.shared_limits import SharedLimits
from chatapp.server.shared_presence import SharedHub
from chatapp.server.store import Store
from chatapp.server.transport.delivery import Delivery

log = logging.getLogger("chatapp.redis")

CLOSE_WITHIN = 3.0
"""Seconds each part may take to close: Redis unreachable or odd after a restart must not hold up a
shutdown (what a part could not say goodbye with expires in Redis by itself)."""


class SeveralProcesses:
    def __init__(self, config: Config, store: Store) -> None:
        url = self._url = config.redis_url
        self.nodes = NodeWatch(url, store)
        self.chain: MessageChain | None = None
        self._link: RedisLink | None = None
        if config.history:  # without stored history there is no chain of batches to follow
            link = self._link = RedisLink(url, lambda data: chain.received(data), lambda: chain.reconnected())
            chain = self.chain = MessageChain(store, link.publish, hold=link.hold, let_go=link.let_go)
        self.control = SharedControl(url, store.node)
        self.limits = SharedLimits(config, store.node)
        self.hub: SharedHub | None = None

    def make_hub(self, delivery: Delivery, status_limit: int) -> SharedHub:
        self.hub = SharedHub(delivery, self._url, status_limit=status_limit)
        return self.hub

    async def start(self) -> None:
        """Before the first client: subscribed to the others' batches, their users and their
        moderation (each retrying in the background if Redis cannot be reached yet)."""
        if self.chain is not None and self._link is not None:
            self.chain.hub = self.hub
            await self.chain.start()
            await self._link.start()
        if self.hub is not None:
            await self.hub.start()
        await self.control.start()

    async def close(self) -> None:
        """After the message writer stopped: nothing more is published."""
        if self.chain is not None:
            await self.chain.close()
            activity.record("message_chain", applied=self.chain.applied, filled=self.chain.filled)
        closing = [_bounded("control", self.control.close()), _bounded("limits", self.limits.close())]
        if self._link is not None:
            closing.append(_bounded("messages", self._link.close()))
        if self.hub is not None:
            closing.append(_bounded("presence", self.hub.close()))
        await asyncio.gather(*closing)  # side by side: a shutdown waits CLOSE_WITHIN at most for all


async def _bounded(part: str, closing: Awaitable[None]) -> None:
    try:
        await asyncio.wait_for(closing, CLOSE_WITHIN)
    except TimeoutError:
        log.warning("event=redis_close_slow part=%s seconds=%s", part, CLOSE_WITHIN)
