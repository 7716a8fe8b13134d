"""Just enough of a client for the side measurements (:mod:`bench.e2e_cost`, :mod:`bench.file_latency`):
frames out as bytes, lines in as bytes, nothing decoded on the way (what they time is the server).

The load driver's clients are :class:`bench.link.Link` instead: many connections on bare protocol
callbacks, checked frame by frame after the clock stops.
"""

from __future__ import annotations

import asyncio
from typing import Self

from chatapp.protocol import Login, Register, encode


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self._buffer = b""

    @classmethod
    async def signed_in(cls, port: int, username: str, password: str) -> Self:
        """Connected to 127.0.0.1:``port`` as ``username``: registered, or signed in if the name is
        taken, with the replay read up to ``synced``."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        await client.until(b'"welcome"')
        client.send(encode(Register(username=username, password=password, ref=1)))
        if b'"auth_ok"' not in await client.until(b'"ref":1'):
            client.send(encode(Login(username=username, password=password, ref=2)))
            await client.until(b'"auth_ok"')
        await client.until(b'"synced"')
        return client

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def until(self, marker: bytes) -> bytes:
        """Read until a line holding ``marker``; that line."""
        while True:
            line = await self.line()
            if marker in line:
                return line

    async def line(self) -> bytes:
        while b"\n" not in self._buffer:
            data = await self.reader.read(1 << 16)
            if not data:
                raise ConnectionError("the server closed the connection")
            self._buffer += data
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    async def drain(self) -> None:
        """Read and drop everything (a sender's acknowledgments), so that it is never cut off."""
        while await self.reader.read(1 << 16):
            pass
