"""The server process: builds every part from the config, serves, and shuts down in order.

This is the only module that wires parts together. Shutdown follows uvicorn's
order: stop accepting, tell every client goodbye, wait (bounded) for their
sessions to be ended in the database, cancel what is left, close the store.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import logging
import signal
from contextlib import suppress

from chatapp import __version__
from chatapp.clock import utc_now
from chatapp.protocol import Bye, ByeReason, encode
from chatapp.server import activity
from chatapp.server.auth import Authenticator
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
        self._per_address: collections.Counter[str] = collections.Counter()
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
        # The reader's limit only bounds StreamReader's own buffer; lines are bounded by LineSplitter.
        self._server = await asyncio.start_server(
            self._accept, config.host, config.port, limit=4 * config.max_frame, reuse_address=True
        )
        for sock in self._server.sockets:
            host, port = sock.getsockname()[:2]
            activity.record("listening", host=host, port=port, version=__version__)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._services is not None
        peer = writer.get_extra_info("peername") or ("?", 0)
        address = str(peer[0])
        if self._stopping or self._per_address[address] >= self.config.max_connections_per_address:
            reason = ByeReason.SHUTDOWN if self._stopping else ByeReason.TOO_MANY_CONNECTIONS
            activity.record(
                "refused", logging.WARNING, addr=f"{address}:{peer[1]}", reason=reason.name.lower()
            )
            writer.write(encode(Bye(reason=reason.value)))
            writer.close()
            return
        connection = Connection(reader, writer, self._services)
        task = asyncio.current_task()
        assert task is not None
        self._per_address[address] += 1
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
            del self._connections[connection]
            self._per_address[address] -= 1
            if not self._per_address[address]:
                del self._per_address[address]

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
