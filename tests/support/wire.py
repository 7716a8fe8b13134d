"""A bare protocol client for tests: real sockets, frames in and out, nothing hidden.

It speaks through the protocol's own client half (:class:`ClientProtocol`, not
strict: a test may send any frame in any state to see how the server refuses it),
so a test written with it checks the server, not a second implementation of the
protocol. A line the server should not have sent fails the test at once.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import ssl as ssl_module
from typing import TypeVar

from chatapp.protocol import (
    AuthOk,
    ClientFrame,
    Direct,
    Error,
    HistoryPage,
    Login,
    Message,
    Ping,
    Pong,
    Register,
    Resume,
    ServerFrame,
    Synced,
    Welcome,
)
from chatapp.protocol.connection import BadLine, ClientProtocol, ServerFrameReceived

F = TypeVar("F", bound=ServerFrame)
TIMEOUT = 10.0
PASSWORD = "correct horse battery"


class WireClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.welcome: Welcome | None = None
        self.replayed: list[Message | Direct] = []
        self.synced: Synced | None = None
        self.last_token = ""
        self.last_size = 0
        """The size of the last frame received, in bytes without the newline."""
        self.protocol = ClientProtocol(strict=False)
        self._received: collections.deque[ServerFrameReceived] = collections.deque()
        self._refs = itertools.count(1)

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        local_addr: str | None = None,
        greet: bool = True,
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> WireClient:
        """``ssl``: connect over TLS with this client context (``server_hostname``: the name to
        verify, default ``host``)."""
        reader, writer = await asyncio.open_connection(
            host,
            port,
            local_addr=(local_addr, 0) if local_addr else None,
            limit=1 << 20,
            ssl=ssl,
            server_hostname=(server_hostname or host) if ssl is not None else None,
            ssl_handshake_timeout=TIMEOUT if ssl is not None else None,
        )
        client = cls(reader, writer)
        if greet:
            client.welcome = await client.expect(Welcome)
        return client

    @classmethod
    async def connect_console(cls, path: str) -> WireClient:
        """Open the server's control socket: the connection is signed in as the console from its
        ``welcome`` on."""
        reader, writer = await asyncio.open_unix_connection(path, limit=1 << 20)
        client = cls(reader, writer)
        client.protocol = ClientProtocol(strict=False, authenticated=True)
        client.welcome = await client.expect(Welcome)
        return client

    def next_ref(self) -> int:
        return next(self._refs)

    async def send(self, frame: ClientFrame) -> None:
        self.writer.write(self.protocol.send(frame))
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, timeout: float = TIMEOUT) -> ServerFrame:
        async with asyncio.timeout(timeout):
            while not self._received:
                data = await self.reader.read(1 << 16)
                if not data:
                    # EOF, possibly in the middle of a frame the server could not finish sending.
                    self.protocol.receive_eof()
                    raise ConnectionError("server closed the connection")
                for event in self.protocol.receive_data(data):
                    if isinstance(event, BadLine):
                        raise AssertionError(f"the server sent a line it should not have: {event.error!r}")
                    self._received.append(event)
        received = self._received.popleft()
        self.last_size = received.size
        return received.frame

    async def expect(self, kind: type[F], timeout: float = TIMEOUT, *, skip: tuple[type, ...] = ()) -> F:
        """Receive the next frame, which must be a ``kind``; frames of the ``skip`` types are passed over."""
        while True:
            frame = await self.recv(timeout)
            if isinstance(frame, kind):
                return frame
            if not isinstance(frame, skip):
                raise AssertionError(f"expected {kind.__name__}, got {frame!r}")

    async def expect_error(
        self, code: str, timeout: float = TIMEOUT, *, skip: tuple[type, ...] = ()
    ) -> Error:
        frame = await self.expect(Error, timeout, skip=skip)
        assert frame.code == code, frame
        return frame

    async def register(self, username: str, password: str = PASSWORD) -> AuthOk:
        await self.send(Register(username=username, password=password, ref=self.next_ref()))
        return await self.signed_in()

    async def login(self, username: str, password: str = PASSWORD) -> AuthOk:
        await self.send(Login(username=username, password=password, ref=self.next_ref()))
        return await self.signed_in()

    async def resume(self, token: str, last_id: int | None = None) -> AuthOk:
        await self.send(Resume(token=token, last_id=last_id, ref=self.next_ref()))
        return await self.signed_in()

    async def signed_in(self) -> AuthOk:
        """Expect ``auth_ok`` and the replay that follows it up to ``synced``; keep the replay. A
        keep-alive ``ping`` meanwhile (signing in may take longer than a test's short ping interval
        on a busy machine) is answered, as a real client does."""
        ok = await self._answering_pings()
        if not isinstance(ok, AuthOk):
            raise AssertionError(f"expected AuthOk, got {ok!r}")
        if ok.token:
            self.last_token = ok.token
        self.replayed = []
        while True:
            frame = await self._answering_pings()
            if isinstance(frame, Synced):
                self.synced = frame
                return ok
            if isinstance(frame, HistoryPage):
                self.replayed.extend(frame.messages)
            elif isinstance(frame, Message | Direct):
                self.replayed.append(frame)
            else:
                raise AssertionError(f"unexpected {frame!r} in a replay")

    async def _answering_pings(self) -> ServerFrame:
        """The next frame that is not a ``ping`` (each one answered with its ``pong``)."""
        while True:
            frame = await self.recv()
            if not isinstance(frame, Ping):
                return frame
            await self.send(Pong(ref=frame.ref))

    async def closed(self, timeout: float = TIMEOUT) -> bool:
        """Read until EOF, passing over any frames; True when the server closed the connection."""
        self._received.clear()
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
