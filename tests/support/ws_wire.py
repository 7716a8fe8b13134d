"""A bare protocol client over the web port's WebSocket, for tests: websockets' own client.

It is a :class:`~tests.support.wire.WireClient` (the same frames in and out, the
same helpers to register, log in, resume) whose bytes travel as WebSocket text
messages, one frame each, instead of lines on a TCP stream.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import ssl as ssl_module
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from chatapp.protocol import ClientFrame, ServerFrame, Welcome
from chatapp.protocol.connection import BadLine, ClientProtocol
from tests.support.wire import TIMEOUT, WireClient


class WsWireClient(WireClient):
    def __init__(self, socket: ClientConnection) -> None:  # no super(): no TCP streams here
        self.socket = socket
        self.welcome = None
        self.replayed = []
        self.synced = None
        self.last_token = ""
        self.last_size = 0
        self.protocol = ClientProtocol(strict=False)
        self._received = collections.deque()
        self._refs = itertools.count(1)
        self.messages: list[str] = []
        """Every text message received, as it came (to check the framing itself)."""

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        origin: str | None = None,
        greet: bool = True,
        ssl: ssl_module.SSLContext | None = None,
        **options: Any,
    ) -> WsWireClient:
        """Connect to ``url`` (``ws://127.0.0.1:PORT/ws``), sending ``origin`` as the Origin header
        (None: none, as a program does)."""
        socket = await connect(
            url,
            origin=origin,  # type: ignore[arg-type]
            ssl=ssl,
            open_timeout=TIMEOUT,
            ping_interval=None,  # the server's keep-alive is protocol v1's own ping
            compression=None,
            **options,
        )
        client = cls(socket)
        if greet:
            client.welcome = await client.expect(Welcome)
        return client

    async def send(self, frame: ClientFrame) -> None:
        await self.socket.send(self.protocol.send(frame).rstrip(b"\n").decode())

    async def send_raw(self, data: bytes | str) -> None:  # type: ignore[override]
        """One message as it is: text for ``str``, binary for ``bytes``."""
        await self.socket.send(data)

    async def recv(self, timeout: float = TIMEOUT) -> ServerFrame:
        async with asyncio.timeout(timeout):
            while not self._received:
                try:
                    message = await self.socket.recv()
                except ConnectionClosed as exc:
                    self.protocol.receive_eof()
                    raise ConnectionError("server closed the connection") from exc
                assert isinstance(message, str), "the server sent a binary message"
                assert "\n" not in message, "a message holds one frame, without a newline"
                self.messages.append(message)
                for event in self.protocol.receive_data(message.encode() + b"\n"):
                    if isinstance(event, BadLine):
                        raise AssertionError(f"the server sent a frame it should not have: {event.error!r}")
                    self._received.append(event)
        received = self._received.popleft()
        self.last_size = received.size
        return received.frame

    async def closed(self, timeout: float = TIMEOUT) -> bool:
        """Read until the server closes, passing over any frames."""
        self._received.clear()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.socket.recv()
        except ConnectionClosed:
            return True

    async def close(self) -> None:
        await self.socket.close()
