"""A Redis pub/sub channel the server processes share (``--redis-url``): publish in order, listen,
and come back after Redis went away (reconnecting with backoff).

Pub/sub may lose what is published while a subscriber is disconnected or cut off for being slow:
that is allowed, because every batch also is in PostgreSQL and the chain fills what is missing
(:mod:`chatapp.server.services.message_chain`); presence is rewritten every second and moderation
is read again after a reconnect. So a publish that fails is dropped, not retried.

Two connections of :mod:`chatapp.server.redis_wire` per channel: one subscribed, whose every read
is handed out in one callback (batches that arrived together reach their recipients in one write
each); one that publishes without waiting for replies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import hiredis

from chatapp.server.redis_wire import Address, Refused, Reply, Wire, command, connect

log = logging.getLogger("chatapp.redis")

CHANNEL = "chatapp:messages"
"""The channel every process publishes its committed batches on."""

BACKOFF_FIRST = 0.1
BACKOFF_MOST = 2.0
"""Seconds between attempts to reach Redis again: doubling from the first to the most."""

SUBSCRIBE_WITHIN = 2.0
"""Seconds Redis may take to confirm the subscription (and a password) on a new connection."""

UNSENT_MOST = 8 * 1024 * 1024
"""Bytes of publishes Redis has not taken yet; beyond, new ones are dropped (the others read them
from the database) rather than held in memory."""


START_WITHIN = 5.0
"""Seconds :meth:`RedisLink.start` waits for the first subscription; after, it goes on trying in
the background and the process starts without it."""


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
        is called each time the subscription is (re)made, before the first message it brings,
        after which nothing published meanwhile will come."""
        self._address = Address.from_url(url)
        self._channel = channel.encode()
        self._received = received
        self._subscribed = subscribed
        self._publisher: Wire | None = None
        self._listener: Wire | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.dropped = 0
        self.connected = asyncio.Event()
        self._publishing = asyncio.Event()

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._publish_through())]
        try:  # the first subscription before the server takes clients: nothing published is missed
            async with asyncio.timeout(START_WITHIN):
                await self.connected.wait()
                await self._publishing.wait()
        except TimeoutError:
            log.warning("event=redis_unreachable address=%r (retrying in the background)", self._address)

    async def close(self) -> None:
        """Stop both connections; bounded whatever Redis does (nothing here waits for it)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        # gather, not a loop of awaits that swallows CancelledError: a caller cancelled here is
        # cancelled still; and a task's own failure is retrieved (never "never retrieved").
        await asyncio.gather(*tasks, return_exceptions=True)
        self.connected.clear()

    def unsent(self) -> int:
        """Bytes of publishes Redis has not taken yet (at most about :data:`UNSENT_MOST`)."""
        return self._publisher.buffered() if self._publisher is not None else 0

    def publish(self, data: bytes) -> None:
        publisher = self._publisher
        if publisher is None or not publisher.is_open() or publisher.buffered() > UNSENT_MOST:
            self.dropped += 1
            return
        publisher.write(command(b"PUBLISH", self._channel, data))

    def hold(self, seconds: float) -> None:
        """Read nothing from the channel for ``seconds`` (see :meth:`Wire.hold`): its messages wait
        in the socket meanwhile, and are handed out together after, each one still."""
        if self._listener is not None:
            self._listener.hold(seconds)

    def let_go(self) -> None:
        """Read the channel again now if it is held (see :meth:`Wire.let_go`)."""
        if self._listener is not None:
            self._listener.let_go()

    # -- publishing ------------------------------------------------------------------------

    def _published(self, reply: Reply) -> None:
        if isinstance(reply, hiredis.ReplyError):  # CLIENT REPLY OFF refused, say: each publish is told
            self.dropped += 1
            log.debug("event=redis_publish_failed error=%s", reply)

    async def _publish_through(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            wire = None
            try:
                wire = await connect(self._address, self._published)
                # No replies: each would wake this process once per publish, to be thrown away.
                wire.write(command(b"CLIENT", b"REPLY", b"OFF"))
                self._publisher = wire
                self._publishing.set()
                delay = BACKOFF_FIRST
                await wire.closed
            except (OSError, TimeoutError) as exc:  # the listener says why at warning level
                log.debug("event=redis_publisher_down error=%r", exc)
            finally:
                self._publisher = None
                self._publishing.clear()
                if wire is not None:
                    await wire.shut()  # even when cancelled (close): nothing left for a closed loop
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MOST)

    # -- listening -------------------------------------------------------------------------

    async def _listen(self) -> None:
        delay = BACKOFF_FIRST
        told = ""  # the failure last logged as a warning: the same one again is logged at debug
        while True:
            wire = None
            confirmed: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
            try:
                wire = self._listener = await connect(self._address, self._hearing(confirmed))
                wire.write(command(b"SUBSCRIBE", self._channel))
                async with asyncio.timeout(SUBSCRIBE_WITHIN):
                    await asyncio.wait((confirmed, wire.closed), return_when=asyncio.FIRST_COMPLETED)
                if not confirmed.done():
                    raise ConnectionError(f"closed before the subscription: {wire.closed.result()!r}")
                if isinstance(refusal := confirmed.result(), hiredis.ReplyError):
                    raise Refused(f"Redis refused the subscription: {refusal}")  # an ACL without the channel
                delay, told = BACKOFF_FIRST, ""
                lost = await wire.closed
                raise ConnectionError(lost)
            except (OSError, TimeoutError) as exc:
                why = repr(exc)
                if self.connected.is_set():
                    log.warning("event=redis_lost error=%s", why)
                elif why != told:
                    log.warning("event=redis_unreachable address=%r error=%s (retrying)", self._address, why)
                    told = why
                else:
                    log.debug("event=redis_unreachable error=%s", why)
                self.connected.clear()
            finally:
                self._listener = None
                if wire is not None:
                    await wire.shut()
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MOST)

    def _hearing(self, confirmed: asyncio.Future[Reply]) -> Callable[[Reply], None]:
        """What takes the replies of one subscribed connection. ``confirmed`` resolves with the
        subscription (None) or Redis's refusal of it (a ReplyError: a result, not an exception,
        so none is left unretrieved). ``subscribed`` is called right there, before a message that
        came in the same read is handed out (one before it would look like a gap to the chain)."""
        received = self._received

        def heard(reply: Reply) -> None:
            if type(reply) is list and len(reply) == 3:
                if reply[0] == b"message":  # the hot path: every batch of every process
                    received(reply[2])
                elif reply[0] == b"subscribe" and not confirmed.done():
                    confirmed.set_result(None)
                    log.info("event=redis_subscribed channel=%s", self._channel.decode())
                    self.connected.set()
                    self._subscribed()  # raising, it ends this connection (Wire), and another is made
            elif isinstance(reply, hiredis.ReplyError) and not confirmed.done():
                confirmed.set_result(reply)

        return heard
