"""The server process: builds every part from the config, serves, and shuts down in order.

This is the only module that wires parts together. Shutdown follows uvicorn's
order: stop accepting, tell every client goodbye, wait (bounded) for their
sessions to be ended in the database, cancel what is left, close the store.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from contextlib import suppress

from chatapp import __version__
from chatapp.clock import monotonic, utc_now
from chatapp.protocol import Bye, ByeReason, encode
from chatapp.server import activity, descriptors
from chatapp.server.auth import Authenticator
from chatapp.server.capacity import LISTEN_BACKLOG, Capacity, Limit, LogThrottle, connections_allowed
from chatapp.server.config import Config
from chatapp.server.connection import Connection, Services
from chatapp.server.hub import Hub
from chatapp.server.messages import DurableMessageLog, MemoryMessageLog, MessageLog
from chatapp.server.outbox import Flusher
from chatapp.server.passwords import PasswordHashing
from chatapp.server.ratelimit import WindowCounter
from chatapp.server.replay_budget import ReplayBudget
from chatapp.server.retention import prune_forever, prune_once
from chatapp.server.store import MessageWriter, Store

log = logging.getLogger("chatapp.server")

_NO_FD_LIMIT_CONNECTIONS = 100_000
"""The total connection limit where the process has no open-file limit (and none is set)."""

_BYES = {reason: encode(Bye(reason=reason.value)) for reason in ByeReason}

_REFUSALS = {
    Limit.ADDRESS: ByeReason.TOO_MANY_CONNECTIONS,
    Limit.NETWORK: ByeReason.TOO_MANY_FROM_NETWORK,
    Limit.SERVER: ByeReason.SERVER_FULL,
}


class ChatServer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.hub = Hub(status_limit=config.room_status_limit)
        self._store: Store | None = None
        self._hashing: PasswordHashing | None = None
        self._writer: MessageWriter | None = None
        self._retention: asyncio.Task[None] | None = None
        self._server: asyncio.Server | None = None
        self._services: Services | None = None
        self._connections: dict[Connection, asyncio.Task[None]] = {}
        self._capacity: Capacity | None = None
        self._refusal_log = LogThrottle()
        self._accept_guard: descriptors.AcceptGuard | None = None
        self._stopping = False

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        config = self.config
        self._store = await Store.open(
            config.resolved_database_url,
            migrate=config.migrate,
            synchronous=config.sqlite_synchronous,
            busy_timeout_ms=round(config.sqlite_busy_timeout * 1000),
        )
        opened = self._store.opened
        if opened is not None:
            activity.record(
                "database",
                url=opened.url,
                schema=opened.revision,
                migrated_from=opened.migrated_from or "no migration needed",
            )
        closed = await self._store.end_open_sessions("server_restart", utc_now())
        if closed:
            activity.record("recovered_sessions", count=closed)
        self._hashing = PasswordHashing(
            memory_kib=config.argon2_memory_kib,
            time_cost=config.argon2_time_cost,
            parallelism=config.argon2_parallelism,
            workers=config.resolved_hash_workers,
        )
        await self._hashing.start()
        messages: MessageLog
        if config.history:
            self._writer = MessageWriter(self._store)
            await self._writer.start()
            messages = DurableMessageLog(self._writer)
        else:
            messages = MemoryMessageLog(await self._store.last_message_id())
        if config.history_days:
            await prune_once(self._store, config.history_days)
            self._retention = asyncio.create_task(prune_forever(self._store, config.history_days))
        loop = asyncio.get_running_loop()
        flusher = Flusher(loop, first=self.hub.flush)
        self.hub.flush_at_turn_end(flusher.wake)
        self._services = Services(
            config=config,
            hub=self.hub,
            auth=Authenticator(config, self._store, self._hashing),
            store=self._store,
            messages=messages,
            flusher=flusher,
            room_creations=WindowCounter(config.room_creations_per_hour, 3600.0),
            replay_budget=ReplayBudget(config.replay_budget),
        )
        self._capacity = self._make_capacity()
        # The reader's limit only bounds StreamReader's own buffer; lines are bounded by LineSplitter.
        self._server = await asyncio.start_server(
            self._accept,
            config.host,
            config.port,
            limit=4 * config.max_frame,
            reuse_address=True,
            backlog=LISTEN_BACKLOG,
        )
        self._accept_guard = descriptors.AcceptGuard(
            loop, _BYES[ByeReason.SERVER_FULL], self._on_out_of_descriptors
        )
        self._accept_guard.install()
        for sock in self._server.sockets:
            host, port = sock.getsockname()[:2]
            activity.record("listening", host=host, port=port, version=__version__)

    def _make_capacity(self) -> Capacity:
        """The connection limits in force, the total one derived from the open-file limit."""
        config = self.config
        fd_limit = descriptors.limit()
        allowed = connections_allowed(fd_limit) if fd_limit is not None else None
        if config.max_connections:
            total = config.max_connections
        else:
            total = allowed if allowed is not None else _NO_FD_LIMIT_CONNECTIONS
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

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._services is not None and self._capacity is not None
        peer = writer.get_extra_info("peername") or ("?", 0)
        # Refusals come first, before any work: a full server spends nothing on the refused.
        if self._stopping:
            self._refuse(writer, ByeReason.SHUTDOWN, peer)
            return
        seat = self._capacity.take(str(peer[0]))
        if isinstance(seat, Limit):
            self._refuse(writer, _REFUSALS[seat], peer)
            return
        connection = Connection(reader, writer, self._services)
        task = asyncio.current_task()
        assert task is not None
        self._connections[connection] = task
        try:
            await connection.run()
        except asyncio.CancelledError:
            # Only shutdown cancels these tasks (those still running after shutdown_timeout), and
            # it ends their sessions itself. Python 3.11's start_server logs a cancelled handler
            # task as an unhandled exception, a traceback per connection: end quietly instead.
            if not self._stopping:
                raise
        finally:
            # run() returns once the socket is closed: the seat stood for a descriptor until then.
            del self._connections[connection]
            self._capacity.give_back(seat)

    def _refuse(self, writer: asyncio.StreamWriter, reason: ByeReason, peer: tuple[object, ...]) -> None:
        assert self._capacity is not None
        writer.write(_BYES[reason])
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
                addr=f"{peer[0]}:{peer[1]}",
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

    async def shutdown(self) -> None:
        """Stop accepting, say goodbye to everyone, end their sessions, close the store."""
        self._stopping = True
        activity.record("shutdown", connections=len(self._connections))
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close(ByeReason.SHUTDOWN, end_reason="shutdown")
        tasks = list(self._connections.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.config.shutdown_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        if self._server is not None:
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        if self._retention is not None:
            self._retention.cancel()
            with suppress(asyncio.CancelledError):
                await self._retention
        if self._writer is not None:
            await self._writer.stop()  # commits what is queued; nothing acknowledged is left behind
        if self._store is not None:
            # Sessions are ended in bulk: every connection's end (with its seen cursor) was queued
            # when it closed, and the store commits them many per transaction; a connection
            # cancelled above still has its end written. This comes after all of those and ends
            # anything left open, then close() waits for it all.
            store, self._store = self._store, None  # a second shutdown finds nothing to close
            try:
                await store.end_open_sessions("shutdown", utc_now())
            except Exception:
                # The next start ends them ("server_restart"); the store must still be closed.
                log.exception("could not end the sessions still open at shutdown")
            await store.close()
        if self._hashing is not None:
            self._hashing.close()
        if self._accept_guard is not None:
            self._accept_guard.uninstall()


async def serve(config: Config) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully."""
    server = ChatServer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
        _settle_garbage_collection()
        await stop.wait()
    finally:
        await server.shutdown()


def _settle_garbage_collection() -> None:
    """Keep the cyclic garbage collector off the message path.

    Everything made while starting (modules, SQLAlchemy's metadata, the
    migrations) lives as long as the process: frozen, a full collection no
    longer walks it. And young collections come every 10,000 allocations of
    containers instead of 700, which at thousands of messages a second (each
    makes a few futures, frames and records) was several a second. Only the
    server process does this; tests that run a server in their own process
    keep the interpreter's defaults.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(10_000, middle, old)
