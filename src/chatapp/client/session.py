"""The network side of the client: connect, sign in, stay connected. No UI.

:class:`ChatSession` owns the TCP connection and speaks protocol v1 through
:mod:`chatapp.protocol` only (``encode``, ``decode_server_frame``,
``LineSplitter``). Use it from the TUI, from scripts and from benchmarks::

    async with ChatSession("127.0.0.1", 7777) as session:
        await session.connect()                 # ConnectError if the server is down
        await session.login("alice", password)  # AuthError(code, message, retry_after); takeover=True
                                                # ends a session of alice signed in elsewhere
        session.send_text("hello")              # queued while the link is down
        session.send_direct("psst", "bob")      # a direct message, acknowledged the same way
        session.request(lambda ref: Join(room="rust", ref=ref))  # any other request; returns its ref
        while True:
            event = await session.next_event()  # Message, Presence, LinkDown, ...
            if isinstance(event, SessionEnded):
                break

What it does on its own:

- answers the server's ``ping`` with ``pong`` (same ``ref``) and pings the
  server itself to measure :attr:`ChatSession.latency` and to notice a dead
  link (no traffic for a whole ping interval after a ping);
- when the link is lost after signing in, reports :class:`LinkDown`, waits
  with exponential backoff and jitter (:class:`Reconnecting` carries the
  deadline, for a countdown), reconnects and resumes with the session token,
  then reports :class:`LinkUp`; it does not reconnect after a ``bye`` whose
  reason is in :data:`chatapp.protocol.NO_RECONNECT` or when the token is no
  longer accepted (:class:`SessionEnded`);
- remembers the highest message id it has seen (``message`` and ``direct``
  frames, ``synced``) and sends it as ``last_id`` when it resumes, so the
  server replays exactly what was missed; a message id seen twice is passed on
  once;
- keeps every message it was asked to send in an *outbox* until the server's
  copy comes back with the same ``nonce`` (the acknowledgment); messages
  written while the link was down, or not acknowledged when it dropped, are
  sent again after resuming with the same nonce (at least once);
- signs in again on a fresh connection when the server closed the first one
  before the user finished typing the password (authentication timeout).

Time and randomness are injected (:class:`~chatapp.client.clock.Clock`, a
:class:`random.Random`), so tests can make backoff instant and jitter fixed.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import enum
import errno
import functools
import itertools
import logging
import random
import socket
from collections.abc import Callable
from types import TracebackType
from typing import Any

from chatapp.protocol import (
    DEFAULT_ROOM,
    LINE_TOO_LONG,
    MAX_TEXT_CHARS,
    NO_RECONNECT,
    PROTOCOL_VERSION,
    AuthOk,
    ByeReason,
    ClientFrame,
    Direct,
    Error,
    ErrorCode,
    LineSplitter,
    Login,
    Message,
    Ping,
    Pong,
    ProtocolError,
    Quit,
    Register,
    Resume,
    Send,
    SendDirect,
    ServerFrame,
    Synced,
    Welcome,
    decode_server_frame,
    encode,
)
from chatapp.protocol.frames import Bye
from chatapp.protocol.limits import MAX_FRAME_BYTES
from chatapp.protocol.rules import check_text, check_username

from .clock import Clock, SystemClock

log = logging.getLogger("chatapp.client.session")

READ_CHUNK = 64 * 1024
MAX_LINE = 1024 * 1024
"""Longest line accepted from a server (generous; the server's own frames are far smaller)."""
SEEN_IDS = 2048
"""Message ids remembered to drop duplicates (a replay overlapping what was already shown)."""


# -- errors ---------------------------------------------------------------------


class ClientError(Exception):
    """Base of every error the session raises on purpose."""


class ConnectError(ClientError):
    """The server could not be reached, or the connection ended before an answer.

    ``detail`` says why in a few words (``"connection refused"``); ``bye`` is the
    server's reason when it closed the connection with a ``bye`` frame.
    """

    def __init__(self, detail: str, *, bye: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.bye = bye


class AuthError(ClientError):
    """The server refused to sign in: ``code`` is an :class:`~chatapp.protocol.ErrorCode` value."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class SendRefused(ClientError):
    """A message was not accepted for sending (signed out, or the outbox is full)."""


class _LinkLost(Exception):
    def __init__(self, bye: str | None, error: str | None) -> None:
        super().__init__(bye or error or "connection closed")
        self.bye = bye
        self.error = error

    def to_connect_error(self) -> ConnectError:
        if self.bye is not None:
            return ConnectError(f"the server closed the connection ({self.bye})", bye=self.bye)
        return ConnectError(self.error or "the server closed the connection")


# -- state, policy and events -----------------------------------------------------


class ConnectionState(enum.StrEnum):
    DISCONNECTED = "disconnected"
    """Not connected yet (or the connection closed before signing in)."""
    CONNECTING = "connecting"
    CONNECTED = "connected"
    """Greeted by the server, not signed in."""
    ONLINE = "online"
    """Signed in; messages flow."""
    WAITING = "waiting"
    """The link was lost; waiting before the next attempt (see ``reconnect_deadline``)."""
    CLOSED = "closed"
    """Over for good: quit, replaced, kicked, session expired or closed by the program."""


@dataclasses.dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter for reconnect attempts.

    The n-th wait (n = failures so far, from 0) is ``min(maximum, initial *
    factor**n)`` shortened by a random fraction of up to ``jitter``, so many
    clients cut off at once do not come back at the same instant.
    """

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.5

    def delay(self, failures: int, rng: random.Random) -> float:
        raw = min(self.maximum, self.initial * self.factor ** min(failures, 64))
        return raw * (1.0 - self.jitter * rng.random())


@dataclasses.dataclass(eq=False, slots=True)
class Outgoing:
    """A message handed to :meth:`ChatSession.send_text` or :meth:`~ChatSession.send_direct`,
    until the server echoes it.

    ``room`` is set for a room message, ``to`` (the recipient) for a direct message.
    """

    nonce: str
    ref: int
    room: str | None
    text: str
    queued: bool = True
    """True while it is not written on the current connection (it will be after resuming)."""
    to: str | None = None

    def frame(self) -> Send | SendDirect:
        if self.to is not None:
            return SendDirect(to=self.to, text=self.text, nonce=self.nonce, ref=self.ref)
        return Send(room=self.room or DEFAULT_ROOM, text=self.text, nonce=self.nonce, ref=self.ref)


@dataclasses.dataclass(frozen=True, slots=True)
class LinkDown:
    """The connection was lost while signed in.

    ``bye`` is the server's reason if it said goodbye, ``error`` a few words
    about a network failure otherwise; ``reconnect`` says whether the session
    will try again by itself.
    """

    bye: str | None
    error: str | None
    reconnect: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class Reconnecting:
    """The next attempt is at ``deadline`` (on the session clock's ``monotonic()``)."""

    attempt: int
    delay: float
    deadline: float


@dataclasses.dataclass(frozen=True, slots=True)
class ReconnectFailed:
    """One attempt failed; another follows (a :class:`Reconnecting` event)."""

    attempt: int
    reason: str
    code: str | None = None
    retry_after: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class LinkUp:
    """Connected and resumed again after a :class:`LinkDown`."""

    welcome: Welcome
    attempt: int


@dataclasses.dataclass(frozen=True, slots=True)
class SendFailed:
    """The server refused a message (``error.code``: ``text_too_long``, ``rate_limited`` ...)."""

    outgoing: Outgoing
    error: Error


@dataclasses.dataclass(frozen=True, slots=True)
class SessionEnded:
    """The last event: the session is over and will not reconnect.

    ``bye`` is the server's reason (``"quit"`` after :meth:`ChatSession.quit`),
    ``error`` the refusal that ended it (an expired token on resume), both None
    when the program closed the session itself.
    """

    bye: str | None = None
    error: Error | None = None


SessionEvent = ServerFrame | LinkDown | Reconnecting | ReconnectFailed | LinkUp | SendFailed | SessionEnded
"""What :meth:`ChatSession.next_event` returns: frames from the server (``Message``,
``Direct``, ``Presence``, ``Joined``, ``HistoryPage``, ``Synced``, the answers to
:meth:`ChatSession.request`, ``Error`` not tied to a message being sent, ...)
and the session's own news about the connection. ``Welcome``, ``AuthOk``,
``Ping``, ``Pong`` and ``Bye`` are handled by the session itself."""


# -- one TCP connection ------------------------------------------------------------------


class _Link:
    """One TCP connection and what belongs to it alone."""

    def __init__(self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, now: float):
        loop = asyncio.get_running_loop()
        self.number = number
        self.reader = reader
        self.writer = writer
        self.splitter = LineSplitter(MAX_LINE)
        self.welcome: asyncio.Future[Welcome] = loop.create_future()
        self.ended: asyncio.Future[None] = loop.create_future()
        self.requests: dict[int, tuple[asyncio.Future[ServerFrame], Callable[[AuthOk], None] | None]] = {}
        self.bye: str | None = None
        self.error: str | None = None
        self.last_rx = now
        self.online = False
        self.reader_task: asyncio.Task[None] | None = None
        self.keepalive_task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return not self.ended.done() and not self.writer.is_closing()

    def write(self, frame: ClientFrame) -> bool:
        if not self.alive:
            return False
        log.debug("link %d: send %r", self.number, frame)
        self.writer.write(encode(frame))
        return True


def _os_reason(exc: BaseException) -> str:
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


# -- the session ---------------------------------------------------------------------------


class ChatSession:
    """A chat session with one server: see the module docstring."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        backoff: Backoff | None = None,
        connect_timeout: float = 10.0,
        request_timeout: float = 30.0,
        ping_interval: float = 20.0,
        max_outbox: int = 100,
    ) -> None:
        self.host = host
        self.port = port
        self._clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._backoff = backoff or Backoff()
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._ping_interval = ping_interval
        self._max_outbox = max_outbox

        self.state = ConnectionState.DISCONNECTED
        self.welcome: Welcome | None = None
        self.username: str | None = None
        self.latency: float | None = None
        """Round-trip time of the last answered ping, in seconds."""
        self.reconnect_deadline: float | None = None
        self.reconnect_attempt = 0
        self.ended: SessionEnded | None = None

        self.last_id: int | None = None
        """Highest message id seen; sent on resume so the server can replay what was missed."""
        self._seen_ids: collections.deque[int] = collections.deque(maxlen=SEEN_IDS)
        self._token: str | None = None
        self._events: asyncio.Queue[SessionEvent] = asyncio.Queue()
        self._refs = itertools.count(1)
        self._links = itertools.count(1)
        self._link: _Link | None = None
        self._all_links: list[_Link] = []
        self._pings: dict[int, float] = {}
        self._outbox: list[Outgoing] = []
        self._outbox_changed = asyncio.Event()
        self._wake = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._closing = False

    # -- public API -------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def max_text(self) -> int:
        return self.welcome.max_text if self.welcome is not None else MAX_TEXT_CHARS

    @property
    def outbox(self) -> tuple[Outgoing, ...]:
        """Messages not yet acknowledged by the server, oldest first."""
        return tuple(self._outbox)

    @property
    def can_resume(self) -> bool:
        return self._token is not None

    async def __aenter__(self) -> ChatSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def connect(self) -> Welcome:
        """Open the connection and wait for the server's ``welcome``.

        Raises :class:`ConnectError` when the server cannot be reached.
        """
        self._check_open()
        if self._link is not None and self._link.alive and self.welcome is not None:
            return self.welcome
        await self._open()
        assert self.welcome is not None
        return self.welcome

    async def login(self, username: str, password: str, *, takeover: bool = False) -> AuthOk:
        """Sign in to an existing account. Raises :class:`AuthError` or :class:`ConnectError`.

        With ``takeover``, a session of the account signed in elsewhere is ended
        (instead of the refusal ``already_logged_in``).
        """
        return await self._sign_in(
            lambda ref: Login(username=username, password=password, takeover=takeover or None, ref=ref)
        )

    async def register(self, username: str, password: str) -> AuthOk:
        """Create an account and sign in to it."""
        return await self._sign_in(lambda ref: Register(username=username, password=password, ref=ref))

    async def resume(self, token: str) -> AuthOk:
        """Sign in with a token from an earlier ``auth_ok``."""
        return await self._sign_in(lambda ref: Resume(token=token, ref=ref))

    def send_text(self, text: str, room: str = DEFAULT_ROOM) -> Outgoing:
        """Hand a message to ``room`` over for sending; returns at once.

        Raises :class:`~chatapp.protocol.ProtocolError` (from the shared rules:
        empty text, ``text_too_long`` against the server's ``max_text``) or
        :class:`SendRefused`. While the link is down the message waits in the
        outbox and goes out after resuming.
        """
        return self._queue(text, room=room, to=None)

    def send_direct(self, text: str, to: str) -> Outgoing:
        """Hand a direct message to the user ``to`` over for sending, like :meth:`send_text`.

        Also raises :class:`~chatapp.protocol.ProtocolError` ``invalid_username``
        when ``to`` cannot be a username.
        """
        check_username(to)
        return self._queue(text, room=None, to=to)

    def _queue(self, text: str, *, room: str | None, to: str | None) -> Outgoing:
        if self.ended is not None or self._closing:
            raise SendRefused("the session is over")
        if self.username is None:
            raise SendRefused("not signed in")
        check_text(text, self.max_text)
        max_frame = self.welcome.max_frame if self.welcome is not None else MAX_FRAME_BYTES
        nonce = f"{self._rng.getrandbits(64):016x}"
        outgoing = Outgoing(nonce=nonce, ref=next(self._refs), room=room, text=text, to=to)
        if len(encode(outgoing.frame())) > max_frame:
            raise ProtocolError(
                ErrorCode.TEXT_TOO_LONG, f"the message is larger than the server's limit of {max_frame} bytes"
            )
        if len(self._outbox) >= self._max_outbox:
            raise SendRefused(f"{len(self._outbox)} messages are already waiting to be sent")
        self._outbox.append(outgoing)
        link = self._link
        if link is not None and link.online:
            self._write_send(link, outgoing)
        return outgoing

    @property
    def online(self) -> bool:
        """Signed in and connected: requests can be sent now."""
        link = self._link
        return self.state is ConnectionState.ONLINE and link is not None and link.online and link.alive

    def request(self, build: Callable[[int], ClientFrame]) -> int:
        """Send the frame ``build(ref)`` now and return its ``ref``.

        For every request that is not a message (``join``, ``who``, ``history``,
        ...): the answer, or an ``error`` with the same ``ref``, comes as an
        event. Raises :class:`SendRefused` while not connected (requests are not
        queued: what they would answer may be stale by the time the link is back).
        """
        if self.ended is not None or self._closing:
            raise SendRefused("the session is over")
        link = self._link
        if not self.online or link is None:
            raise SendRefused("not connected")
        ref = next(self._refs)
        link.write(build(ref))
        return ref

    async def next_event(self) -> SessionEvent:
        """The next thing that happened; :class:`SessionEnded` is the last one."""
        return await self._events.get()

    def reconnect_now(self) -> bool:
        """Cut the wait before the next reconnect attempt short; False if not waiting."""
        if self.state is not ConnectionState.WAITING:
            return False
        self._wake.set()
        return True

    async def flush(self, timeout: float) -> bool:
        """Wait until every message in the outbox was acknowledged (True) or ``timeout`` passed."""
        deadline = self._clock.monotonic() + timeout
        while self._outbox:
            link = self._link
            if link is None or not link.online:
                return False
            left = deadline - self._clock.monotonic()
            if left <= 0:
                return False
            self._outbox_changed.clear()
            try:
                await asyncio.wait_for(self._outbox_changed.wait(), left)
            except TimeoutError:
                return not self._outbox
        return True

    async def quit(self, timeout: float = 3.0) -> None:
        """Say ``quit`` (the server invalidates the token), wait for its ``bye``, close."""
        link = self._link
        self._closing = True
        if link is not None and link.online and link.alive:
            link.write(Quit(ref=next(self._refs)))
            await asyncio.wait({link.ended}, timeout=timeout)
            bye = link.bye or ByeReason.QUIT
            self._end(SessionEnded(bye=bye))
        else:
            self._end(SessionEnded(bye=ByeReason.QUIT))
        await self.aclose()

    async def aclose(self) -> None:
        """Close everything now, without saying goodbye. Safe to call more than once."""
        self._closing = True
        tasks: list[asyncio.Task[None]] = []
        if self._supervisor is not None:
            tasks.append(self._supervisor)
        for link in self._all_links:
            for task in (link.keepalive_task, link.reader_task):
                if task is not None:
                    tasks.append(task)
        current = asyncio.current_task()
        tasks = [task for task in tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in self._all_links:
            self._end_link(link)
            await self._wait_closed(link)
        self._all_links.clear()
        self._end(SessionEnded())

    # -- connecting and signing in ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing or self.ended is not None:
            raise ClientError("the session is closed")

    async def _open(self) -> _Link:
        self.state = ConnectionState.CONNECTING
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=MAX_LINE), self._connect_timeout
            )
        except TimeoutError:
            self.state = ConnectionState.DISCONNECTED
            raise ConnectError("no answer (timed out)") from None
        except OSError as exc:
            self.state = ConnectionState.DISCONNECTED
            raise ConnectError(_os_reason(exc)) from None
        link = _Link(next(self._links), reader, writer, self._clock.monotonic())
        self._link = link
        self._all_links.append(link)
        link.reader_task = asyncio.create_task(
            self._read_loop(link), name=f"chatapp-client-read-{link.number}"
        )
        try:
            welcome = await asyncio.wait_for(link.welcome, self._connect_timeout)
        except TimeoutError:
            link.error = "the server did not greet the client"
            await self._drop(link)
            self.state = ConnectionState.DISCONNECTED
            raise ConnectError("the server did not send its welcome (is it a chatapp server?)") from None
        except _LinkLost as lost:
            self.state = ConnectionState.DISCONNECTED
            raise lost.to_connect_error() from None
        if welcome.version != PROTOCOL_VERSION:
            log.warning(
                "server speaks protocol version %s, this client %s", welcome.version, PROTOCOL_VERSION
            )
        self.welcome = welcome
        self.state = ConnectionState.CONNECTED
        log.info("connected to %s (%s, protocol v%s)", self.address, welcome.server, welcome.version)
        return link

    async def _drop(self, link: _Link) -> None:
        link.writer.transport.abort()
        if link.reader_task is not None:
            await asyncio.gather(link.reader_task, return_exceptions=True)
        self._end_link(link)
        await self._wait_closed(link)

    async def _request(
        self, link: _Link, frame: ClientFrame, ref: int, on_auth_ok: Callable[[AuthOk], None] | None = None
    ) -> ServerFrame:
        """Send ``frame`` and wait for the ``auth_ok`` or ``error`` carrying its ``ref``.

        ``on_auth_ok`` runs as soon as the reader sees the answer, before any
        frame after it is handled, so nothing that follows a sign-in (a replay,
        a presence) is seen in the wrong state.
        """
        future: asyncio.Future[ServerFrame] = asyncio.get_running_loop().create_future()
        link.requests[ref] = (future, on_auth_ok)
        if not link.write(frame):
            link.requests.pop(ref, None)
            raise _LinkLost(link.bye, link.error or "connection closed")
        try:
            return await asyncio.wait_for(future, self._request_timeout)
        except TimeoutError:
            link.requests.pop(ref, None)
            link.error = "the server did not answer"
            await self._drop(link)
            raise _LinkLost(None, "the server did not answer in time") from None

    async def _sign_in(self, make: Callable[[int], ClientFrame]) -> AuthOk:
        self._check_open()
        if self.state is ConnectionState.ONLINE or self._supervisor is not None:
            raise ClientError("already signed in")
        for attempt in (1, 2):
            link = self._link
            if link is None or not link.alive:
                link = await self._open()
            ref = next(self._refs)
            try:
                reply = await self._request(link, make(ref), ref, functools.partial(self._signed_in, link))
            except _LinkLost as lost:
                if attempt == 1:
                    log.info("connection closed before signing in (%s); connecting again", lost)
                    continue
                raise lost.to_connect_error() from None
            if isinstance(reply, AuthOk):
                return reply
            assert isinstance(reply, Error)
            raise AuthError(reply.code, reply.message, reply.retry_after)
        raise AssertionError("unreachable")

    def _signed_in(self, link: _Link, auth: AuthOk) -> None:
        self.username = auth.username
        if auth.token:  # a resume answers with an empty token: the one we have stays valid
            self._token = auth.token
        link.online = True
        self.state = ConnectionState.ONLINE
        self.reconnect_deadline = None
        log.info("signed in to %s as %s", self.address, auth.username)
        link.keepalive_task = asyncio.create_task(
            self._keepalive(link), name=f"chatapp-client-ping-{link.number}"
        )
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="chatapp-client-supervisor")
        for outgoing in self._outbox:
            self._write_send(link, outgoing)

    def _resumed(self, link: _Link, attempt: int, auth: AuthOk) -> None:
        self._signed_in(link, auth)
        assert self.welcome is not None
        log.info("resumed the session after %d attempt(s)", attempt)
        self._emit(LinkUp(self.welcome, attempt))

    # -- reading ----------------------------------------------------------------------------------------

    async def _read_loop(self, link: _Link) -> None:
        try:
            while True:
                data = await link.reader.read(READ_CHUNK)
                if not data:
                    break
                link.last_rx = self._clock.monotonic()
                for line in link.splitter.feed(data):
                    if line is LINE_TOO_LONG or not isinstance(line, bytes):
                        log.warning("link %d: ignored a line longer than %d bytes", link.number, MAX_LINE)
                        continue
                    try:
                        frame = decode_server_frame(line)
                    except ProtocolError as exc:
                        log.warning("link %d: ignored a frame the client does not understand: %s",
                                    link.number, exc.message)
                        continue
                    log.debug("link %d: received %r", link.number, frame)
                    if isinstance(frame, Bye):
                        link.bye = frame.reason
                        log.info("link %d: server said bye (%s)", link.number, frame.reason)
                        return
                    try:
                        self._dispatch(link, frame)
                    except Exception:
                        log.exception("link %d: failed to handle %r", link.number, frame)
        except (ConnectionError, OSError) as exc:
            link.error = _os_reason(exc)
            log.info("link %d: %s", link.number, link.error)
        finally:
            self._end_link(link)
            await self._wait_closed(link)

    def _dispatch(self, link: _Link, frame: ServerFrame) -> None:
        if isinstance(frame, Welcome):
            if not link.welcome.done():
                link.welcome.set_result(frame)
            return
        if isinstance(frame, Ping):
            link.write(Pong(ref=frame.ref))
            return
        if isinstance(frame, Pong):
            if isinstance(frame.ref, int) and frame.ref in self._pings:
                self.latency = max(0.0, self._clock.monotonic() - self._pings.pop(frame.ref))
            return
        if isinstance(frame, AuthOk | Error) and isinstance(frame.ref, int):
            pending = link.requests.pop(frame.ref, None)
            if pending is not None:
                waiter, on_auth_ok = pending
                if not waiter.done():
                    if on_auth_ok is not None and isinstance(frame, AuthOk):
                        on_auth_ok(frame)
                    waiter.set_result(frame)
                return
        if isinstance(frame, Error):
            for outgoing in self._outbox:
                if outgoing.ref == frame.ref:
                    self._remove_outgoing(outgoing)
                    self._emit(SendFailed(outgoing, frame))
                    return
            self._emit(frame)
            return
        if isinstance(frame, Message | Direct):
            if frame.nonce is not None:
                for outgoing in self._outbox:
                    if outgoing.nonce == frame.nonce:
                        self._remove_outgoing(outgoing)
                        break
            if frame.id in self._seen_ids:
                log.debug("link %d: dropped message %d, already seen", link.number, frame.id)
                return
            self._seen_ids.append(frame.id)
            self._saw_id(frame.id)
            self._emit(frame)
            return
        if isinstance(frame, Synced):
            # Everything up to here was sent. (History pages do not move last_id: a page may
            # hold a message whose live delivery, and that of older ones, is still on its way.)
            self._saw_id(frame.last_id)
        if isinstance(frame, AuthOk):
            log.info("link %d: ignored an auth_ok nobody asked for", link.number)
            return
        self._emit(frame)

    def _saw_id(self, message_id: int) -> None:
        if self.last_id is None or message_id > self.last_id:
            self.last_id = message_id

    def _end_link(self, link: _Link) -> None:
        if link.ended.done():
            return
        link.writer.close()
        if link.keepalive_task is not None and link.keepalive_task is not asyncio.current_task():
            link.keepalive_task.cancel()
        lost = _LinkLost(link.bye, link.error)
        _fail(link.welcome, lost)
        for waiter, _ in link.requests.values():
            _fail(waiter, lost)
        link.requests.clear()
        link.ended.set_result(None)
        if link is self._link and not link.online and self.state in (
            ConnectionState.CONNECTED, ConnectionState.CONNECTING
        ):
            self.state = ConnectionState.DISCONNECTED

    async def _wait_closed(self, link: _Link) -> None:
        try:
            await link.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    # -- sending ----------------------------------------------------------------------------------------

    def _write_send(self, link: _Link, outgoing: Outgoing) -> None:
        if link.write(outgoing.frame()):
            outgoing.queued = False

    def _remove_outgoing(self, outgoing: Outgoing) -> None:
        self._outbox.remove(outgoing)
        self._outbox_changed.set()

    def _emit(self, event: SessionEvent) -> None:
        self._events.put_nowait(event)

    def _end(self, event: SessionEnded) -> None:
        if self.ended is not None:
            return
        self.ended = event
        self.state = ConnectionState.CLOSED
        self.reconnect_deadline = None
        self._outbox_changed.set()
        self._emit(event)

    # -- staying connected ----------------------------------------------------------------------------

    async def _keepalive(self, link: _Link) -> None:
        while link.alive:
            sent = self._clock.monotonic()
            ref = next(self._refs)
            self._pings[ref] = sent
            while len(self._pings) > 8:
                del self._pings[next(iter(self._pings))]
            link.write(Ping(ref=ref))
            await self._clock.sleep(self._ping_interval)
            if link.alive and link.last_rx < sent:
                link.error = f"no answer from the server for {self._ping_interval:g} seconds"
                log.info("link %d: %s", link.number, link.error)
                link.writer.transport.abort()
                return

    async def _supervise(self) -> None:
        try:
            while not self._closing:
                link = self._link
                assert link is not None
                await asyncio.wait({link.ended})
                if self._closing:
                    return
                bye = link.bye
                for outgoing in self._outbox:
                    outgoing.queued = True
                if bye is not None and bye in NO_RECONNECT:
                    self._emit(LinkDown(bye=bye, error=None, reconnect=False))
                    self._end(SessionEnded(bye=bye))
                    return
                self._emit(LinkDown(bye=bye, error=link.error, reconnect=True))
                if not await self._reconnect():
                    return
        except Exception:
            log.exception("the connection supervisor failed")
            self._emit(LinkDown(bye=None, error="internal error (see the log)", reconnect=False))
            self._end(SessionEnded())

    async def _reconnect(self) -> bool:
        failures = 0
        retry_after = 0.0
        while not self._closing:
            delay = max(self._backoff.delay(failures, self._rng), retry_after)
            retry_after = 0.0
            attempt = failures + 1
            deadline = self._clock.monotonic() + delay
            self.state = ConnectionState.WAITING
            self.reconnect_deadline = deadline
            self.reconnect_attempt = attempt
            self._emit(Reconnecting(attempt=attempt, delay=delay, deadline=deadline))
            await self._pause(delay)
            if self._closing:
                return False
            self.reconnect_deadline = None
            assert self._token is not None
            try:
                link = await self._open()
                ref = next(self._refs)
                resume = Resume(token=self._token, last_id=self.last_id, ref=ref)
                on_auth_ok = functools.partial(self._resumed, link, attempt)
                reply = await self._request(link, resume, ref, on_auth_ok)
            except ConnectError as exc:
                failures += 1
                self._emit(ReconnectFailed(attempt, exc.detail))
                continue
            except _LinkLost as lost:
                failures += 1
                self._emit(ReconnectFailed(attempt, str(lost.to_connect_error())))
                continue
            if isinstance(reply, AuthOk):
                return True
            assert isinstance(reply, Error)
            if reply.code in (ErrorCode.INVALID_TOKEN, ErrorCode.AUTH_FAILED):
                log.info("the server no longer accepts the session token (%s)", reply.code)
                await self._drop(link)
                self._end(SessionEnded(error=reply))
                return False
            failures += 1
            retry_after = reply.retry_after or 0.0
            self._emit(
                ReconnectFailed(attempt, reply.message, code=reply.code, retry_after=reply.retry_after)
            )
            await self._drop(link)
        return False

    async def _pause(self, delay: float) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._clock.sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)
