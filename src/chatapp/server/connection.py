"""One client connection, from accept to close.

A connection reads chunks, splits them into lines, decodes each line once and
dispatches the frame through one table keyed by (state, frame type). It owns
its socket's life — timeouts, keep-alive, per-connection limits, the goodbye —
and nothing else: who is online is the hub's business, accounts are the
authenticator's, persistence is the store's.

States: ``GREETED`` (welcome sent, not signed in) → ``AUTHENTICATED`` →
``CLOSING``. Every refusal is a :class:`ProtocolError` turned into an
``error`` frame in :meth:`Connection._handle_line`, the one place that does so.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from chatapp.clock import monotonic
from chatapp.protocol import (
    LINE_TOO_LONG,
    PROTOCOL_VERSION,
    AuthOk,
    Bye,
    ByeReason,
    ClientFrame,
    Error,
    ErrorCode,
    Frame,
    LineSplitter,
    Login,
    Ping,
    Pong,
    ProtocolError,
    Quit,
    Register,
    Resume,
    Send,
    Welcome,
    decode_client_frame,
    encode,
)
from chatapp.protocol.rules import check_nonce, check_room, check_text
from chatapp.server import activity
from chatapp.server.auth import Authenticator, SignedIn
from chatapp.server.config import Config
from chatapp.server.hub import Hub
from chatapp.server.messages import MessageLog
from chatapp.server.outbox import Flusher, Outbox
from chatapp.server.ratelimit import TokenBucket
from chatapp.server.store import UserRecord

log = logging.getLogger("chatapp.connection")

READ_CHUNK = 256 * 1024

# Errors that mean the peer is sending garbage; a run of them closes the connection.
_GARBAGE = frozenset({ErrorCode.BAD_FRAME, ErrorCode.UNKNOWN_TYPE, ErrorCode.FRAME_TOO_LARGE})


class State(enum.Enum):
    GREETED = "greeted"
    AUTHENTICATED = "authenticated"
    CLOSING = "closing"


@dataclass(frozen=True, slots=True)
class Services:
    """What every connection shares, built once by the app."""

    config: Config
    hub: Hub
    auth: Authenticator
    messages: MessageLog
    flusher: Flusher


Handler = Callable[["Connection", Any], Awaitable[None]]


class Connection:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, services: Services
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._services = services
        self._config = services.config
        # No isinstance check: uvloop's transports do not subclass asyncio's, but have its methods.
        transport = writer.transport
        self._transport = transport
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.address: str = str(peer[0])
        self.peer = f"{peer[0]}:{peer[1]}"
        self._loop = asyncio.get_running_loop()
        self._outbox = Outbox(transport, self._config.send_queue_limit, services.flusher, self._on_overflow)
        self._splitter = LineSplitter(self._config.max_frame)
        self._state = State.GREETED
        self._signed_in: SignedIn | None = None
        self._frames_before_auth = 0
        self._garbage_streak = 0
        self._send_bucket = TokenBucket(self._config.send_rate, self._config.send_burst, monotonic())
        self._last_received = monotonic()
        self._pinged = False
        self._end_reason = "disconnect"
        self._revoke = False
        self._handed_over = False  # a resume of this same session took over; the session row lives on
        self._auth_timer: asyncio.TimerHandle | None = None
        self._keepalive_timer: asyncio.TimerHandle | None = None
        self._set_nodelay()

    # -- the Member interface the hub uses ------------------------------------

    @property
    def user_id(self) -> int:
        assert self._signed_in is not None
        return self._signed_in.user_id

    @property
    def username(self) -> str:
        assert self._signed_in is not None
        return self._signed_in.username

    def deliver(self, data: bytes) -> None:
        self._outbox.push(data)

    # -- life cycle -----------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def closing(self) -> bool:
        # A method, not a comparison inline: handlers change the state while the loop awaits.
        return self._state is State.CLOSING

    async def run(self) -> None:
        activity.record("connect", addr=self.peer)
        config = self._config
        self.send(
            Welcome(
                server=config.server_name,
                version=PROTOCOL_VERSION,
                max_frame=config.max_frame,
                max_text=config.max_text,
            )
        )
        self._auth_timer = self._loop.call_later(config.auth_timeout, self._on_auth_timeout)
        self._keepalive_timer = self._loop.call_later(config.ping_interval, self._keepalive)
        try:
            while not self.closing:
                data = await self._reader.read(READ_CHUNK)
                if not data:
                    break
                self._last_received = monotonic()
                self._pinged = False
                for line in self._splitter.feed(data):
                    if self.closing:
                        break
                    await self._handle_line(line)
        except (ConnectionError, OSError):
            pass
        finally:
            await self._finish()

    def close(self, reason: ByeReason, *, end_reason: str | None = None, revoke: bool = False) -> None:
        """Say goodbye and close. Safe to call more than once; the first reason wins."""
        if self._state is State.CLOSING:
            return
        self._state = State.CLOSING
        self._end_reason = end_reason or reason.name.lower()
        self._revoke = revoke
        self._outbox.push_final(encode(Bye(reason=reason.value)))
        self._outbox.flush()
        self._close_transport()

    def _close_transport(self) -> None:
        self._transport.close()
        # A peer that does not read never lets close() finish flushing: abort after a grace period.
        if self._transport.get_write_buffer_size():
            self._loop.call_later(self._config.close_grace, self._transport.abort)

    async def _finish(self) -> None:
        if self._state is not State.CLOSING:
            self._state = State.CLOSING
            self._close_transport()
        for timer in (self._auth_timer, self._keepalive_timer):
            if timer is not None:
                timer.cancel()
        signed = self._signed_in
        if signed is not None and not self._handed_over:
            self._services.hub.detach(self)
            try:
                await self._services.auth.end_session(
                    signed.session_id, self._end_reason, revoke=self._revoke
                )
            except Exception:
                log.exception("could not end session %s", signed.session_id)
        activity.record(
            "disconnect", user=signed.username if signed else None, addr=self.peer, reason=self._end_reason
        )

    def _set_nodelay(self) -> None:
        # Chat is many small writes: never let Nagle hold one back waiting for an ACK.
        sock = self._writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    # -- timers ---------------------------------------------------------------

    def _on_auth_timeout(self) -> None:
        if self._state is State.GREETED:
            self.close(ByeReason.AUTH_TIMEOUT)

    def _keepalive(self) -> None:
        if self._state is State.CLOSING:
            return
        config = self._config
        idle = monotonic() - self._last_received
        if idle >= config.ping_interval + config.ping_timeout:
            self.close(ByeReason.IDLE_TIMEOUT)
            return
        if idle >= config.ping_interval and not self._pinged:
            self._pinged = True
            self.send(Ping(ref="keepalive"))
        if self._pinged:
            delay = config.ping_interval + config.ping_timeout - idle
        else:
            delay = config.ping_interval - idle
        self._keepalive_timer = self._loop.call_later(max(delay, 0.05), self._keepalive)

    def _on_overflow(self) -> None:
        activity.record(
            "send_queue_exceeded",
            logging.WARNING,
            user=self._signed_in.username if self._signed_in else None,
            addr=self.peer,
        )
        self.close(ByeReason.SEND_QUEUE_EXCEEDED)

    # -- frames in ------------------------------------------------------------

    def send(self, frame: Frame) -> None:
        self._outbox.push(encode(frame))

    async def _handle_line(self, line: bytes | object) -> None:
        ref = None
        try:
            if line is LINE_TOO_LONG:
                raise ProtocolError(
                    ErrorCode.FRAME_TOO_LARGE, f"frames are limited to {self._config.max_frame} bytes"
                )
            assert isinstance(line, bytes)
            frame = decode_client_frame(line)
            ref = frame.ref
            if self._state is State.GREETED:
                self._frames_before_auth += 1
                if self._frames_before_auth > self._config.max_unauthenticated_frames:
                    self.close(ByeReason.TOO_MANY_UNAUTHENTICATED)
                    return
            await _DISPATCH[self._state][type(frame)](self, frame)
            self._garbage_streak = 0
        except ProtocolError as exc:
            self._refuse(exc, ref if ref is not None else exc.ref)
        except Exception:
            log.exception("unexpected error handling a frame from %s", self.peer)
            self._refuse(
                ProtocolError(ErrorCode.SERVER_ERROR, "the server could not handle that; try again"), ref
            )

    def _refuse(self, exc: ProtocolError, ref: str | int | None) -> None:
        if self._state is State.CLOSING:
            return
        self.send(Error(code=exc.code.value, message=exc.message, ref=ref, retry_after=exc.retry_after))
        if exc.code in _GARBAGE:
            self._garbage_streak += 1
            if self._garbage_streak >= self._config.max_invalid_frames:
                self.close(ByeReason.TOO_MANY_INVALID)
        else:
            self._garbage_streak = 0

    # -- handlers -------------------------------------------------------------

    async def _on_register(self, frame: Register) -> None:
        user = await self._services.auth.register(frame.username, frame.password, self.address)
        await self._open_session(user, frame.ref, "register")

    async def _on_login(self, frame: Login) -> None:
        user = await self._services.auth.login(frame.username, frame.password, self.address)
        await self._open_session(user, frame.ref, "login")

    async def _on_resume(self, frame: Resume) -> None:
        auth = self._services.auth
        signed = await auth.check_token(frame.token, self.address)
        self._check_duplicate(signed)
        await auth.reopen_session(signed, self.peer)
        self._become(signed, frame.ref, "resume")

    async def _open_session(self, user: UserRecord, ref: str | int | None, event: str) -> None:
        self._check_duplicate_user(user.id)
        signed = await self._services.auth.open_session(user, self.peer)
        try:
            # Another login of this account may have finished while we awaited the database.
            self._check_duplicate(signed)
        except ProtocolError:
            await self._services.auth.end_session(signed.session_id, "rejected", revoke=True)
            raise
        self._become(signed, ref, event)

    def _check_duplicate_user(self, user_id: int) -> None:
        current = self._services.hub.online(user_id)
        if current is not None and self._config.duplicate_login == "reject":
            raise ProtocolError(
                ErrorCode.ALREADY_LOGGED_IN, "this account is already signed in elsewhere; quit there first"
            )

    def _check_duplicate(self, signed: SignedIn) -> None:
        current = self._services.hub.online(signed.user_id)
        # The same session coming back (a reconnect before we noticed the old link died) always wins.
        if (
            isinstance(current, Connection)
            and current._signed_in is not None
            and current._signed_in.session_id == signed.session_id
        ):
            return
        self._check_duplicate_user(signed.user_id)

    def _become(self, signed: SignedIn, ref: str | int | None, event: str) -> None:
        if self._state is State.CLOSING:
            # The peer left while we were signing it in: _finish will end the session row.
            self._signed_in = signed
            return
        self._signed_in = signed
        self._state = State.AUTHENTICATED
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self.send(AuthOk(username=signed.username, token=signed.token or "", ref=ref))
        previous = self._services.hub.attach(self)
        if isinstance(previous, Connection) and previous is not self:
            previous._displace(
                same_session=previous._signed_in is not None
                and previous._signed_in.session_id == signed.session_id
            )
        activity.record(event, user=signed.username, addr=self.peer, session=signed.session_id)

    def _displace(self, *, same_session: bool) -> None:
        """Another connection took this user's place (resume of this session, or a replacing login)."""
        if same_session:
            self._handed_over = True
            self.close(ByeReason.REPLACED, end_reason="resumed_elsewhere")
        else:
            self.close(ByeReason.REPLACED, end_reason="replaced", revoke=True)

    async def _on_send(self, frame: Send) -> None:
        wait = self._send_bucket.take(monotonic())
        if wait:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "you are sending too fast; slow down", retry_after=round(wait, 3)
            )
        check_room(frame.room)
        hub = self._services.hub
        if not hub.is_member(frame.room, self):
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are not in room {frame.room!r}")
        check_text(frame.text, self._config.max_text)
        check_nonce(frame.nonce)
        message = await self._services.messages.append(frame.room, self.username, frame.text, frame.nonce)
        hub.publish(frame.room, message)

    async def _on_ping(self, frame: Ping) -> None:
        self.send(Pong(ref=frame.ref))

    async def _on_pong(self, frame: Pong) -> None:
        pass  # any traffic counts as alive; it was noted when the bytes arrived

    async def _on_quit(self, frame: Quit) -> None:
        if self._signed_in is not None:
            activity.record("logout", user=self._signed_in.username, addr=self.peer)
        self.close(ByeReason.QUIT, end_reason="quit", revoke=True)

    async def _need_auth(self, frame: ClientFrame) -> None:
        raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "log in or register first")

    async def _already_authenticated(self, frame: ClientFrame) -> None:
        raise ProtocolError(ErrorCode.ALREADY_AUTHENTICATED, "you are already signed in")


_COMMON: dict[type, Handler] = {
    Ping: Connection._on_ping,
    Pong: Connection._on_pong,
    Quit: Connection._on_quit,
}

_DISPATCH: dict[State, dict[type, Handler]] = {
    State.GREETED: {
        **_COMMON,
        Register: Connection._on_register,
        Login: Connection._on_login,
        Resume: Connection._on_resume,
        Send: Connection._need_auth,
    },
    State.AUTHENTICATED: {
        **_COMMON,
        Register: Connection._already_authenticated,
        Login: Connection._already_authenticated,
        Resume: Connection._already_authenticated,
        Send: Connection._on_send,
    },
}
