"""The TCP listener: bind, accept, refuse at accept time, and close every connection at the end.

Binding comes first and apart from serving (:meth:`TcpListener.bind`, then
:meth:`TcpListener.serve`): a second server started on a busy port fails there,
before it has touched the database. Refusals come before any work: a
connection from a banned address (:mod:`chatapp.server.address_bans`, in
memory), one over a limit (:mod:`chatapp.server.capacity`), or one arriving
while the server stops, gets a lone ``bye`` and is closed, with no connection
object made and nothing read from it; refusals are logged once per kind per
interval. A failed ``accept()`` for
want of descriptors is handled by :mod:`chatapp.server.descriptors`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress

from chatapp import __version__
from chatapp.clock import monotonic, utc_now
from chatapp.protocol import Bye, ByeReason, encode
from chatapp.server import activity, descriptors
from chatapp.server.address_bans import ban_message
from chatapp.server.capacity import LISTEN_BACKLOG, Capacity, Limit, LogThrottle, connections_allowed
from chatapp.server.config import Config
from chatapp.server.services import Services
from chatapp.server.transport.tcp import TcpConnection

NO_FD_LIMIT_CONNECTIONS = 100_000
"""The total connection limit where the process has no open-file limit (and none is set)."""

_BYES = {reason: encode(Bye(reason=reason.value)) for reason in ByeReason}

_REFUSALS = {
    Limit.ADDRESS: ByeReason.TOO_MANY_CONNECTIONS,
    Limit.NETWORK: ByeReason.TOO_MANY_FROM_NETWORK,
    Limit.SERVER: ByeReason.SERVER_FULL,
}


def capacity_for(config: Config) -> Capacity:
    """The connection limits in force, the total one derived from the open-file limit (logged)."""
    fd_limit = descriptors.limit()
    allowed = connections_allowed(fd_limit) if fd_limit is not None else None
    if config.max_connections:
        total = config.max_connections
    else:
        total = allowed if allowed is not None else NO_FD_LIMIT_CONNECTIONS
    if allowed is not None and total > allowed:
        # validate() checks against the hard limit: here the soft one could not be raised to it.
        activity.record(
            "capacity_lowered", logging.WARNING, wanted=total, descriptors=fd_limit, allowed=allowed
        )
        total = allowed
    total = max(1, total)
    activity.record(
        "capacity",
        descriptors=fd_limit if fd_limit is not None else "unlimited",
        max_connections=total,
        per_address=config.max_connections_per_address,
        per_subnet=config.max_connections_per_subnet,
        ipv4_prefix=config.ipv4_subnet_prefix,
        ipv6_prefix=config.ipv6_subnet_prefix,
    )
    return Capacity(
        total=total,
        per_address=config.max_connections_per_address,
        per_network=config.max_connections_per_subnet,
        ipv4_prefix=config.ipv4_subnet_prefix,
        ipv6_prefix=config.ipv6_subnet_prefix,
    )


class TcpListener:
    def __init__(self, config: Config) -> None:
        self._config = config
        self._server: asyncio.Server | None = None
        self._services: Services | None = None
        self._capacity: Capacity | None = None
        self._connections: dict[TcpConnection, asyncio.Task[None]] = {}
        self._refusal_log = LogThrottle()
        self._accept_guard: descriptors.AcceptGuard | None = None
        self._stopping = False

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def serving(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def bind(self) -> None:
        """Take the address, not accepting yet; ``OSError`` if it is taken."""
        config = self._config
        # The reader's limit only bounds StreamReader's own buffer; lines are bounded by the protocol.
        self._server = await asyncio.start_server(
            self._accept,
            config.host,
            config.port,
            limit=4 * config.max_frame,
            reuse_address=True,
            backlog=LISTEN_BACKLOG,
            start_serving=False,
        )

    async def serve(self, services: Services) -> None:
        """Start accepting connections, served with ``services``."""
        assert self._server is not None, "bind first"
        self._services = services
        self._capacity = capacity_for(self._config)
        loop = asyncio.get_running_loop()
        self._accept_guard = descriptors.AcceptGuard(
            loop, _BYES[ByeReason.SERVER_FULL], self._on_out_of_descriptors
        )
        self._accept_guard.install()
        await self._server.start_serving()
        for sock in self._server.sockets:
            host, port = sock.getsockname()[:2]
            activity.record("listening", host=host, port=port, version=__version__)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._services is not None and self._capacity is not None
        address = writer.get_extra_info("peername") or ("?", 0)
        # Refusals come first, before any work: a full server spends nothing on the refused.
        if self._stopping:
            self._refuse(writer, ByeReason.SHUTDOWN, address)
            return
        bans = self._services.address_bans
        ban = bans.match(str(address[0]), utc_now()) if bans else None
        if ban is not None:
            bye = encode(Bye(reason=ByeReason.ADDRESS_BANNED.value, message=ban_message(ban)))
            self._refuse(writer, ByeReason.ADDRESS_BANNED, address, bye)
            return
        seat = self._capacity.take(str(address[0]))
        if isinstance(seat, Limit):
            self._refuse(writer, _REFUSALS[seat], address)
            return
        connection = TcpConnection(reader, writer, self._services)
        task = asyncio.current_task()
        assert task is not None
        self._connections[connection] = task
        try:
            await connection.run()
        except asyncio.CancelledError:
            # Only close_all cancels these tasks (those still running after its timeout), and the
            # server ends their sessions itself. Python 3.11's start_server logs a cancelled handler
            # task as an unhandled exception, a traceback per connection: end quietly instead.
            if not self._stopping:
                raise
        finally:
            # run() returns once the socket is closed: the seat stood for a descriptor until then.
            del self._connections[connection]
            self._capacity.give_back(seat)

    def _refuse(
        self,
        writer: asyncio.StreamWriter,
        reason: ByeReason,
        address: tuple[object, ...],
        bye: bytes | None = None,
    ) -> None:
        assert self._capacity is not None
        writer.write(bye or _BYES[reason])
        if writer.transport.get_write_buffer_size():
            writer.transport.abort()  # not even the bye was taken: hold no descriptor for it
        else:
            writer.close()
        suppressed = self._refusal_log.admit(reason.name, monotonic())
        if suppressed is not None:
            # One line per kind every few seconds, however many are refused: a flood of
            # connections must not become a flood of log lines.
            activity.record(
                "refused",
                logging.WARNING,
                addr=f"{address[0]}:{address[1]}",
                reason=reason.name.lower(),
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
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close(ByeReason.SHUTDOWN, end_reason="shutdown")
        tasks = list(self._connections.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        if self._server is not None:
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        if self._accept_guard is not None:
            self._accept_guard.uninstall()
