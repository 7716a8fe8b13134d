"""One TCP connection to the server, and the one seam to the protocol.

:class:`Wire` is the only place where the client turns bytes into frames and
frames into bytes. Today it is ``LineSplitter``, ``decode_server_frame`` and
``encode`` from :mod:`chatapp.protocol`; the protocol's sans-I/O client half
takes its place here, behind the same two methods, and nothing else changes.

:class:`Link` is one connection's socket and what belongs to it alone: its
read loop, the ``welcome`` it is waiting for, the sign-in answers it is
waiting for, the ``bye`` or the network error that ended it. The session
(:mod:`.session`) opens links, one after another, and keeps what outlives
them in its :class:`~chatapp.client.net.core.SessionCore`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

from chatapp.protocol import (
    AuthOk,
    Bye,
    ClientFrame,
    Error,
    ServerFrame,
    Welcome,
    encode,
)
from chatapp.protocol.connection import CLIENT_LINE_MAX, BadLine, ClientProtocol

log = logging.getLogger("chatapp.client.session")

READ_CHUNK = 64 * 1024
MAX_LINE = CLIENT_LINE_MAX
"""Longest line accepted from a server (generous; the server's own frames are far smaller)."""


# -- the seam to the codec --------------------------------------------------------------------------


class Wire:
    """Bytes from the server in, frames out; frames in, bytes out. One per connection (it buffers).

    The protocol's own client half does the work (:class:`ClientProtocol`: framing, decoding,
    which frames each state allows); this only decides what the client does with a line it
    cannot use: it is logged and skipped, and the session goes on, as the server does for its
    clients.
    """

    def __init__(self, number: int) -> None:
        self._number = number
        self._protocol = ClientProtocol(max_line=MAX_LINE)

    def receive_data(self, data: bytes) -> list[ServerFrame]:
        frames: list[ServerFrame] = []
        for event in self._protocol.receive_data(data):
            if isinstance(event, BadLine):
                log.warning("link %d: ignored a line from the server: %s", self._number, event.error.message)
            else:
                frames.append(event.frame)
        return frames

    def send(self, frame: ClientFrame) -> bytes:
        return self._protocol.send(frame)


def frame_size(frame: ClientFrame) -> int:
    """How many bytes ``frame`` takes on the wire (to check it against the server's ``max_frame``)."""
    return len(encode(frame))


# -- one connection ------------------------------------------------------------------------------------


class LinkLost(Exception):
    """The connection ended before the answer being waited for: ``bye`` or ``error`` say how."""

    def __init__(self, bye: str | None, error: str | None, bye_message: str | None = None) -> None:
        super().__init__(bye or error or "connection closed")
        self.bye = bye
        self.error = error
        self.bye_message = bye_message


SignInCallback = Callable[[AuthOk], None]


class Link:
    """One TCP connection: see the module docstring.

    ``on_frame`` gets every frame read, in order; ``on_end`` is called once,
    when the link ends (read to the end, dropped, or closed by the session).
    """

    def __init__(
        self,
        number: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        now: float,
        *,
        on_frame: Callable[[Link, ServerFrame], None],
        on_end: Callable[[Link], None],
        clock: Callable[[], float],
    ) -> None:
        loop = asyncio.get_running_loop()
        self.number = number
        self.reader = reader
        self.writer = writer
        self.wire = Wire(number)
        self.welcome: asyncio.Future[Welcome] = loop.create_future()
        self.ended: asyncio.Future[None] = loop.create_future()
        self.answers: dict[int, tuple[asyncio.Future[AuthOk | Error], SignInCallback | None]] = {}
        """Sign-ins waiting for their answer, by ref, and what to do first when it is an ``auth_ok``."""
        self.bye: str | None = None
        self.bye_message: str | None = None
        """The ``bye``'s sentence for the user (a suspension's reason), if the server gave one."""
        self.error: str | None = None
        self.last_rx = now
        self.received_any = False
        """Any byte came (a server that closes without one may be speaking TLS to a plain client)."""
        self.online = False
        """Signed in on this connection."""
        self.reader_task: asyncio.Task[None] | None = None
        self.keepalive_task: asyncio.Task[None] | None = None
        self._on_frame = on_frame
        self._on_end = on_end
        self._clock = clock

    @property
    def alive(self) -> bool:
        return not self.ended.done() and not self.writer.is_closing()

    def start(self) -> None:
        self.reader_task = asyncio.create_task(self._read_loop(), name=f"chatapp-client-read-{self.number}")

    def write(self, frame: ClientFrame) -> bool:
        """Write one frame; False when the connection is closing or closed."""
        if not self.alive:
            return False
        log.debug("link %d: send %r", self.number, frame)
        self.writer.write(self.wire.send(frame))
        return True

    def answered(self, ref: int, frame: AuthOk | Error) -> None:
        """The answer to the sign-in ``ref`` came: run its callback (on ``auth_ok``) and wake its waiter."""
        pending = self.answers.pop(ref, None)
        if pending is None:
            return
        waiter, on_auth_ok = pending
        if waiter.done():
            return
        if on_auth_ok is not None and isinstance(frame, AuthOk):
            on_auth_ok(frame)
        waiter.set_result(frame)

    async def sign_in(
        self, frame: ClientFrame, ref: int, timeout: float, on_auth_ok: SignInCallback | None = None
    ) -> AuthOk | Error:
        """Write a sign-in frame and wait for the ``auth_ok`` or ``error`` carrying its ``ref``.

        ``on_auth_ok`` runs as soon as the reader sees the answer, before any
        frame after it is handled, so nothing that follows a sign-in (a replay,
        a presence) is seen in the wrong state. Raises :class:`LinkLost`; a
        server that does not answer in ``timeout`` seconds is dropped.
        """
        future: asyncio.Future[AuthOk | Error] = asyncio.get_running_loop().create_future()
        self.answers[ref] = (future, on_auth_ok)
        if not self.write(frame):
            self.answers.pop(ref, None)
            raise LinkLost(self.bye, self.error or "connection closed")
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self.answers.pop(ref, None)
            self.error = "the server did not answer"
            await self.drop()
            raise LinkLost(None, "the server did not answer in time") from None

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.reader.read(READ_CHUNK)
                if not data:
                    break
                self.last_rx = self._clock()
                self.received_any = True
                for frame in self.wire.receive_data(data):
                    log.debug("link %d: received %r", self.number, frame)
                    if isinstance(frame, Bye):
                        self.bye = frame.reason
                        self.bye_message = frame.message
                        log.info("link %d: server said bye (%s)", self.number, frame.reason)
                        return
                    try:
                        self._on_frame(self, frame)
                    except Exception:
                        log.exception("link %d: failed to handle %r", self.number, frame)
        except (ConnectionError, OSError) as exc:
            self.error = os_reason(exc)
            log.info("link %d: %s", self.number, self.error)
        finally:
            self.end()
            await self.wait_closed()

    def end(self) -> None:
        """Close the socket and fail whatever waits on it. Safe to call more than once."""
        if self.ended.done():
            return
        self.writer.close()
        if self.keepalive_task is not None and self.keepalive_task is not asyncio.current_task():
            self.keepalive_task.cancel()
        lost = LinkLost(self.bye, self.error, self.bye_message)
        _fail(self.welcome, lost)
        for waiter, _ in self.answers.values():
            _fail(waiter, lost)
        self.answers.clear()
        self.ended.set_result(None)
        self._on_end(self)

    async def drop(self) -> None:
        """Cut the connection now (no goodbye) and wait until it is closed."""
        self.writer.transport.abort()
        if self.reader_task is not None:
            await asyncio.gather(self.reader_task, return_exceptions=True)
        self.end()
        await self.wait_closed()

    async def wait_closed(self) -> None:
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            # A TLS transport cancels its close waiter when it is aborted mid-shutdown; only a
            # cancellation of this task itself is passed on.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise

    def tasks(self) -> list[asyncio.Task[None]]:
        return [task for task in (self.keepalive_task, self.reader_task) if task is not None]


def os_reason(exc: BaseException) -> str:
    """A network failure in a few words for the user."""
    if isinstance(exc, socket.gaierror):
        return "the host name could not be resolved"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "network or host unreachable"
        if exc.strerror:
            return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
        future.exception()  # retrieved: whoever awaits it still gets it; nobody gets a log line
