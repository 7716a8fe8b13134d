"""The link part of a chat session: connections one after another, kept alive, taken up again.

:class:`LinkKeeper` opens TCP connections (:class:`~chatapp.client.net.link.Link`),
signs in on them, and drives the session's protocol part
(:class:`~chatapp.client.net.core.SessionCore`) with what they read: it writes
what the core has to send and hands out what the core says happened. On its
own it:

- pings the server to measure the round trip and to notice a dead link (no
  traffic for a whole ping interval after a ping);
- when the link is lost after signing in, reports :class:`LinkDown`, waits
  with exponential backoff and jitter (:class:`Reconnecting` carries the
  deadline, for a countdown), reconnects and resumes with the session token
  and the highest message id seen, then reports :class:`LinkUp`; the core sends
  again what was not acknowledged. It does not reconnect after a ``bye``
  whose reason is in :data:`chatapp.protocol.NO_RECONNECT` or when the token
  is no longer accepted (:class:`SessionEnded`);
- signs in again on a fresh connection when the server closed the first one
  before the user finished typing the password (authentication timeout).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import random
from collections.abc import Callable

from chatapp.protocol import (
    NO_RECONNECT,
    PROTOCOL_VERSION,
    AuthOk,
    ByeReason,
    ClientFrame,
    ErrorCode,
    Quit,
    ServerFrame,
    Welcome,
)

from ..clock import Clock
from .backoff import Backoff
from .core import SessionCore, SignInAnswer
from .errors import AuthError, ClientError, ConnectError
from .events import (
    ConnectionState,
    LinkDown,
    LinkUp,
    ReconnectFailed,
    Reconnecting,
    SessionEnded,
    SessionEvent,
)
from .link import MAX_LINE, Link, LinkLost, os_reason
from .tls import TlsSettings, Trust, TrustError, open_tls

log = logging.getLogger("chatapp.client.session")


def connect_error(lost: LinkLost) -> ConnectError:
    if lost.bye is not None:
        return ConnectError(
            f"the server closed the connection ({lost.bye})", bye=lost.bye, bye_message=lost.bye_message
        )
    return ConnectError(lost.error or "the server closed the connection")


class LinkKeeper:
    """Keeps the session ``core`` connected to ``host``:``port``: see the module docstring."""

    def __init__(
        self,
        core: SessionCore,
        host: str,
        port: int,
        *,
        clock: Clock,
        rng: random.Random,
        backoff: Backoff,
        connect_timeout: float,
        request_timeout: float,
        ping_interval: float,
        tls: TlsSettings | None = None,
    ) -> None:
        self.core = core
        self.host = host
        self.port = port
        self._clock = clock
        self._rng = rng
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._ping_interval = ping_interval
        self.tls = tls
        """TLS on, and how to trust the server; None for a plain connection."""
        self.trust: Trust | None = None
        """How the first TLS connection was trusted; every reconnect must be trusted the same way."""

        self.state = ConnectionState.DISCONNECTED
        self.reconnect_deadline: float | None = None
        self.reconnect_attempt = 0
        self.ended: SessionEnded | None = None
        self.closing = False
        """Leaving: nothing reconnects any more."""
        self.link: Link | None = None
        """The current connection (the latest one opened)."""
        self.events: asyncio.Queue[SessionEvent] = asyncio.Queue()
        self.outbox_changed = asyncio.Event()
        """Set when a message left the outbox (acknowledged or refused) or the session ended."""
        self._numbers = itertools.count(1)
        self._all_links: list[Link] = []
        self._wake = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._release: asyncio.Task[None] | None = None
        """Waits out the server's ``retry_after`` (``core.hold_until``), then lets the outbox go on."""

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def online(self) -> bool:
        """Signed in and connected: requests can be sent now."""
        link = self.link
        return self.state is ConnectionState.ONLINE and link is not None and link.online and link.alive

    # -- connecting and signing in ------------------------------------------------------------------------

    async def open(self) -> Link:
        """A new connection, greeted by the server. Raises :class:`ConnectError`."""
        self.state = ConnectionState.CONNECTING
        try:
            if self.tls is not None:
                reader, writer, trust = await open_tls(
                    self.host, self.port, self.address, self.tls, self.trust, self._connect_timeout
                )
                self.trust = trust
            else:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(self.host, self.port, limit=MAX_LINE), self._connect_timeout
                )
        except ConnectError:
            self.state = ConnectionState.DISCONNECTED
            raise
        except TimeoutError:
            self.state = ConnectionState.DISCONNECTED
            raise ConnectError("no answer (timed out)") from None
        except OSError as exc:
            self.state = ConnectionState.DISCONNECTED
            raise ConnectError(os_reason(exc)) from None
        link = Link(
            next(self._numbers), reader, writer, self._clock.monotonic(),
            on_frame=self._received, on_end=self._link_ended, clock=self._clock.monotonic,
        )
        self.link = link
        self._all_links.append(link)
        link.start()
        try:
            welcome = await asyncio.wait_for(link.welcome, self._connect_timeout)
        except TimeoutError:
            link.error = "the server did not greet the client"
            await link.drop()
            self.state = ConnectionState.DISCONNECTED
            raise ConnectError(f"the server did not send its welcome ({self._not_chatapp()})") from None
        except LinkLost as lost:
            self.state = ConnectionState.DISCONNECTED
            if lost.bye is None and self.tls is None and not link.received_any:
                silent = f"the server closed the connection without a word ({self._not_chatapp()})"
                raise ConnectError(silent) from None
            raise connect_error(lost) from None
        if welcome.version != PROTOCOL_VERSION:
            log.warning(
                "server speaks protocol version %s, this client %s", welcome.version, PROTOCOL_VERSION
            )
        self.state = ConnectionState.CONNECTED
        log.info("connected to %s (%s, protocol v%s)", self.address, welcome.server, welcome.version)
        return link

    def _not_chatapp(self) -> str:
        if self.tls is None:
            return "is this a TLS port? --tls connects with TLS; or is it not a chatapp server?"
        return "is it a chatapp server?"

    async def sign_in(self, make: Callable[[int], ClientFrame]) -> AuthOk:
        """Sign in with the frame ``make(ref)``; on a new connection if the server closed the first one.

        Raises :class:`AuthError` (refused) or :class:`ConnectError`.
        """
        if self.state is ConnectionState.ONLINE or self._supervisor is not None:
            raise ClientError("already signed in")
        for attempt in (1, 2):
            link = self.link
            if link is None or not link.alive:
                link = await self.open()
            frame = self.core.sign_in(make)
            assert isinstance(frame.ref, int)
            try:
                reply = await link.sign_in(
                    frame, frame.ref, self._request_timeout, functools.partial(self._signed_in, link)
                )
            except LinkLost as lost:
                if attempt == 1:
                    log.info("connection closed before signing in (%s); connecting again", lost)
                    continue
                raise connect_error(lost) from None
            if isinstance(reply, AuthOk):
                return reply
            raise AuthError(reply.code, reply.message, reply.retry_after, reply.until)
        raise AssertionError("unreachable")

    def _signed_in(self, link: Link, auth: AuthOk) -> None:
        link.online = True
        self.state = ConnectionState.ONLINE
        self.reconnect_deadline = None
        log.info("signed in to %s as %s", self.address, auth.username)
        link.keepalive_task = asyncio.create_task(
            self._keepalive(link), name=f"chatapp-client-ping-{link.number}"
        )
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="chatapp-client-supervisor")

    def _resumed(self, link: Link, attempt: int, auth: AuthOk) -> None:
        self._signed_in(link, auth)
        assert self.core.welcome is not None
        log.info("resumed the session after %d attempt(s)", attempt)
        self.emit(LinkUp(self.core.welcome, attempt))

    # -- between the core and the connection --------------------------------------------------------------

    def _received(self, link: Link, frame: ServerFrame) -> None:
        """One frame read on ``link``: through the core, then out as writes and events."""
        before = len(self.core.outbox)
        self.core.receive(frame, self._clock.monotonic())
        self.write_pending(link)
        for event in self.core.events_received():
            if isinstance(event, Welcome):
                if not link.welcome.done():
                    link.welcome.set_result(event)
            elif isinstance(event, SignInAnswer):
                link.answered(event.ref, event.frame)
            else:
                self.emit(event)
        if len(self.core.outbox) != before:
            self.outbox_changed.set()
        if self.core.hold_until is not None and self._release is None:
            self._release = asyncio.create_task(self._release_later(), name="chatapp-client-pacing")

    def write_pending(self, link: Link | None = None) -> None:
        """Write what the core has to send, on ``link`` (default: the current one)."""
        link = link or self.link
        for frame in self.core.frames_to_send():
            if link is not None:
                link.write(frame)

    async def _release_later(self) -> None:
        """A message was refused for the rate: wait as long as the server said, then send it again."""
        try:
            while (hold := self.core.hold_until) is not None:
                await self._clock.sleep(max(0.0, hold - self._clock.monotonic()))
                self.core.release(self._clock.monotonic())
            self.write_pending()
        finally:
            self._release = None

    def _link_ended(self, link: Link) -> None:
        if link is not self.link:
            return
        self.core.link_lost()
        if not link.online and self.state in (ConnectionState.CONNECTED, ConnectionState.CONNECTING):
            self.state = ConnectionState.DISCONNECTED

    def emit(self, event: SessionEvent) -> None:
        self.events.put_nowait(event)

    def end(self, event: SessionEnded) -> None:
        """The session is over: ``event`` is the last one handed out."""
        if self.ended is not None:
            return
        self.ended = event
        self.core.close()
        self.state = ConnectionState.CLOSED
        self.reconnect_deadline = None
        self.outbox_changed.set()
        self.emit(event)

    # -- leaving ----------------------------------------------------------------------------------------

    async def quit(self, timeout: float) -> None:
        """Say ``quit`` if signed in, wait (at most ``timeout``) for the server's ``bye``, close."""
        link = self.link
        self.closing = True
        if link is not None and link.online and link.alive:
            link.write(Quit(ref=self.core.next_ref()))
            await asyncio.wait({link.ended}, timeout=timeout)
            self.end(SessionEnded(bye=link.bye or ByeReason.QUIT))
        else:
            self.end(SessionEnded(bye=ByeReason.QUIT))
        await self.close()

    async def close(self) -> None:
        """Close everything now, without saying goodbye. Safe to call more than once."""
        self.closing = True
        tasks: list[asyncio.Task[None]] = []
        if self._supervisor is not None:
            tasks.append(self._supervisor)
        if self._release is not None:
            tasks.append(self._release)
        for link in self._all_links:
            tasks.extend(link.tasks())
        current = asyncio.current_task()
        tasks = [task for task in tasks if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in self._all_links:
            link.end()
            await link.wait_closed()
        self._all_links.clear()
        self.end(SessionEnded())

    # -- staying connected ---------------------------------------------------------------------------------

    def reconnect_now(self) -> bool:
        """Cut the wait before the next reconnect attempt short; False if not waiting."""
        if self.state is not ConnectionState.WAITING:
            return False
        self._wake.set()
        return True

    async def _keepalive(self, link: Link) -> None:
        while link.alive:
            sent = self._clock.monotonic()
            self.core.ping(sent)
            self.write_pending(link)
            await self._clock.sleep(self._ping_interval)
            if link.alive and link.last_rx < sent:
                link.error = f"no answer from the server for {self._ping_interval:g} seconds"
                log.info("link %d: %s", link.number, link.error)
                link.writer.transport.abort()
                return

    async def _supervise(self) -> None:
        try:
            while not self.closing:
                link = self.link
                assert link is not None
                await asyncio.wait({link.ended})
                if self.closing:
                    return
                bye, said = link.bye, link.bye_message
                if bye is not None and bye in NO_RECONNECT:
                    self.emit(LinkDown(bye=bye, error=None, reconnect=False, bye_message=said))
                    self.end(SessionEnded(bye=bye, bye_message=said))
                    return
                self.emit(LinkDown(bye=bye, error=link.error, reconnect=True, bye_message=said))
                if not await self._reconnect():
                    return
        except Exception:
            log.exception("the connection supervisor failed")
            self.emit(LinkDown(bye=None, error="internal error (see the log)", reconnect=False))
            self.end(SessionEnded())

    async def _reconnect(self) -> bool:
        failures = 0
        retry_after = 0.0
        while not self.closing:
            delay = max(self._backoff.delay(failures, self._rng), retry_after)
            retry_after = 0.0
            attempt = failures + 1
            deadline = self._clock.monotonic() + delay
            self.state = ConnectionState.WAITING
            self.reconnect_deadline = deadline
            self.reconnect_attempt = attempt
            self.emit(Reconnecting(attempt=attempt, delay=delay, deadline=deadline))
            await self._pause(delay)
            if self.closing:
                return False
            self.reconnect_deadline = None
            try:
                link = await self.open()
                resume = self.core.resume()
                assert isinstance(resume.ref, int)
                on_auth_ok = functools.partial(self._resumed, link, attempt)
                reply = await link.sign_in(resume, resume.ref, self._request_timeout, on_auth_ok)
            except TrustError as exc:  # never retried: a changed certificate is not a network hiccup
                log.warning("reconnect refused: %s", exc.detail)
                self.emit(ReconnectFailed(attempt, exc.detail))
                self.end(SessionEnded(refused=exc.detail))
                return False
            except (ConnectError, LinkLost) as exc:
                bye = exc.bye
                if bye is not None and bye in NO_RECONNECT:  # an address ban: refused before signing in
                    self.end(SessionEnded(bye=bye, bye_message=exc.bye_message))
                    return False
                failures += 1
                detail = exc.detail if isinstance(exc, ConnectError) else str(connect_error(exc))
                self.emit(ReconnectFailed(attempt, detail))
                continue
            if isinstance(reply, AuthOk):
                return True
            if reply.code in (ErrorCode.INVALID_TOKEN, ErrorCode.AUTH_FAILED, ErrorCode.SUSPENDED):
                log.info("the server no longer accepts the session token (%s)", reply.code)
                await link.drop()
                self.end(SessionEnded(error=reply))
                return False
            failures += 1
            retry_after = reply.retry_after or 0.0
            self.emit(ReconnectFailed(attempt, reply.message, code=reply.code, retry_after=reply.retry_after))
            await link.drop()
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
