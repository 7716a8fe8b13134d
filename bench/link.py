"""A bench client's connection: a socket on one side, chatapp's own client protocol on the other.

Every bench client (the load driver's, the storm's, the replay's, the sign-in
drivers') is a :class:`Link`: bare ``asyncio.Protocol`` callbacks (no streams,
so that the driver stays cheap) around a
:class:`~chatapp.protocol.connection.ClientProtocol`, which does the framing,
the decoding and the state checks, exactly as for the chatapp client and the
tests' wire helper. What a bench client sends goes out through it too, so a
frame the state does not allow is our own bug (``LocalProtocolError``), not a
measurement. Only bulk traffic nobody inspects skips it (:mod:`bench.markers`).
"""

from __future__ import annotations

import asyncio
import time

from chatapp.protocol import ClientFrame, Pong, ProtocolError, ServerFrame
from chatapp.protocol.connection import ClientProtocol, ServerFrameReceived
from chatapp.protocol.states import State

ADDRESSES_PER_NETWORK = 12
"""Source addresses per /24: 12 of 20 clients each stay under the server's 256 per network."""


def source_address(index: int, per_address: int, network: int = 0) -> str:
    """127.<network>.x.y for client ``index``: ``per_address`` clients share one address."""
    k = index // per_address
    return f"127.{network}.{1 + k // ADDRESSES_PER_NETWORK}.{1 + k % ADDRESSES_PER_NETWORK}"


class Link(asyncio.Protocol):
    """One connection; subclasses say what to do with each frame (:meth:`frame_received`)."""

    def __init__(self) -> None:
        self.protocol = ClientProtocol()
        self.transport: asyncio.Transport | None = None
        self.lost = False
        """The connection is gone (closed by either side)."""
        self.bad_lines: list[str] = []
        """Lines the server should not have sent (undecodable, or not allowed in the state)."""

    # -- asyncio callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        for event in self.protocol.receive_data(data):
            if isinstance(event, ServerFrameReceived):
                self.frame_received(event.frame, now)
            else:
                self.bad_line(event.error)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.protocol.receive_eof()
        self.link_lost()

    # -- what subclasses define -------------------------------------------------------------

    def frame_received(self, frame: ServerFrame, now: int) -> None:
        """A frame the state allows; ``now`` is when its chunk arrived (``time.monotonic_ns()``)."""

    def bad_line(self, error: ProtocolError) -> None:
        """A line the server should not have sent: kept (the first few) for the result."""
        if len(self.bad_lines) < 10:
            self.bad_lines.append(f"{error.code.value}: {error.message}")

    def link_lost(self) -> None:
        """The connection is gone."""

    # -- sending ----------------------------------------------------------------------------

    def send(self, frame: ClientFrame) -> None:
        self.write(self.protocol.send(frame))

    def write(self, data: bytes) -> None:
        """Bytes already encoded (by :meth:`send`, or lines for the baseline server, which is not chatapp)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def answer_pings(self, count: int) -> None:
        """Answer ``count`` keep-alive pings seen on the fast path (a silent client is cut off as idle)."""
        if count and self.protocol.state is not State.CLOSED:
            self.write(self.protocol.send(Pong(ref="keepalive")) * count)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
