"""The TCP listener: bind, accept, refuse at accept time, and close every connection at the end.

It serves up to four endpoints over the same services, the same connection
limits (one :class:`~chatapp.server.capacity.Capacity`) and the same refusal
log: plain TCP on ``--port``, TLS on ``--tls-port``, and the web client on
``--web-port`` (HTTP) and ``--web-tls-port`` (HTTPS), whose connections first
go through :class:`~chatapp.server.transport.web.WebFront` (one request: a
file, or the WebSocket handshake that turns it into a
:class:`~chatapp.server.transport.websocket.WebSocketConnection`; a web
connection refused at accept gets an HTTP 503 or 403 instead of a ``bye``).

A TLS connection takes its seat at accept time, before its handshake, which it
then gets ``--tls-handshake-timeout`` seconds to finish
(:meth:`TcpListener._handshake`): a client that stalls or fails costs a bounded
time, one (rate-limited) log line, and counts toward its address's limits
meanwhile. A refused TLS connection is closed without a handshake (a plain
``bye`` would mean nothing to a TLS client, and a handshake costs CPU the
refused should not get). Everything past the handshake is the same as plain.

Binding comes first and apart from serving (:meth:`TcpListener.bind`, then
:meth:`TcpListener.serve`): a second server started on a busy port fails there,
before it has touched the database. Refusals come before any work
(:mod:`chatapp.server.transport.admission`): a connection from a banned
address, one over a limit, or one arriving while the server stops, gets a
lone ``bye`` and is closed, with no connection object made and nothing read
from it; refusals are logged once per kind per interval. A failed ``accept()`` for
want of descriptors is handled by :mod:`chatapp.server.descriptors`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import partial

from chatapp import __version__
from chatapp.clock import monotonic
from chatapp.protocol import ByeReason
from chatapp.server import activity, descriptors
from chatapp.server.capacity import LISTEN_BACKLOG, Capacity, LogThrottle, Seat
from chatapp.server.config import Config
from chatapp.server.services import Services
from chatapp.server.throttles import Counters
from chatapp.server.transport.admission import BYES, REFUSALS, Refusal, admit, capacity_for
from chatapp.server.transport.shell import ConnectionShell
from chatapp.server.transport.tcp import TcpConnection
from chatapp.server.transport.tls_accept import Address, HandOver, handshake_failure, open_tls_stream
from chatapp.server.transport.web import WebFront

log = logging.getLogger("chatapp.server")


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    """One address the listener serves: plain TCP when ``tls`` is None; the web client (HTTP and
    WebSocket) when ``web`` is given."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None
    web: WebFront | None = None


class TcpListener:
    def __init__(self, config: Config, endpoints: list[Endpoint] | None = None) -> None:
        self._config = config
        self._endpoints = endpoints if endpoints is not None else [Endpoint(config.host, config.port)]
        self._servers: list[tuple[Endpoint, asyncio.Server]] = []
        self._handshakes: set[asyncio.Task[None]] = set()
        self._tls_tasks: set[asyncio.Task[None]] = set()
        self._services: Services | None = None
        self._capacity: Capacity | None = None
        self._connections: dict[ConnectionShell, asyncio.Task[None]] = {}
        self._opening: set[asyncio.Task[None]] = set()  # web connections reading their request
        self._refusal_log = LogThrottle()
        self._accept_guard: descriptors.AcceptGuard | None = None
        self._stopping = False

    @property
    def port(self) -> int:
        """The plain endpoint's port (as bound: ``--port 0`` picks one)."""
        return self._bound_port(tls=False)

    @property
    def tls_port(self) -> int:
        """The TLS endpoint's port (as bound)."""
        return self._bound_port(tls=True)

    @property
    def web_port(self) -> int:
        """The plain web endpoint's port (as bound)."""
        return self._bound_port(tls=False, web=True)

    @property
    def web_tls_port(self) -> int:
        """The TLS web endpoint's port (as bound)."""
        return self._bound_port(tls=True, web=True)

    def _bound_port(self, *, tls: bool, web: bool = False) -> int:
        for endpoint, server in self._servers:
            if (endpoint.tls is not None) == tls and (endpoint.web is not None) == web:
                return int(server.sockets[0].getsockname()[1])
        raise LookupError(f"no {'TLS' if tls else 'plain'} {'web ' if web else ''}endpoint is bound")

    @property
    def serving(self) -> bool:
        return any(server.is_serving() for _, server in self._servers)

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def bind(self) -> None:
        """Take the address, not accepting yet; ``OSError`` if it is taken."""
        loop = asyncio.get_running_loop()
        # The reader's limit only bounds StreamReader's own buffer; lines are bounded by the protocol.
        limit = 4 * self._config.max_frame
        for endpoint in self._endpoints:
            factory: Callable[[], asyncio.BaseProtocol]
            if endpoint.tls is None:
                accept = partial(self._accept, endpoint)

                def factory(accept: Callable[..., Awaitable[None]] = accept) -> asyncio.BaseProtocol:
                    reader = asyncio.StreamReader(limit=limit, loop=loop)
                    return asyncio.StreamReaderProtocol(reader, accept)

            else:
                take = partial(self._take_tls, endpoint, endpoint.tls)

                def factory(take: Callable[[socket.socket, Address], None] = take) -> asyncio.BaseProtocol:
                    return HandOver(take, lambda exc: self._on_out_of_descriptors(str(exc), 1))

            server = await loop.create_server(
                factory,
                endpoint.host,
                endpoint.port,
                reuse_address=True,
                reuse_port=self._config.reuse_port or None,  # several processes on one port
                backlog=LISTEN_BACKLOG,
                start_serving=False,
            )
            self._servers.append((endpoint, server))

    async def serve(self, services: Services, counters: Counters | None = None) -> None:
        """Start accepting connections, served with ``services``; the connection limits counted by
        ``counters`` (this process's own unless given)."""
        assert self._servers, "bind first"
        self._services = services
        self._capacity = capacity_for(self._config, counters)
        loop = asyncio.get_running_loop()
        self._accept_guard = descriptors.AcceptGuard(
            loop, BYES[ByeReason.SERVER_FULL], self._on_out_of_descriptors
        )
        self._accept_guard.install()
        for endpoint, server in self._servers:
            await server.start_serving()
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                tls = endpoint.tls is not None
                activity.record(
                    "listening", host=host, port=port, tls="on" if tls else "off", version=__version__
                )
                if endpoint.web is not None:
                    shown = host if not ipaddress.ip_address(host).is_unspecified else "localhost"
                    shown = f"[{shown}]" if ":" in shown else shown
                    activity.record(
                        "web", url=f"{endpoint.web.scheme}://{shown}:{port}/", transport="http and ws"
                    )
                if not tls and not _is_loopback(host):
                    activity.record(
                        "plain_exposed",
                        logging.WARNING,
                        host=host,
                        port=port,
                        warning=_WEB_IN_CLEAR if endpoint.web is not None else _IN_CLEAR,
                    )

    async def _accept(
        self, endpoint: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        assert self._services is not None and self._capacity is not None
        address = writer.get_extra_info("peername") or ("?", 0)
        # Refusals come first, before any work: a full server spends nothing on the refused.
        admitted = self._admit(address)
        if isinstance(admitted, Refusal):
            self._refuse(admitted, address, writer, endpoint.web)
            return
        try:
            refusal = await self._confirm(admitted)
            if refusal is not None:
                self._refuse(refusal, address, writer, endpoint.web)
                return
            await self._serve(endpoint, reader, writer)
        finally:
            self._capacity.give_back(admitted)

    async def _confirm(self, seat: Seat) -> Refusal | None:
        """With ``--redis-url``: the other processes' connections from the seat's address and
        network leave room for it, or why not (one Redis call; nothing read from the client yet)."""
        assert self._capacity is not None
        if not self._capacity.confirms:
            return None
        limit = await self._capacity.confirm(seat)
        return None if limit is None else Refusal(REFUSALS[limit])

    def _admit(self, address: Address) -> Seat | Refusal:
        """A seat for a new connection from ``address``, or why it is refused."""
        assert self._services is not None and self._capacity is not None
        return admit(self._capacity, self._services.address_bans, address, stopping=self._stopping)

    def _take_tls(
        self, endpoint: Endpoint, tls: ssl.SSLContext, sock: socket.socket, address: Address
    ) -> None:
        task = asyncio.get_running_loop().create_task(self._accept_tls(endpoint, tls, sock, address))
        self._tls_tasks.add(task)  # a strong reference until it ends
        task.add_done_callback(self._tls_task_done)

    def _tls_task_done(self, task: asyncio.Task[None]) -> None:
        self._tls_tasks.discard(task)
        # What asyncio's start_server does for a plain connection's handler: a failure is logged
        # (in the operator's log only), not left to "Task exception was never retrieved".
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("a TLS connection ended with an error", exc_info=error)

    async def _accept_tls(
        self, endpoint: Endpoint, tls: ssl.SSLContext, sock: socket.socket, address: Address
    ) -> None:
        assert self._capacity is not None
        admitted = self._admit(address)
        if isinstance(admitted, Refusal):
            # Closed without a handshake: plain bytes would be noise to a TLS client, and a
            # handshake costs CPU the refused should not get.
            sock.close()
            self._refuse(admitted, address)
            return
        try:  # the seat is held through the handshake: a stalled one counts toward the limits
            refusal = await self._confirm(admitted)
            if refusal is not None:
                sock.close()
                self._refuse(refusal, address)
                return
            streams = await self._handshake(tls, sock, address)
            if streams is not None:
                await self._serve(endpoint, *streams)
        finally:
            self._capacity.give_back(admitted)

    async def _handshake(
        self, tls: ssl.SSLContext, sock: socket.socket, address: Address
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The connection over TLS, or None if the handshake failed or timed out (closed, logged
        once per interval). Shutdown cancels it (close())."""
        task = asyncio.current_task()
        assert task is not None
        self._handshakes.add(task)
        config = self._config
        try:
            return await open_tls_stream(
                sock, tls, timeout=config.tls_handshake_timeout, limit=4 * config.max_frame
            )
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            return None
        except (TimeoutError, OSError, ssl.SSLError, EOFError) as exc:
            # A plain client on the TLS port, a scanner, a client that gave up: one line per
            # interval, whatever the flood.
            suppressed = self._refusal_log.admit("tls_handshake", monotonic())
            if suppressed is not None:
                activity.record(
                    "tls_handshake_failed",
                    logging.WARNING,
                    addr=f"{address[0]}:{address[1]}",
                    reason=handshake_failure(exc),
                    suppressed=suppressed,
                )
            return None
        finally:
            self._handshakes.discard(task)

    async def _serve(
        self, endpoint: Endpoint, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        assert self._services is not None
        task = asyncio.current_task()
        assert task is not None
        connection: ConnectionShell
        initial = b""
        if endpoint.web is not None:
            opened = await self._open_web(endpoint.web, reader, writer, task)
            if opened is None:
                return
            connection, initial = opened
        else:
            connection = TcpConnection(reader, writer, self._services)
        self._connections[connection] = task
        try:
            await connection.run(initial)
        except asyncio.CancelledError:
            # Only close_all cancels these tasks (those still running after its timeout), and the
            # server ends their sessions itself. Python 3.11's start_server logs a cancelled handler
            # task as an unhandled exception, a traceback per connection: end quietly instead.
            if not self._stopping:
                raise
        finally:
            # run() returns once the socket is closed (and the caller gives the seat back: it
            # stood for a descriptor until then).
            del self._connections[connection]

    async def _open_web(
        self,
        web: WebFront,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        task: asyncio.Task[None],
    ) -> tuple[ConnectionShell, bytes] | None:
        """The web connection's request answered: a WebSocket to serve, or None (a file, an error)."""
        assert self._services is not None
        address = writer.get_extra_info("peername") or ("?", 0)
        self._opening.add(task)
        try:
            return await web.open(reader, writer, self._services, partial(self._log_refusal, address))
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            writer.transport.abort()
            return None
        finally:
            self._opening.discard(task)

    def _refuse(
        self,
        refusal: Refusal,
        address: Address,
        writer: asyncio.StreamWriter | None = None,
        web: WebFront | None = None,
    ) -> None:
        """Say ``bye`` on ``writer`` (a plain connection; an HTTP error on a web one) and close it;
        log, once per interval."""
        assert self._capacity is not None
        reason = refusal.reason
        if writer is not None:
            if web is not None:
                banned = reason is ByeReason.ADDRESS_BANNED
                writer.write(web.refusal(403 if banned else 503, reason.value))
            else:
                writer.write(refusal.bye or BYES[reason])
            if writer.transport.get_write_buffer_size():
                writer.transport.abort()  # not even the bye was taken: hold no descriptor for it
            else:
                writer.close()
        self._log_refusal(address, reason.name.lower())

    def _log_refusal(self, address: Address, kind: str) -> None:
        assert self._capacity is not None
        suppressed = self._refusal_log.admit(kind, monotonic())
        if suppressed is not None:
            # One line per kind every few seconds, however many are refused: a flood of
            # connections must not become a flood of log lines.
            activity.record(
                "refused",
                logging.WARNING,
                addr=f"{address[0]}:{address[1]}",
                reason=kind,
                connections=self._capacity.held,
                suppressed=suppressed,
            )

    def _on_out_of_descriptors(self, error: str, refused: int) -> None:
        suppressed = self._refusal_log.admit("out_of_descriptors", monotonic())
        if suppressed is not None:
            activity.record(
                "out_of_descriptors",
                logging.WARNING,
                error=error,
                refused=refused,
                connections=self._capacity.held if self._capacity is not None else None,
                suppressed=suppressed,
            )

    def close_where(self, matches: Callable[[str], bool], reason: ByeReason, message: str | None) -> int:
        """Close every connection whose client address ``matches`` (``bye`` with ``reason`` and
        ``message``), signed in or not; how many. (A new address ban's existing connections.)"""
        closing = [
            connection
            for connection in self._connections
            if not connection.peer.closing and matches(connection.peer.address)
        ]
        for connection in closing:
            connection.close(reason, end_reason=reason.name.lower(), revoke=False, message=message)
        return len(closing)

    async def close(self, timeout: float) -> None:
        """Stop accepting, say goodbye to every client, and wait (at most ``timeout``) until their
        sessions are ended; cancel what is left."""
        self._stopping = True
        for _, server in self._servers:
            server.close()
        for handshake in [*self._handshakes, *self._opening]:
            handshake.cancel()
        for connection in list(self._connections):
            connection.close(ByeReason.SHUTDOWN, end_reason="shutdown")
        tasks = list(self._connections.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        for _, server in self._servers:
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        if self._accept_guard is not None:
            self._accept_guard.uninstall()


_IN_CLEAR = (
    "passwords and messages cross the network in clear on this port: serve TLS "
    "(--tls-cert and --tls-key, or --tls self-signed) and --no-plain"
)
_WEB_IN_CLEAR = (
    "passwords and messages cross the network in clear on this web port: put it behind a reverse "
    "proxy that serves TLS, on a loopback address, or serve --web-tls-port instead"
)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False

