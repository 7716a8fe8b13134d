"""Server processes watch one another through Redis (``--redis-url``): each keeps a heartbeat key
with a short TTL, and ends the open sessions of any process whose key expired.

Every session row names the node (server process) that opened or last resumed it. A process that
stops cleanly ends its own sessions and deletes its key; one that dies (SIGKILL, a lost machine)
leaves its rows open, and its key expires ``HEARTBEAT_TTL`` seconds later. Every process looks
for nodes with open sessions and no key each ``SWEEP_EVERY`` seconds and ends their sessions
(``node_lost``); when several do it at once, the update ends them once, and only the process that
ended some logs it. Rows from before node ids (NULL) count as a lost node's.

A process cut off from Redis for longer than the TTL is taken for dead by the others, which end
its sessions while its clients are still connected: the rows are ended again when those clients
leave. A sweep runs only after this process's own heartbeat was written, so a process that cannot
reach Redis ends nobody's sessions. And when this process's own key was gone as it wrote it (Redis
restarted or was emptied, or this process was cut off from it for a whole TTL; and at start, when
it cannot tell), every key may be missing for the same reason: no node is taken for lost until the
others have had a whole TTL to write theirs again (a Redis restart once ended a live process's
sessions).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from chatapp.clock import monotonic, utc_now
from chatapp.server import activity
from chatapp.server.store import Store

log = logging.getLogger("chatapp.nodes")

KEY_PREFIX = "chatapp:node:"
HEARTBEAT_TTL = 5.0
"""Seconds a node's key lives unless refreshed: how long after a crash its sessions stay open."""
BEAT_EVERY = 1.0
"""Seconds between refreshes of this node's key (and sweeps for lost nodes)."""
LOST = "node_lost"
"""The end reason of the sessions of a process found dead."""


class NodeWatch:
    def __init__(self, url: str, store: Store) -> None:
        self._store = store
        self._key = KEY_PREFIX + store.node
        self._client: Any = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self._task: asyncio.Task[None] | None = None
        self._sweep_after = 0.0  # monotonic time before which no node is taken for lost (see above)
        self.lost: list[str] = []
        """The nodes whose sessions this process ended (a node without id as ``"-"``)."""

    async def start(self) -> None:
        """Write the heartbeat and sweep once (before the server takes clients), then keep at it."""
        if await self._beat() and monotonic() >= self._sweep_after:
            await self._sweep()
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stop, and delete the heartbeat: this process ends its own sessions itself."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        try:
            await self._client.delete(self._key)
        except (RedisError, OSError):
            pass  # it expires by itself
        await self._client.aclose()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(BEAT_EVERY)
            try:
                if await self._beat() and monotonic() >= self._sweep_after:
                    await self._sweep()
            except Exception:
                # A database hiccup must not stop the heartbeat: the next round tries again.
                log.exception("event=node_sweep_failed")

    async def _beat(self) -> bool:
        try:
            previous = await self._client.set(self._key, b"1", px=round(HEARTBEAT_TTL * 1000), get=True)
        except (RedisError, OSError) as exc:
            log.debug("event=node_heartbeat_failed error=%r", exc)
            return False
        if previous is None:
            self._sweep_after = monotonic() + HEARTBEAT_TTL
        return True

    async def _sweep(self) -> None:
        for node in await self._store.open_session_nodes():
            if node == self._store.node:
                continue
            if node is not None:
                try:
                    if await self._client.exists(KEY_PREFIX + node):
                        continue
                except (RedisError, OSError):
                    return  # cannot tell: end nobody's
            ended = await self._store.end_node_sessions(node, LOST, utc_now())
            if ended:
                self.lost.append(node or "-")
                activity.record(LOST, level=logging.WARNING, node=node or "-", sessions=ended)
