"""Both halves of a protocol v1 connection as pure objects: bytes in, events out; frames in,
bytes out. No sockets, no asyncio, no clock.

The shape is that of websockets' and h11's protocol objects: a transport (a TCP
stream today, a WebSocket message stream or an IRC gateway later) feeds what it
read to :meth:`receive_data` and writes what the object returns; everything about
the protocol itself — line framing and its limit, decoding, which frames each state
allows (:mod:`.states`), the budgets for garbage and for frames before signing in,
the goodbye — happens here, so it is tested in memory and shared by every transport.

:class:`ServerProtocol` hands out one event at a time (:meth:`ServerProtocol.next_event`):
whether a frame is allowed depends on the state *after* the frames before it were
handled (a client may send ``login`` and ``send`` in one packet), so events are
classified when taken, not when the bytes arrive. :class:`ClientProtocol` returns the
events of each chunk at once: a client's state moves only with what the server says.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from .codec import decode_client_frame, decode_server_frame, encode
from .errors import ErrorCode, LocalProtocolError, ProtocolError
from .frame_base import Ref
from .frames import AuthOk, Bye, ClientFrame, Error, Frame, ServerFrame, Welcome
from .framing import LINE_TOO_LONG, LineSplitter
from .reasons import ByeReason
from .states import CLIENT_MAY_SEND, SERVER_MAY_SEND, State, refusal

CLIENT_LINE_MAX = 1024 * 1024
"""Longest line a client accepts from a server: generous, as a server may announce a larger
``max_frame`` than the default; its own frames are far smaller."""

_GARBAGE = frozenset({ErrorCode.BAD_FRAME, ErrorCode.UNKNOWN_TYPE, ErrorCode.FRAME_TOO_LARGE})
"""Refusals that mean the peer sends garbage; a run of them ends the connection."""


@dataclass(frozen=True, slots=True)
class FrameReceived:
    """A frame the state allows: handle it."""

    frame: ClientFrame


@dataclass(frozen=True, slots=True)
class FrameRefused:
    """A line that is not a frame this state allows: answer it with :meth:`ServerProtocol.refuse`."""

    error: ProtocolError


@dataclass(frozen=True, slots=True)
class CloseRequested:
    """The peer used up a budget: say :meth:`ServerProtocol.close` with this reason."""

    reason: ByeReason


ServerEvent = FrameReceived | FrameRefused | CloseRequested


class ServerProtocol:
    """The server's half of one connection."""

    __slots__ = (
        "_splitter",
        "_lines",
        "_state",
        "_max_frame",
        "_max_unauthenticated",
        "_max_invalid",
        "_unauthenticated",
        "_garbage_streak",
    )

    def __init__(self, *, max_frame: int, max_unauthenticated_frames: int, max_invalid_frames: int) -> None:
        self._splitter = LineSplitter(max_frame)
        self._lines: collections.deque[bytes | object] = collections.deque()
        self._state = State.OPENING
        self._max_frame = max_frame
        self._max_unauthenticated = max_unauthenticated_frames
        self._max_invalid = max_invalid_frames
        self._unauthenticated = 0
        self._garbage_streak = 0

    @property
    def state(self) -> State:
        return self._state

    def welcome(self, frame: Welcome, *, authenticated: bool = False) -> bytes:
        """The first frame of every connection; from now on the client may sign in.

        ``authenticated``: the transport vouches for who the client is already (the server's own
        control socket, which only its operating-system user can open): the connection starts
        signed in, with no ``auth_ok``, and the frames that sign in are refused.
        """
        data = self.send(frame)
        self._state = State.AUTHENTICATED if authenticated else State.GREETED
        return data

    def signed_in(self, frame: AuthOk) -> bytes:
        """The answer to a successful sign-in; from now on the client's other frames are allowed."""
        data = self.send(frame)
        self._state = State.AUTHENTICATED
        return data

    def send(self, frame: ServerFrame) -> bytes:
        """``frame`` as bytes to write; :class:`LocalProtocolError` if this state may not send it."""
        if type(frame) not in SERVER_MAY_SEND[self._state]:
            raise LocalProtocolError(f"a server may not send {type(frame).__name__} when {self._state.value}")
        return encode(frame)

    def close(self, reason: ByeReason, message: str | None = None) -> bytes:
        """The goodbye (empty if it was said already), with ``message`` (a sentence for the user) if
        given; nothing is received after it."""
        if self._state is State.CLOSED:
            return b""
        self._state = State.CLOSED
        self._lines.clear()
        return encode(Bye(reason=reason.value, message=message))

    def connection_lost(self) -> None:
        """The link is gone without a goodbye: nothing more is received, said or sent."""
        self._state = State.CLOSED
        self._lines.clear()

    def receive_data(self, data: bytes) -> None:
        """Take what the transport read; the frames in it come out of :meth:`next_event`."""
        if self._state is not State.CLOSED:
            self._lines.extend(self._splitter.feed(data))

    def receive_message(self, data: bytes) -> None:
        """Take one message of a message-framed transport (a WebSocket text message): exactly one
        frame, judged like a line (its trailing newline, if any, is not part of it). A message
        over the frame limit is refused as too large; one that is not exactly one frame (empty,
        two frames, not JSON) as a bad frame: the same refusals, counted the same way, as a line."""
        if self._state is State.CLOSED:
            return
        if data.endswith(b"\n"):
            data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
        self._lines.append(LINE_TOO_LONG if len(data) > self._max_frame else data)

    def next_event(self) -> ServerEvent | None:
        """The next event from what was received, judged by the state as it is now; None when
        everything received so far has been taken."""
        if not self._lines or self._state is State.CLOSED:
            return None
        line = self._lines.popleft()
        if line is LINE_TOO_LONG:
            return FrameRefused(
                ProtocolError(ErrorCode.FRAME_TOO_LARGE, f"frames are limited to {self._max_frame} bytes")
            )
        assert isinstance(line, bytes)
        try:
            frame = decode_client_frame(line)
        except ProtocolError as error:
            return FrameRefused(error)
        if self._state is State.GREETED:
            self._unauthenticated += 1
            if self._unauthenticated > self._max_unauthenticated:
                return CloseRequested(ByeReason.TOO_MANY_UNAUTHENTICATED)
        refused = refusal(self._state, type(frame))
        if refused is not None:
            refused.ref = frame.ref
            return FrameRefused(refused)
        return FrameReceived(frame)

    def handled(self) -> None:
        """A frame was handled without a refusal: the run of garbage, if any, is over."""
        self._garbage_streak = 0

    def refuse(self, error: ProtocolError, ref: Ref = None) -> tuple[bytes, ByeReason | None]:
        """The ``error`` frame answering a refused frame (``ref``: the frame's, if it had one), and
        the reason to close when this refusal ends a run of garbage that went on too long."""
        if self._state is State.CLOSED:
            return b"", None
        frame = Error(
            code=error.code.value,
            message=error.message,
            ref=ref if ref is not None else error.ref,
            retry_after=error.retry_after,
            until=error.until,
            limit=error.limit,
            over=error.over,
            offset=error.offset,
        )
        data = encode(frame)
        if error.code not in _GARBAGE:
            self._garbage_streak = 0
            return data, None
        self._garbage_streak += 1
        return data, ByeReason.TOO_MANY_INVALID if self._garbage_streak >= self._max_invalid else None


@dataclass(frozen=True, slots=True)
class ServerFrameReceived:
    frame: ServerFrame
    size: int = 0
    """The frame's line in bytes, without the newline: what a frame limit is measured on."""


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line from the server that is not a frame (or one its state does not allow); the client
    goes on without it."""

    error: ProtocolError


ClientEvent = ServerFrameReceived | BadLine


class ClientProtocol:
    """The client's half of one connection.

    ``strict=False`` lets the caller send any frame in any state (a test probe that
    checks how the server refuses); the state is still followed.
    """

    __slots__ = ("_splitter", "_state", "_strict", "_authenticated", "welcome_frame", "bye_reason")

    def __init__(
        self, *, max_line: int = CLIENT_LINE_MAX, strict: bool = True, authenticated: bool = False
    ) -> None:
        """``authenticated``: the connection is signed in from the ``welcome`` on (the server's
        control socket: see :meth:`ServerProtocol.welcome`)."""
        self._splitter = LineSplitter(max_line)
        self._state = State.OPENING
        self._strict = strict
        self._authenticated = authenticated
        self.welcome_frame: Welcome | None = None
        self.bye_reason: str | None = None

    @property
    def state(self) -> State:
        return self._state

    def send(self, frame: ClientFrame) -> bytes:
        """``frame`` as bytes to write; :class:`LocalProtocolError` if this state may not send it."""
        if self._strict and type(frame) not in CLIENT_MAY_SEND[self._state]:
            raise LocalProtocolError(f"a client may not send {type(frame).__name__} when {self._state.value}")
        return encode(frame)

    def receive_data(self, data: bytes) -> list[ClientEvent]:
        events: list[ClientEvent] = []
        for line in self._splitter.feed(data):
            if self._state is State.CLOSED:
                break
            if line is LINE_TOO_LONG:
                too_long = ProtocolError(ErrorCode.FRAME_TOO_LARGE, "a line over the frame limit")
                events.append(BadLine(too_long))
                continue
            assert isinstance(line, bytes)
            try:
                frame = decode_server_frame(line)
            except ProtocolError as error:
                events.append(BadLine(error))
                continue
            if type(frame) not in SERVER_MAY_SEND[self._state]:
                events.append(BadLine(_unexpected(frame, self._state)))
                continue
            self._follow(frame)
            events.append(ServerFrameReceived(frame, len(line)))
        return events

    def receive_eof(self) -> None:
        """The server closed the connection (with or without a ``bye``)."""
        self._state = State.CLOSED

    def _follow(self, frame: ServerFrame) -> None:
        if isinstance(frame, Welcome):
            self.welcome_frame = frame
            self._state = State.AUTHENTICATED if self._authenticated else State.GREETED
        elif isinstance(frame, AuthOk):
            self._state = State.AUTHENTICATED
        elif isinstance(frame, Bye):
            self.bye_reason = frame.reason
            self._state = State.CLOSED


def _unexpected(frame: Frame, state: State) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_FRAME, f"the server sent {type(frame).__name__} when {state.value}")
