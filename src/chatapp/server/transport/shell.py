"""One client's byte stream, from accept to close, whatever framing it carries: the shell around
the protocol object that every stream transport shares.

A :class:`ConnectionShell` reads chunks from its socket, hands them to its
subclass to turn into what the protocol object takes (lines for TCP,
messages for a WebSocket), hands each frame the protocol lets in to
:func:`~chatapp.server.dispatch.dispatch`, and lets the client's outbox write
to the socket. It owns the socket's life: the sign-in timeout, keep-alive
pings, the goodbye, the abort of a client that does not read its last frames,
``TCP_NODELAY``. Everything else is the core's, which does not know the
transport. Subclasses: :class:`~chatapp.server.transport.tcp.TcpConnection`,
:class:`~chatapp.server.transport.websocket.WebSocketConnection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from chatapp.clock import monotonic
from chatapp.protocol import PROTOCOL_VERSION, ByeReason, Ping, Welcome
from chatapp.protocol.connection import FrameReceived, FrameRefused, ServerProtocol
from chatapp.protocol.states import State
from chatapp.server import activity
from chatapp.server.dispatch import dispatch
from chatapp.server.services import Services
from chatapp.server.session import Peer
from chatapp.server.transport.delivery import Sink

READ_CHUNK = 256 * 1024


class ConnectionShell:
    """Implements :class:`~chatapp.server.session.Link` for the core; a subclass says how the bytes
    read become frames (:meth:`_received`) and how its frames are written (the ``sink``)."""

    kind = "tcp"
    """Named in the connect line of the activity log."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        services: Services,
        sink: Sink | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._services = services
        config = self._config = services.config
        # No isinstance check: uvloop's transports do not subclass asyncio's, but have its methods.
        self._transport = writer.transport
        self._loop = asyncio.get_running_loop()
        address = writer.get_extra_info("peername") or ("?", 0)
        self.protocol = ServerProtocol(
            max_frame=config.max_frame,
            max_unauthenticated_frames=config.max_unauthenticated_frames,
            max_invalid_frames=config.max_invalid_frames,
        )
        self.peer = Peer(
            self,
            self.protocol,
            sink if sink is not None else self._transport,
            services.delivery,
            send_queue_limit=config.send_queue_limit,
            address=str(address[0]),
            endpoint=f"{address[0]}:{address[1]}",
        )
        self._end_reason = "disconnect"
        self._revoke = False
        self._last_received = monotonic()
        self._pinged = False
        self._auth_timer: asyncio.TimerHandle | None = None
        self._keepalive_timer: asyncio.TimerHandle | None = None
        self._abort_timer: asyncio.TimerHandle | None = None
        self._set_nodelay()

    async def run(self, initial: bytes = b"") -> None:
        """Serve the client until its socket is closed; ``initial``: bytes read already."""
        peer, config = self.peer, self._config
        activity.record("connect", addr=peer.endpoint, transport=self.kind)
        welcome = Welcome(
            server=config.server_name,
            version=PROTOCOL_VERSION,
            max_frame=config.max_frame,
            max_text=config.max_text,
        )
        peer.outbox.push(self.protocol.welcome(welcome))
        self._auth_timer = self._loop.call_later(config.auth_timeout, self._on_auth_timeout)
        self._keepalive_timer = self._loop.call_later(config.ping_interval, self._keepalive)
        try:
            if initial:
                await self._received(initial)
            while self._reading():
                data = await self._reader.read(READ_CHUNK)
                if not data:
                    await self._on_end_of_input()
                    break
                self._last_received = monotonic()
                self._pinged = False
                await self._received(data)
        except (ConnectionError, OSError):
            pass
        finally:
            await self._finish()

    # -- what a subclass says -----------------------------------------------------

    def _reading(self) -> bool:
        """Whether to read on: until the goodbye, by default."""
        return not self.peer.closing

    async def _received(self, data: bytes) -> None:
        """Take bytes read from the socket (the protocol's own framing: lines)."""
        self.protocol.receive_data(data)
        await self._handle_events()

    async def _on_end_of_input(self) -> None:
        """The client closed its side."""

    def _say_goodbye(self, bye: bytes, reason: ByeReason) -> None:
        """Write the last frame (``bye``, for ``reason``) and close."""
        outbox = self.peer.outbox
        outbox.push_final(bye)
        outbox.flush()
        self._close_transport()

    # -- frames ------------------------------------------------------------------

    async def _handle_events(self) -> None:
        """Take what the protocol object makes of the bytes received, one event at a time: whether
        a frame is allowed depends on the frames before it having been handled."""
        protocol, peer, services = self.protocol, self.peer, self._services
        while (event := protocol.next_event()) is not None:
            if isinstance(event, FrameReceived):
                goodbye = await dispatch(peer, event.frame, services)
                if goodbye is not None:
                    self.close(goodbye.reason, end_reason=goodbye.end_reason, revoke=goodbye.revoke)
            elif isinstance(event, FrameRefused):
                peer.refuse(event.error)
            else:
                self.close(event.reason)

    # -- the Link the core uses -------------------------------------------------

    def close(
        self,
        reason: ByeReason,
        *,
        end_reason: str | None = None,
        revoke: bool = False,
        message: str | None = None,
    ) -> None:
        """Say goodbye (with ``message``, if given) and close. Safe to call more than once; the
        first reason wins."""
        bye = self.protocol.close(reason, message)
        if not bye:
            return
        self._end_reason = end_reason or reason.name.lower()
        self._revoke = revoke
        self._say_goodbye(bye, reason)

    async def drain(self) -> None:
        self.peer.outbox.flush()
        with contextlib.suppress(ConnectionError):
            # A lost peer shows up in the read loop too; the caller just stops early.
            await self._writer.drain()

    def closes_in(self) -> float | None:
        # What _keepalive will do if nothing more arrives: ping after ping_interval, close ping_timeout later.
        config = self._config
        return max(0.0, config.ping_interval + config.ping_timeout - (monotonic() - self._last_received))

    # -- the end ----------------------------------------------------------------

    def _close_transport(self) -> None:
        if self._transport.is_closing():
            # Closed already (a TLS transport closes itself when the client's close_notify
            # arrives), and asyncio's TLS transport loses its state on a second close().
            return
        self._transport.close()
        # A peer that does not read never lets close() finish flushing: abort after a grace period.
        if self._transport.get_write_buffer_size():
            self._abort_timer = self._loop.call_later(self._config.close_grace, self._abort_if_stuck)

    def _abort_if_stuck(self) -> None:
        # A transport that flushed everything has closed, or is closing, by itself; asyncio's
        # abort() of one that has closed fails in the event loop's log.
        if self._transport.get_write_buffer_size():
            self._transport.abort()

    async def _finish(self) -> None:
        if not self.peer.closing:  # the link was lost: nobody to say goodbye to
            self.protocol.connection_lost()
            self._close_transport()
        for timer in (self._auth_timer, self._keepalive_timer):
            if timer is not None:
                timer.cancel()
        session = self.peer.session
        if session is not None:
            await self._services.signin.sign_out(session, self._end_reason, revoke=self._revoke)
        activity.record(
            "disconnect",
            user=session.username if session is not None else None,
            addr=self.peer.endpoint,
            reason=self._end_reason,
        )
        # Until then the connection holds a descriptor (and its seat in the server's capacity).
        await self._wait_closed()

    async def _wait_closed(self) -> None:
        """Wait until the socket is closed: bounded by the abort timer, or at once when it is."""
        try:
            await self._writer.wait_closed()
        except OSError:  # lost with an error: closed all the same
            pass
        if self._abort_timer is not None:
            self._abort_timer.cancel()

    def _set_nodelay(self) -> None:
        # Chat is many small writes: never let Nagle hold one back waiting for an ACK.
        sock = self._writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- timers -----------------------------------------------------------------

    def _on_auth_timeout(self) -> None:
        if self.protocol.state is State.GREETED:
            self.close(ByeReason.AUTH_TIMEOUT)

    def _keepalive(self) -> None:
        if self.peer.closing:
            return
        config = self._config
        idle = monotonic() - self._last_received
        if idle >= config.ping_interval + config.ping_timeout:
            self.close(ByeReason.IDLE_TIMEOUT)
            return
        if idle >= config.ping_interval and not self._pinged:
            self._pinged = True
            self.peer.send(Ping(ref="keepalive"))
        if self._pinged:
            delay = config.ping_interval + config.ping_timeout - idle
        else:
            delay = config.ping_interval - idle
        self._keepalive_timer = self._loop.call_later(max(delay, 0.05), self._keepalive)
