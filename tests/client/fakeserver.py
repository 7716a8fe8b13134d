"""A small scripted protocol-v1 server for the client's unit tests.

Real sockets on 127.0.0.1, frames through ``chatapp.protocol`` (the same
codec as everything else), but no database and no hashing, so a test can
make it misbehave on purpose: hold back the welcome, drop a connection, say
``bye`` with any reason, refuse a resume, stay silent to pings.
The real server is exercised by tests/e2e.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import ssl
from collections.abc import Callable
from datetime import UTC, datetime

from chatapp.protocol import (
    AuthOk,
    Bye,
    ClaimKey,
    ClientFrame,
    DeleteDevice,
    Direct,
    Error,
    LineSplitter,
    ListDevices,
    Login,
    Message,
    Ping,
    Pong,
    Presence,
    ProtocolError,
    PublishKeys,
    Quit,
    Register,
    Resume,
    Send,
    SendDirect,
    ServerFrame,
    Welcome,
    decode_client_frame,
    encode,
)

PASSWORD = "correct horse battery"


@dataclasses.dataclass(eq=False)
class FakeConnection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    username: str | None = None
    received: list[ClientFrame] = dataclasses.field(default_factory=list)

    def send(self, frame: ServerFrame) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(frame))

    def bye(self, reason: str) -> None:
        self.send(Bye(reason=reason))
        self.writer.close()


class FakeServer:
    def __init__(
        self, *, max_text: int = 4000, greet: bool = True, answer_pings: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.tls = tls
        """Serve TLS with this context (replace it between ``stop`` and ``start`` to change certificate)."""
        self.max_text = max_text
        self.greet = greet
        self.answer_pings = answer_pings
        self.accounts: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.connections: list[FakeConnection] = []
        self.frames: asyncio.Queue[tuple[FakeConnection, ClientFrame]] = asyncio.Queue()
        self.on_frame: Callable[[FakeConnection, ClientFrame], bool] | None = None
        """Called first for every frame; return True when it handled the frame."""
        self.refuse_with: Bye | None = None
        """Set: every new connection gets this ``bye`` at once and is closed (an address ban)."""
        self.host = "127.0.0.1"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> FakeServer:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self, bye: str | None = None) -> None:
        """Stop listening and close every connection (after a ``bye`` if given)."""
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            if bye is not None:
                conn.bye(bye)
            else:
                conn.writer.transport.abort()
        await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self.connections.clear()

    def online(self) -> list[FakeConnection]:
        return [conn for conn in self.connections if conn.username and not conn.writer.is_closing()]

    def broadcast(self, frame: ServerFrame) -> None:
        for conn in self.online():
            conn.send(frame)

    def message(
        self, sender: str, text: str, *, nonce: str | None = None, ts: str | None = None,
        room: str = "general",
    ) -> Message:
        stamp = ts or datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return Message(id=next(self._ids), room=room, sender=sender, text=text, ts=stamp, nonce=nonce)

    def direct(
        self, sender: str, to: str, text: str, *, nonce: str | None = None, ts: str | None = None
    ) -> Direct:
        stamp = ts or datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return Direct(id=next(self._ids), sender=sender, to=to, text=text, ts=stamp, nonce=nonce)

    def next_id(self) -> int:
        return next(self._ids)

    async def next_frame(self, kind: type | tuple[type, ...] = object, timeout: float = 10.0) -> ClientFrame:
        """The next frame of ``kind`` any client sent (others are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                _, frame = await self.frames.get()
                if isinstance(frame, kind):
                    return frame

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = FakeConnection(reader, writer)
        self.connections.append(conn)
        splitter = LineSplitter(64 * 1024)
        try:
            if self.refuse_with is not None:
                conn.send(self.refuse_with)
                writer.close()
                return
            if self.greet:
                conn.send(Welcome(server="fake", version=1, max_frame=64 * 1024, max_text=self.max_text))
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for line in splitter.feed(data):
                    if not isinstance(line, bytes):
                        continue
                    try:
                        frame = decode_client_frame(line)
                    except ProtocolError as exc:
                        conn.send(Error(code=exc.code, message=exc.message, ref=exc.ref))
                        continue
                    conn.received.append(frame)
                    self.frames.put_nowait((conn, frame))
                    if self.on_frame is not None and self.on_frame(conn, frame):
                        continue
                    self._handle(conn, frame)
        except (ConnectionError, OSError):
            pass
        finally:
            was = conn.username
            if conn in self.connections:
                self.connections.remove(conn)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            if was:
                self.broadcast(Presence(event="offline", room="general", username=was))
            self._tasks.discard(task)

    def _auth_ok(self, conn: FakeConnection, username: str, ref: object, *, resumed: bool = False) -> None:
        token = f"token-{username}"
        self.tokens[token] = username
        conn.username = username
        # Like the real server: a resume answers with an empty token (keep the one you have).
        conn.send(AuthOk(username=username, token="" if resumed else token, ref=ref))  # type: ignore[arg-type]
        self.broadcast(Presence(event="online", room="general", username=username))

    def _handle(self, conn: FakeConnection, frame: ClientFrame) -> None:
        if isinstance(frame, Register):
            if frame.username.lower() in self.accounts:
                conn.send(Error(code="username_taken", message="taken", ref=frame.ref))
                return
            self.accounts[frame.username.lower()] = frame.password
            self._auth_ok(conn, frame.username, frame.ref)
        elif isinstance(frame, Login):
            if self.accounts.get(frame.username.lower()) != frame.password:
                conn.send(Error(code="auth_failed", message="wrong username or password", ref=frame.ref))
                return
            self._auth_ok(conn, frame.username, frame.ref)
        elif isinstance(frame, Resume):
            username = self.tokens.get(frame.token)
            if username is None:
                conn.send(Error(code="invalid_token", message="unknown or expired token", ref=frame.ref))
                return
            self._auth_ok(conn, username, frame.ref, resumed=True)
        elif isinstance(frame, SendDirect):
            if conn.username is None:
                conn.send(Error(code="not_authenticated", message="sign in first", ref=frame.ref))
                return
            if frame.to.lower() not in self.accounts:
                conn.send(Error(code="no_such_user", message=f"there is no user {frame.to!r}", ref=frame.ref))
                return
            direct = self.direct(conn.username, frame.to, frame.text, nonce=frame.nonce)
            for other in self.online():
                if other.username is not None and other.username.lower() in (conn.username.lower(),
                                                                              frame.to.lower()):
                    other.send(direct)
        elif isinstance(frame, Send):
            if conn.username is None:
                conn.send(Error(code="not_authenticated", message="sign in first", ref=frame.ref))
                return
            if len(frame.text) > self.max_text:
                conn.send(Error(code="text_too_long", message="too long", ref=frame.ref))
                return
            self.broadcast(self.message(conn.username, frame.text, nonce=frame.nonce, room=frame.room))
        elif isinstance(frame, Ping):
            if self.answer_pings:
                conn.send(Pong(ref=frame.ref))
        elif isinstance(frame, Pong):
            pass
        elif isinstance(frame, Quit):
            for token, name in list(self.tokens.items()):
                if name == conn.username:
                    del self.tokens[token]
            conn.bye("quit")
        elif isinstance(frame, PublishKeys | ListDevices | ClaimKey | DeleteDevice):
            # A server from before end-to-end encryption: it does not know these frames.
            conn.send(Error(code="unknown_type", message="unknown frame type", ref=frame.ref))
