"""One client connection, from accept to close.

A connection reads chunks, splits them into lines, decodes each line once and
dispatches the frame through one table keyed by (state, frame type) — see
:mod:`chatapp.server.handlers`. It owns its socket's life — timeouts,
keep-alive, per-connection limits, the goodbye — and the order of what this
one client receives (live delivery held back while a replay is sent). Who is
online is the hub's business, accounts are the authenticator's, persistence
is the store's.

States: ``GREETED`` (welcome sent, not signed in) → ``AUTHENTICATED`` →
``CLOSING``. Every refusal is a :class:`ProtocolError` turned into an
``error`` frame in :meth:`Connection._handle_line`, the one place that does so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime

from chatapp.clock import monotonic, utc_now, wire_timestamp
from chatapp.protocol import (
    LINE_TOO_LONG,
    PROTOCOL_VERSION,
    AuthOk,
    Bye,
    ByeReason,
    Direct,
    Error,
    ErrorCode,
    Frame,
    HistoryPage,
    LineSplitter,
    Message,
    Ping,
    ProtocolError,
    Welcome,
    decode_client_frame,
    encode,
)
from chatapp.server import activity
from chatapp.server.auth import Authenticator, SignedIn
from chatapp.server.config import Config
from chatapp.server.handlers import DISPATCH
from chatapp.server.hub import Hub, Parts
from chatapp.server.messages import MessageLog
from chatapp.server.outbox import Flusher, Outbox
from chatapp.server.ratelimit import TokenBucket, WindowCounter
from chatapp.server.replay_budget import ReplayBudget
from chatapp.server.states import State
from chatapp.server.store import Store, StoredMessage

log = logging.getLogger("chatapp.connection")

READ_CHUNK = 256 * 1024
MAX_UNCOMMITTED = 256
"""Messages of one connection waiting for their commit before it stops reading more."""

# Errors that mean the peer is sending garbage; a run of them closes the connection.
_GARBAGE = frozenset({ErrorCode.BAD_FRAME, ErrorCode.UNKNOWN_TYPE, ErrorCode.FRAME_TOO_LARGE})


def _take(bucket: TokenBucket, message: str) -> None:
    wait = bucket.take(monotonic())
    if wait:
        raise ProtocolError(ErrorCode.RATE_LIMITED, message, retry_after=round(wait, 3))


@dataclass(frozen=True, slots=True)
class Services:
    """What every connection shares, built once by the app."""

    config: Config
    hub: Hub
    auth: Authenticator
    store: Store
    messages: MessageLog
    flusher: Flusher
    room_creations: WindowCounter
    replay_budget: ReplayBudget


class Connection:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, services: Services
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.services = services
        self.config = services.config
        # No isinstance check: uvloop's transports do not subclass asyncio's, but have its methods.
        self._transport = writer.transport
        peer = writer.get_extra_info("peername") or ("?", 0)
        self.address: str = str(peer[0])
        self.peer = f"{peer[0]}:{peer[1]}"
        self._loop = asyncio.get_running_loop()
        self._outbox = Outbox(
            self._transport, self.config.send_queue_limit, services.flusher, self._on_overflow
        )
        self._splitter = LineSplitter(self.config.max_frame)
        self._state = State.GREETED
        self._signed_in: SignedIn | None = None
        self.room_ids: dict[str, int] = {}
        """The rooms this user is a member of, by name, with their store ids."""
        self._frames_before_auth = 0
        self._garbage_streak = 0
        self._send_bucket = TokenBucket(self.config.send_rate, self.config.send_burst, monotonic())
        # Joining, leaving, away/back and topics each fan out to whole rooms: a budget of their own.
        self._status_bucket = TokenBucket(self.config.status_rate, self.config.status_burst, monotonic())
        self._uncommitted = 0
        self._last_commit: asyncio.Future[StoredMessage] | None = None  # commits resolve in order
        self._last_received = monotonic()
        self._pinged = False
        self._end_reason = "disconnect"
        self._revoke = False
        self._handed_over = False  # a resume of this same session took over; the session row lives on
        self._online_since: datetime | None = None
        self._auth_timer: asyncio.TimerHandle | None = None
        self._keepalive_timer: asyncio.TimerHandle | None = None
        self._abort_timer: asyncio.TimerHandle | None = None
        self._delivered_id = 0  # highest message id handed to this client
        self._held: list[tuple[bytes, int]] | None = None  # live deliveries waiting for a replay
        self._held_bytes = 0
        self._replayed_ids: set[int] = set()
        # The hub's fan-out loop calls this once per recipient: normally straight into the outbox.
        self.deliver: Callable[[bytes, int, Parts | None], None] = self._outbox.push
        self._set_nodelay()

    # -- the Member interface the hub uses ------------------------------------

    @property
    def user_id(self) -> int:
        return self.user.user_id

    @property
    def username(self) -> str:
        return self.user.username

    def _deliver_held(self, data: bytes, message_id: int, parts: Parts | None, /) -> None:
        """``deliver`` while a replay is being sent: keep live deliveries for afterwards."""
        if self._held is None:  # cut off while holding
            return
        if parts is None:
            self._held.append((data, message_id))
        else:
            self._held.extend(parts)  # one by one: some of them may be in the replay
        self._held_bytes += len(data)
        if self._held_bytes > self.config.send_queue_limit:
            self._held = None
            self._on_overflow()

    # -- what handlers use ------------------------------------------------------

    @property
    def session_id(self) -> int | None:
        return self._signed_in.session_id if self._signed_in is not None else None

    @property
    def user(self) -> SignedIn:
        assert self._signed_in is not None, "only for handlers of signed-in connections"
        return self._signed_in

    @property
    def state(self) -> State:
        return self._state

    @property
    def closing(self) -> bool:
        # A property, not a comparison inline: handlers change the state while the loop awaits.
        return self._state is State.CLOSING

    def send(self, frame: Frame) -> None:
        self._outbox.push(encode(frame))

    def send_message(self, frame: Message | Direct, message_id: int) -> None:
        """Send a message to this client alone (a replay, a de-duplicated echo)."""
        self._note_sent(message_id)
        self._outbox.push(encode(frame))

    def send_replayed(self, frames: bytes, message_ids: list[int]) -> None:
        """Send a page of replayed messages, encoded already (see handlers.accounts.replay_missed)."""
        for message_id in message_ids:
            self._note_sent(message_id)
        self._outbox.push(frames)

    def send_history(self, page: HistoryPage) -> None:
        for message in page.messages:
            self._note_sent(message.id)
        self._outbox.push(encode(page))

    def _note_sent(self, message_id: int) -> None:
        if self._held is not None:
            self._replayed_ids.add(message_id)
        if message_id > self._delivered_id:
            self._delivered_id = message_id

    @contextlib.asynccontextmanager
    async def holding_live(self) -> AsyncIterator[None]:
        """Hold live deliveries back while stored messages are sent, then release them.

        Whatever was both replayed and delivered live in the meantime is sent
        once, so the client sees every message once and in order.
        """
        if self._held is not None:  # already holding (nested): the outer one releases
            yield
            return
        self._held, self._held_bytes, self._replayed_ids = [], 0, set()
        self.deliver = self._deliver_held
        try:
            yield
        finally:
            held, self._held = self._held, None
            replayed, self._replayed_ids = self._replayed_ids, set()
            self.deliver = self._outbox.push
            for data, message_id in held or ():
                if not (message_id and message_id in replayed):
                    self._outbox.push(data)

    async def drain(self) -> None:
        """Wait until this client has taken most of what was sent (flow control for long replays)."""
        self._outbox.flush()
        with contextlib.suppress(ConnectionError):
            # A lost peer shows up in the read loop too; the caller just stops early.
            await self._writer.drain()

    def take_send_token(self) -> None:
        _take(self._send_bucket, "you are sending too fast; slow down")

    def take_status_token(self) -> None:
        """For a join, leave, away/back or topic: each is announced to whole rooms."""
        _take(self._status_bucket, "you are joining, leaving or changing status too fast; slow down")

    async def after_commit(
        self,
        future: asyncio.Future[StoredMessage],
        ref: str | int | None,
        deliver: Callable[[StoredMessage], None],
    ) -> None:
        """Deliver a message once it is committed, without waiting for that here.

        Done-callbacks run in the order the futures resolve, which is commit
        order, so fan-out follows message ids. Past ``MAX_UNCOMMITTED`` this
        connection waits before reading more: a flood is slowed at its source.
        """
        self._uncommitted += 1
        self._last_commit = future

        def done(done_future: asyncio.Future[StoredMessage]) -> None:
            self._uncommitted -= 1
            if done_future.cancelled():
                return
            error = done_future.exception()
            if error is not None:
                log.error("a message could not be stored: %r", error)
                self.refuse(
                    ProtocolError(
                        ErrorCode.SERVER_ERROR,
                        "your message could not be stored and was not delivered; try again",
                    ),
                    ref,
                )
                return
            deliver(done_future.result())

        future.add_done_callback(done)
        if self._uncommitted > MAX_UNCOMMITTED:
            await asyncio.wait([future])

    # -- life cycle -----------------------------------------------------------

    async def run(self) -> None:
        activity.record("connect", addr=self.peer)
        config = self.config
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
                    await self._on_end_of_input()
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

    async def _on_end_of_input(self) -> None:
        """The client closed its side: finish what it asked for, then say ``bye``.

        After a half-close (``shutdown(SHUT_WR)``, ``nc -N``) the client still
        reads, so it gets the acknowledgments of the messages it sent and a
        ``bye``. It is a disconnect, not a quit: the session's token still
        resumes. Waiting is bounded by ``close_grace``.
        """
        if self.closing:
            return
        await self.settle()
        self.close(ByeReason.CLIENT_CLOSED, end_reason="disconnect")

    async def settle(self) -> None:
        """Wait (at most ``close_grace``) until this client's messages are committed and their
        acknowledgments handed out: what a client that leaves is still owed before its ``bye``."""
        pending = self._last_commit
        if self._uncommitted and pending is not None:
            # Commits resolve in submit order: when the last is in, so are all of this client's.
            await asyncio.wait([pending], timeout=self.config.close_grace)
        # Acknowledgments published since are handed out now, so that they come before the bye.
        self.services.hub.flush()

    def _close_transport(self) -> None:
        self._transport.close()
        # A peer that does not read never lets close() finish flushing: abort after a grace period.
        if self._transport.get_write_buffer_size():
            self._abort_timer = self._loop.call_later(self.config.close_grace, self._abort_if_stuck)

    def _abort_if_stuck(self) -> None:
        # A transport that flushed everything has closed, or is closing, by itself; asyncio's
        # abort() of one that has closed fails in the event loop's log.
        if self._transport.get_write_buffer_size():
            self._transport.abort()

    async def _wait_closed(self) -> None:
        """Wait until the socket is closed: bounded by the abort timer, or at once when it is."""
        try:
            await self._writer.wait_closed()
        except OSError:  # lost with an error: closed all the same
            pass
        if self._abort_timer is not None:
            self._abort_timer.cancel()

    async def _finish(self) -> None:
        if self._state is not State.CLOSING:
            self._state = State.CLOSING
            self._close_transport()
        for timer in (self._auth_timer, self._keepalive_timer):
            if timer is not None:
                timer.cancel()
        signed = self._signed_in
        if signed is not None and not self._handed_over:
            hub = self.services.hub
            self._delivered_id = max(self._delivered_id, hub.last_delivered(signed.user_id))
            hub.note_seen(signed.user_id, self._delivered_id)
            hub.detach(self)
            try:
                # One write for both: the store batches many connections' ends into one
                # transaction, so thousands leaving at once (or a shutdown) cost a few commits.
                await self.services.auth.end_session(
                    signed.session_id,
                    self._end_reason,
                    revoke=self._revoke,
                    seen_message_id=self._delivered_id,
                )
                hub.forget_seen(signed.user_id, self._delivered_id)
            except Exception:
                log.exception("could not end session %s", signed.session_id)
        activity.record(
            "disconnect", user=signed.username if signed else None, addr=self.peer, reason=self._end_reason
        )
        # Until then the connection holds a descriptor (and its seat in the server's capacity).
        await self._wait_closed()

    def _set_nodelay(self) -> None:
        # Chat is many small writes: never let Nagle hold one back waiting for an ACK.
        sock = self._writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- signing in -------------------------------------------------------------

    def check_duplicate(self, user_id: int, session_id: int | None = None, *, takeover: bool = False) -> None:
        """Refuse a second sign-in of an online account under the ``reject`` policy.

        The same session coming back (a reconnect before we noticed the old
        link died) is always let in; so is a password login with ``takeover``,
        which ends the other session. A resume of another session never is.
        The refusal says where the account is signed in and since when (only
        someone who gave its password or a token of it gets this far).
        """
        current = self.services.hub.online(user_id)
        if current is None or takeover or self.config.duplicate_login != "reject":
            return
        where = ""
        if isinstance(current, Connection) and current._signed_in is not None:
            if current._signed_in.session_id == session_id:
                return
            since = f" since {wire_timestamp(current._online_since)}" if current._online_since else ""
            where = f" from {current.peer}{since}"
        raise ProtocolError(
            ErrorCode.ALREADY_LOGGED_IN,
            f"this account is already signed in elsewhere{where}; quit there, "
            "or log in with takeover to end that session",
        )

    def become(self, signed: SignedIn, rooms: dict[str, int], ref: str | int | None, event: str) -> bool:
        """Finish signing in: answer ``auth_ok`` and go online. False if the peer left meanwhile."""
        self._signed_in = signed
        if self._state is State.CLOSING:
            return False  # _finish ends the session row
        self._state = State.AUTHENTICATED
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        self.room_ids = dict(rooms)
        self._online_since = utc_now()
        self.send(AuthOk(username=signed.username, token=signed.token or "", ref=ref))
        previous = self.services.hub.attach(self, rooms)
        if isinstance(previous, Connection) and previous is not self:
            previous._displace(
                same_session=previous._signed_in is not None
                and previous._signed_in.session_id == signed.session_id
            )
        activity.record(event, user=signed.username, addr=self.peer, session=signed.session_id)
        return True

    def _displace(self, *, same_session: bool) -> None:
        """Another connection took this user's place (resume of this session, or a replacing login)."""
        if same_session:
            self._handed_over = True
            self.close(ByeReason.REPLACED, end_reason="resumed_elsewhere")
        else:
            self.close(ByeReason.REPLACED, end_reason="replaced", revoke=True)

    # -- timers ---------------------------------------------------------------

    def _on_auth_timeout(self) -> None:
        if self._state is State.GREETED:
            self.close(ByeReason.AUTH_TIMEOUT)

    def _keepalive(self) -> None:
        if self._state is State.CLOSING:
            return
        config = self.config
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

    async def _handle_line(self, line: bytes | object) -> None:
        ref = None
        try:
            if line is LINE_TOO_LONG:
                raise ProtocolError(
                    ErrorCode.FRAME_TOO_LARGE, f"frames are limited to {self.config.max_frame} bytes"
                )
            assert isinstance(line, bytes)
            frame = decode_client_frame(line)
            ref = frame.ref
            if self._state is State.GREETED:
                self._frames_before_auth += 1
                if self._frames_before_auth > self.config.max_unauthenticated_frames:
                    self.close(ByeReason.TOO_MANY_UNAUTHENTICATED)
                    return
            await DISPATCH[self._state][type(frame)](self, frame)
            self._garbage_streak = 0
        except ProtocolError as exc:
            self.refuse(exc, ref if ref is not None else exc.ref)
        except Exception:
            log.exception("unexpected error handling a frame from %s", self.peer)
            self.refuse(
                ProtocolError(ErrorCode.SERVER_ERROR, "the server could not handle that; try again"), ref
            )

    def refuse(self, exc: ProtocolError, ref: str | int | None) -> None:
        """Answer a refused frame with an ``error``; a run of garbage closes the connection."""
        if self._state is State.CLOSING:
            return
        self.send(Error(code=exc.code.value, message=exc.message, ref=ref, retry_after=exc.retry_after))
        if exc.code in _GARBAGE:
            self._garbage_streak += 1
            if self._garbage_streak >= self.config.max_invalid_frames:
                self.close(ByeReason.TOO_MANY_INVALID)
        else:
            self._garbage_streak = 0
