"""Per-recipient output: coalesced writes and a hard bound on unsent bytes.

Senders never wait for a recipient. Frames for one recipient queue here and go
out as one ``transport.write`` per event-loop turn (the same bytes, in the same
order, with no added delay: the flush runs as soon as the current callbacks
finish). A recipient whose unsent output — queued here plus the transport's own
buffer — passes the limit is cut off by ``on_overflow``; the rest of the room
never notices.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chatapp.server.hub import Parts


class Outbox:
    __slots__ = (
        "_transport",
        "_limit",
        "_flusher",
        "_on_overflow",
        "_queued",
        "_queued_bytes",
        "_buffered",
        "_open",
    )

    def __init__(
        self,
        transport: asyncio.WriteTransport,
        limit: int,
        flusher: Flusher,
        on_overflow: Callable[[], None],
    ) -> None:
        self._transport = transport
        self._limit = limit
        self._flusher = flusher
        self._on_overflow = on_overflow
        self._queued: list[bytes] = []
        self._queued_bytes = 0
        self._buffered = 0  # the transport's unsent bytes after the last flush
        self._open = True

    @property
    def unsent(self) -> int:
        return self._queued_bytes + self._transport.get_write_buffer_size()

    def push(self, data: bytes, message_id: int = 0, parts: Parts | None = None, /) -> None:
        """Queue bytes for this recipient; cut it off if it is too far behind.

        ``message_id`` and ``parts`` are unused here; they let the hub call this
        directly as a member's ``deliver`` (one call less per recipient in the
        fan-out loop).
        """
        if not self._open:
            return
        if not self._queued:
            self._flusher.mark(self)
        self._queued.append(data)
        self._queued_bytes += len(data)
        # The transport's buffer as of the last flush can only have shrunk since: ask it again
        # only when the total looks over the limit (not on every push: this is the fan-out loop).
        if self._queued_bytes + self._buffered > self._limit and (
            self._queued_bytes + self._transport.get_write_buffer_size() > self._limit
        ):
            self._open = False
            self._queued.clear()
            self._queued_bytes = 0
            self._on_overflow()

    def push_final(self, data: bytes) -> None:
        """Queue a last frame (a ``bye``) past the limit, then accept nothing more."""
        if self._transport.is_closing():
            return
        if not self._queued:
            self._flusher.mark(self)
        self._queued.append(data)
        self._queued_bytes += len(data)
        self._open = False

    def flush(self) -> None:
        queued = self._queued
        if not queued or self._transport.is_closing():
            queued.clear()
            self._queued_bytes = 0
            return
        self._transport.write(queued[0] if len(queued) == 1 else b"".join(queued))
        queued.clear()
        self._queued_bytes = 0
        self._buffered = self._transport.get_write_buffer_size()


class Flusher:
    """Runs at the end of each event-loop turn that produced output, in one callback.

    First the hub hands out what was published during the turn (``first``),
    then every outbox that got data is written once.
    """

    __slots__ = ("_loop", "_dirty", "_scheduled", "_first")

    def __init__(self, loop: asyncio.AbstractEventLoop, first: Callable[[], None] | None = None) -> None:
        self._loop = loop
        self._dirty: list[Outbox] = []
        self._scheduled = False
        self._first = first

    def wake(self) -> None:
        """Make sure the flush runs at the end of this turn."""
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush_all)

    def mark(self, outbox: Outbox) -> None:
        self._dirty.append(outbox)
        self.wake()

    def flush_all(self) -> None:
        self._scheduled = False
        if self._first is not None:
            self._first()
        dirty, self._dirty = self._dirty, []
        for outbox in dirty:
            outbox.flush()
