"""The network side of the client: connect, sign in, stay connected. No UI.

:class:`ChatSession` is a chat session with one server: its protocol part
(:class:`~chatapp.client.net.core.SessionCore`, no sockets: the outbox, the ids
seen, the sign-in answers) driven over TCP by its link part
(:class:`~chatapp.client.net.keeper.LinkKeeper`: connections one after
another, keep-alive pings, reconnecting with backoff and resuming). Use it
from the chat screen, from scripts and from tests::

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

It answers the server's pings, pings the server itself (:attr:`ChatSession.latency`),
resumes after a lost link and sends again what was not acknowledged, and
gives up after a goodbye that means it (replaced, kicked) or a token the server
no longer takes; see :mod:`.core` and :mod:`.keeper`.

Time and randomness are injected (:class:`~chatapp.client.clock.Clock`, a
:class:`random.Random`), so tests can make backoff instant and jitter fixed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from types import TracebackType

from chatapp.protocol import DEFAULT_ROOM, AuthOk, ClientFrame, Login, Register, Welcome

from ..clock import Clock, SystemClock
from ..files.transfers import Transfers
from .backoff import Backoff
from .core import OUTBOX_LIMIT, SessionCore
from .errors import ClientError, SendRefused
from .events import ConnectionState, Outgoing, SessionEnded, SessionEvent
from .keeper import LinkKeeper
from .link import frame_size
from .tls import TlsSettings, Trust


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
        max_outbox: int = OUTBOX_LIMIT,
        tls: TlsSettings | None = None,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        rng = rng or random.Random()
        self.core = SessionCore(frame_size=frame_size, rng=rng, max_outbox=max_outbox)
        """The protocol part: outbox, ids seen, sign-in state (no sockets)."""
        self.keeper = LinkKeeper(
            self.core, host, port, clock=self._clock, rng=rng, backoff=backoff or Backoff(),
            connect_timeout=connect_timeout, request_timeout=request_timeout, ping_interval=ping_interval,
            tls=tls,
        )
        """The link part: the connections, pings, reconnecting."""
        self.files = Transfers(self)
        """Uploads and downloads over this session's connection (``/upload``, ``/download``)."""

    # -- what it says ---------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        return self.keeper.address

    @property
    def host(self) -> str:
        return self.keeper.host

    @property
    def tls(self) -> bool:
        """The links are TLS connections."""
        return self.keeper.tls is not None

    @property
    def trust(self) -> Trust | None:
        """How the server's certificate was trusted (a CA, or a pin); None before TLS connected."""
        return self.keeper.trust

    @property
    def state(self) -> ConnectionState:
        return self.keeper.state

    @property
    def online(self) -> bool:
        """Signed in and connected: requests can be sent now."""
        return self.keeper.online

    @property
    def reconnect_deadline(self) -> float | None:
        """When the next reconnect attempt starts (on the clock's ``monotonic()``), while waiting."""
        return self.keeper.reconnect_deadline

    @property
    def reconnect_attempt(self) -> int:
        return self.keeper.reconnect_attempt

    @property
    def ended(self) -> SessionEnded | None:
        return self.keeper.ended

    @property
    def welcome(self) -> Welcome | None:
        return self.core.welcome

    @property
    def username(self) -> str | None:
        return self.core.username

    @property
    def latency(self) -> float | None:
        """Round-trip time of the last answered ping, in seconds."""
        return self.core.latency

    @property
    def last_id(self) -> int | None:
        """Highest message id seen; sent on resume so the server can replay what was missed."""
        return self.core.last_id

    @property
    def max_text(self) -> int:
        return self.core.max_text

    @property
    def outbox(self) -> tuple[Outgoing, ...]:
        """Messages not yet acknowledged by the server, oldest first."""
        return self.core.outbox

    async def __aenter__(self) -> ChatSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- signing in --------------------------------------------------------------------------------------

    async def connect(self) -> Welcome:
        """Open the connection and wait for the server's ``welcome``.

        Raises :class:`ConnectError` when the server cannot be reached.
        """
        self._check_open()
        link = self.keeper.link
        if link is not None and link.alive and self.welcome is not None:
            return self.welcome
        await self.keeper.open()
        assert self.welcome is not None
        return self.welcome

    async def login(self, username: str, password: str, *, takeover: bool = False) -> AuthOk:
        """Sign in to an existing account. Raises :class:`AuthError` or :class:`ConnectError`.

        With ``takeover``, a session of the account signed in elsewhere is ended
        (instead of the refusal ``already_logged_in``).
        """
        self._check_open()
        return await self.keeper.sign_in(
            lambda ref: Login(username=username, password=password, takeover=takeover or None, ref=ref)
        )

    async def register(self, username: str, password: str) -> AuthOk:
        """Create an account and sign in to it."""
        self._check_open()
        return await self.keeper.sign_in(lambda ref: Register(username=username, password=password, ref=ref))

    # -- sending ------------------------------------------------------------------------------------------

    def send_text(
        self, text: str, room: str = DEFAULT_ROOM, file: str | None = None, *, action: bool = False
    ) -> Outgoing:
        """Hand a message to ``room`` over for sending (sharing the uploaded ``file``; an action,
        ``/me``, with ``action``); returns at once.

        Raises :class:`~chatapp.protocol.ProtocolError` (from the shared rules:
        empty text, ``text_too_long`` against the server's ``max_text``) or
        :class:`SendRefused`. While the link is down the message waits in the
        outbox and goes out after resuming.
        """
        self._check_sending()
        outgoing = self.core.send_text(text, room, file, action=action)
        self.keeper.write_pending()
        return outgoing

    def send_direct(self, text: str, to: str, file: str | None = None, *, action: bool = False) -> Outgoing:
        """Hand a direct message to the user ``to`` over for sending, like :meth:`send_text`.

        Also raises :class:`~chatapp.protocol.ProtocolError` ``invalid_username``
        when ``to`` cannot be a username.
        """
        self._check_sending()
        outgoing = self.core.send_direct(text, to, file, action=action)
        self.keeper.write_pending()
        return outgoing

    async def wait_for_room(self) -> None:
        """Wait until the outbox has room for one more message (returns at once if it has, or the
        session is over): what a producer that must not lose input does before handing one over."""
        while len(self.outbox) >= self.core.max_outbox and self.ended is None and not self.keeper.closing:
            self.keeper.outbox_changed.clear()
            await self.keeper.outbox_changed.wait()

    def request(self, build: Callable[[int], ClientFrame]) -> int:
        """Send the frame ``build(ref)`` now and return its ``ref``.

        For every request that is not a message (``join``, ``who``, ``history``,
        ...): the answer, or an ``error`` with the same ``ref``, comes as an
        event. Raises :class:`SendRefused` while not connected (requests are not
        queued: what they would answer may be stale by the time the link is back).
        """
        self._check_sending()
        if not self.online:
            raise SendRefused("not connected")
        ref = self.core.request(build)
        self.keeper.write_pending()
        return ref

    async def next_event(self) -> SessionEvent:
        """The next thing that happened; :class:`SessionEnded` is the last one.

        The answers to file transfers' frames are taken out on the way (:meth:`Transfers.take`).
        """
        while True:
            event = await self.keeper.events.get()
            if not self.files.take(event):
                return event

    def reconnect_now(self) -> bool:
        """Cut the wait before the next reconnect attempt short; False if not waiting."""
        return self.keeper.reconnect_now()

    async def flush(self, timeout: float) -> bool:
        """Wait until every message in the outbox was acknowledged (True) or ``timeout`` passed."""
        deadline = self._clock.monotonic() + timeout
        changed = self.keeper.outbox_changed
        while self.outbox:
            link = self.keeper.link
            if link is None or not link.online:
                return False
            left = deadline - self._clock.monotonic()
            if left <= 0:
                return False
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), left)
            except TimeoutError:
                return not self.outbox
        return True

    # -- leaving --------------------------------------------------------------------------------------------

    async def quit(self, timeout: float = 3.0) -> None:
        """Say ``quit`` (the server invalidates the token), wait for its ``bye``, close."""
        await self.keeper.quit(timeout)

    async def aclose(self) -> None:
        """Close everything now, without saying goodbye. Safe to call more than once."""
        await self.files.aclose()
        await self.keeper.close()

    def _check_open(self) -> None:
        if self.keeper.closing or self.ended is not None:
            raise ClientError("the session is closed")

    def _check_sending(self) -> None:
        if self.ended is not None or self.keeper.closing:
            raise SendRefused("the session is over")
