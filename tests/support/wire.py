"""A bare protocol client for tests: real sockets, frames in and out, nothing hidden.

It speaks through the same codec as the real client, so a test written with it
checks the server, not a second implementation of the protocol.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TypeVar

from chatapp.protocol import (
    AuthOk,
    ClientFrame,
    Error,
    Login,
    Register,
    ServerFrame,
    Welcome,
    decode_server_frame,
    encode,
)

F = TypeVar("F", bound=ServerFrame)
TIMEOUT = 10.0
PASSWORD = "correct horse battery"


class WireClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.welcome: Welcome | None = None
        self._refs = itertools.count(1)

    @classmethod
    async def connect(
        cls, host: str, port: int, *, local_addr: str | None = None, greet: bool = True
    ) -> WireClient:
        reader, writer = await asyncio.open_connection(
            host, port, local_addr=(local_addr, 0) if local_addr else None, limit=1 << 20
        )
        client = cls(reader, writer)
        if greet:
            client.welcome = await client.expect(Welcome)
        return client

    def next_ref(self) -> int:
        return next(self._refs)

    async def send(self, frame: ClientFrame) -> None:
        self.writer.write(encode(frame))
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, timeout: float = TIMEOUT) -> ServerFrame:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line.endswith(b"\n"):
            # EOF, possibly in the middle of a frame the server could not finish sending.
            raise ConnectionError("server closed the connection")
        return decode_server_frame(line)

    async def expect(self, kind: type[F], timeout: float = TIMEOUT) -> F:
        """Receive frames until one of ``kind`` arrives (skipping pings); fail on anything else."""
        while True:
            frame = await self.recv(timeout)
            if isinstance(frame, kind):
                return frame
            raise AssertionError(f"expected {kind.__name__}, got {frame!r}")

    async def expect_error(self, code: str, timeout: float = TIMEOUT) -> Error:
        frame = await self.expect(Error, timeout)
        assert frame.code == code, frame
        return frame

    async def register(self, username: str, password: str = PASSWORD) -> AuthOk:
        await self.send(Register(username=username, password=password, ref=self.next_ref()))
        return await self.expect(AuthOk)

    async def login(self, username: str, password: str = PASSWORD) -> AuthOk:
        await self.send(Login(username=username, password=password, ref=self.next_ref()))
        return await self.expect(AuthOk)

    async def closed(self, timeout: float = TIMEOUT) -> bool:
        """Read until EOF; True when the server closed the connection."""
        try:
            while await asyncio.wait_for(self.reader.read(65536), timeout):
                pass
        except ConnectionResetError:
            pass
        return True

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
