"""The Redis pub/sub channel the server processes share (``--redis-url``): publish in order, listen,
and come back after Redis went away (reconnecting with backoff).

Pub/sub may lose what is published while a subscriber is disconnected or cut off for being slow:
that is allowed, because every batch also is in PostgreSQL and the chain fills what is missing
(:mod:`chatapp.server.services.message_chain`). So a publish that fails is dropped, not retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger("chatapp.redis")

CHANNEL = "chatapp:messages"
"""The channel every process publishes its committed batches on."""

BACKOFF_FIRST = 0.1
BACKOFF_MOST = 2.0
"""Seconds between attempts to reach Redis again: doubling from the first to the most."""

CLOSE_WITHIN = 2.0
"""Seconds a subscription may take to close (a connection left odd by a Redis restart must not
hold up a shutdown)."""

QUEUE_MOST = 10_000
"""Batches waiting to be published; beyond, they are dropped (the others read them from the database)."""


class RedisLink:
    def __init__(
        self,
        url: str,
        received: Callable[[bytes], None],
        subscribed: Callable[[], None],
        *,
        channel: str = CHANNEL,
    ) -> None:
        """``received`` gets each message of the channel (this process's own too); ``subscribed``
        is called each time the subscription is (re)made, after which nothing published meanwhile
        will come."""
        self._url = url
        self._channel = channel
        self._received = received
        self._subscribed = subscribed
        self._client: Any = redis.Redis.from_url(url, socket_connect_timeout=2, socket_keepalive=True)
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_MOST)
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._send())]
        try:  # the first subscription before the server takes clients: nothing published is missed
            await asyncio.wait_for(self.connected.wait(), 5)
        except TimeoutError:
            log.warning("event=redis_unreachable url_host=%s (retrying in the background)", _host(self._url))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self._client.aclose()

    def publish(self, data: bytes) -> None:
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            self.dropped += 1

    async def _send(self) -> None:
        while True:
            data = await self._queue.get()
            try:
                await self._client.publish(self._channel, data)
            except (RedisError, OSError) as exc:
                self.dropped += 1  # the others find it missing and read it from the database
                log.debug("event=redis_publish_failed error=%r", exc)

    async def _listen(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                log.info("event=redis_subscribed channel=%s", self._channel)
                self.connected.set()
                self._subscribed()
                delay = BACKOFF_FIRST
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None and message.get("type") == "message":
                        self._received(message["data"])
            except (RedisError, OSError) as exc:
                if self.connected.is_set():
                    log.warning("event=redis_lost error=%r", exc)
                self.connected.clear()
            finally:
                try:
                    await asyncio.wait_for(pubsub.aclose(), CLOSE_WITHIN)
                except (RedisError, OSError):  # TimeoutError among them
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MOST)


def _host(url: str) -> str:
    """The host part of a Redis URL, never its password."""
    rest = url.split("://", 1)[-1]
    return rest.rsplit("@", 1)[-1].split("/", 1)[0]
