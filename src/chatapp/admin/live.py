"""One question to a running server, over its control socket.

The connection speaks the protocol through its own client half
(:class:`~chatapp.protocol.connection.ClientProtocol`), signed in from the
``welcome`` on (the socket vouches for the console): the question goes out
with its ``ref``, the frame that carries the ``ref`` back is the answer, and
a ``quit`` ends the connection.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
from pathlib import Path

from chatapp.protocol import Bye, ClientFrame, Error, Quit, ServerFrame, Welcome
from chatapp.protocol.connection import BadLine, ClientProtocol
from chatapp.protocol.frame_base import Ref

ANSWER_TIMEOUT = 60.0
"""Seconds to wait for the answer (a password reset hashes; a busy server queues the hash)."""
READ_CHUNK = 64 * 1024


class NoServer(Exception):
    """Nobody answers on the control socket: no socket file, or nothing listening on it."""


class LiveFailure(Exception):
    """The server could not be asked, or did not answer; the message is one line."""


async def ask(path: Path, frame: ClientFrame, timeout: float = ANSWER_TIMEOUT) -> ServerFrame:
    """The server's answer to ``frame`` (an ``error`` included): the frame with its ``ref``."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=4 * 1024 * 1024)
    except (FileNotFoundError, ConnectionRefusedError) as error:
        raise NoServer(str(error)) from None
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ECONNREFUSED):
            raise NoServer(str(error)) from None
        hint = " (run chatapp-admin as the server's own user)" if error.errno == errno.EACCES else ""
        why = error.strerror or str(error)
        raise LiveFailure(f"cannot connect to the control socket {path}: {why}{hint}") from None
    frames = _Frames(reader)
    try:
        async with asyncio.timeout(timeout):
            await frames.expect_welcome()
            writer.write(frames.protocol.send(frame))
            answer = await frames.answer(frame.ref)
            writer.write(frames.protocol.send(Quit()))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        return answer
    except TimeoutError:
        raise LiveFailure(f"the server did not answer within {timeout:g} s") from None
    except ConnectionError as error:
        raise LiveFailure(f"the server closed the control connection: {error}") from None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class _Frames:
    """The frames the server sends, one at a time, through the protocol's client half."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader
        self.protocol = ClientProtocol(authenticated=True)
        self._received: collections.deque[ServerFrame] = collections.deque()

    async def expect_welcome(self) -> None:
        frame = await self._next()
        if not isinstance(frame, Welcome):
            kind = frame.__struct_config__.tag
            raise LiveFailure(f"the server did not greet the console: it sent {kind!r}")

    async def answer(self, ref: Ref) -> ServerFrame:
        """The frame that answers ``ref`` (an ``error`` without a ref too); nothing else is expected,
        and anything else is passed over."""
        while True:
            frame = await self._next()
            if isinstance(frame, Bye):
                raise ConnectionError(f"bye: {frame.message or frame.reason}")
            if getattr(frame, "ref", None) == ref or (isinstance(frame, Error) and frame.ref is None):
                return frame

    async def _next(self) -> ServerFrame:
        while not self._received:
            data = await self._reader.read(READ_CHUNK)
            if not data:
                self.protocol.receive_eof()
                raise ConnectionError("it closed without an answer")
            for event in self.protocol.receive_data(data):
                if isinstance(event, BadLine):
                    raise LiveFailure(f"the server sent a line that is not a frame: {event.error.message}")
                self._received.append(event.frame)
        return self._received.popleft()
