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
from pathlib import Path
from typing import TYPE_CHECKING

from chatapp.clock import utc_now
from chatapp.server import activity
from chatapp.server.account_sanctions import AccountSanctions
from chatapp.server.address_bans import AddressBans
from chatapp.server.blobs import BlobStore
from chatapp.server.config import PORT_OFF, Config
from chatapp.server.control_events import ALONE, Others
from chatapp.server.filters import ContentFilter, FilterFileError
from chatapp.server.hub import LocalHub
from chatapp.server.live import RunningServer
from chatapp.server.live_sync import LiveSync
from chatapp.server.passwords import PasswordHashing
from chatapp.server.retention import prune_forever, prune_once
from chatapp.server.services import Services
from chatapp.server.services.administration import Administration
from chatapp.server.services.audit import AuditTrail
from chatapp.server.services.credentials import Credentials
from chatapp.server.services.devices import Devices
from chatapp.server.services.file_downloads import FileDownloads
from chatapp.server.services.file_sharing import FileSharing, sweep_forever, sweep_interval
from chatapp.server.services.limits import Limits
from chatapp.server.services.message_log import DurableMessageLog, MemoryMessageLog, MessageLog
from chatapp.server.services.message_removal import MessageRemoval
from chatapp.server.services.messaging import Messaging
from chatapp.server.services.replay import Replay
from chatapp.server.services.room_moderation import RoomModeration
from chatapp.server.services.room_sanctions import RoomSanctions
from chatapp.server.services.screening import Screening
from chatapp.server.services.signin import SignIn
from chatapp.server.static_site import StaticSite
from chatapp.server.store import MessageWriter, Store
from chatapp.server.throttles import Counters
from chatapp.server.tls import ServerTls, load_tls
from chatapp.server.transport.control import ControlListener
from chatapp.server.transport.delivery import Delivery
from chatapp.server.transport.listener import Endpoint, TcpListener
from chatapp.server.transport.web import WebFront
from chatapp.server.web_origin import OriginPolicy

if TYPE_CHECKING:
    from chatapp.server.several import SeveralProcesses

log = logging.getLogger("chatapp.server")


class ChatServer:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._store: Store | None = None
        self._hashing: PasswordHashing | None = None
        self._writer: MessageWriter | None = None
        self._several: SeveralProcesses | None = None  # one of several processes (--redis-url) only
        self._counters: Counters | None = None
        self._retention: asyncio.Task[None] | None = None
        self._file_sweeper: asyncio.Task[None] | None = None
        self.files: FileSharing | None = None
        """The running server's file sharing service (tests call its ``sweep``)."""
        self._listener: TcpListener | None = None
        self.tls: ServerTls | None = None
        control_path = config.resolved_control_socket
        self._control = ControlListener(config, control_path) if control_path is not None else None
        self._hub: LocalHub | None = None
        self._administration: Administration | None = None
        self.filters = ContentFilter(Path(config.filter_file) if config.filter_file else None)

    @property
    def port(self) -> int:
        """The plain listener's port."""
        assert self._listener is not None, "the server has not started"
        return self._listener.port

    @property
    def tls_port(self) -> int:
        """The TLS listener's port."""
        assert self._listener is not None, "the server has not started"
        return self._listener.tls_port

    @property
    def web_port(self) -> int:
        """The plain web listener's port."""
        assert self._listener is not None, "the server has not started"
        return self._listener.web_port

    @property
    def web_tls_port(self) -> int:
        """The TLS web listener's port."""
        assert self._listener is not None, "the server has not started"
        return self._listener.web_tls_port

    @property
    def hub(self) -> LocalHub:
        assert self._hub is not None, "the server has not started"
        return self._hub

    @property
    def administration(self) -> Administration:
        """The running server's administration service (what its control socket and tests call)."""
        assert self._administration is not None, "the server has not started"
        return self._administration

    async def start(self) -> None:
        config = self.config
        if self.filters.path is not None:
            # Before anything else: a bad filter file stops the start (FilterFileError, one line).
            rules = self.filters.reload()
            activity.record("filters", rules=rules, path=str(self.filters.path))
        # The certificate before the address: making a key and loading files is blocking work,
        # kept off the event loop; a bad file stops the start (TlsSetupError, one line).
        self.tls = await asyncio.get_running_loop().run_in_executor(None, load_tls, config)
        endpoints = [Endpoint(config.host, config.port)] if config.plain else []
        if self.tls is not None:
            endpoints.append(Endpoint(config.host, config.tls_port, self.tls.context))
        endpoints += await self._web_endpoints()
        self._listener = TcpListener(config, endpoints)
        # The address first: a second server on a busy port fails here, before it has touched
        # the database (ending the first one's sessions as crashed, say).
        await self._listener.bind()
        if self._control is not None:
            # Likewise the control socket: a second server on the same one fails before the database.
            await self._control.bind()
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
        activity.record("node", id=self._store.node)
        if config.redis_url:
            # Other processes may be serving from this database: end only the sessions of those
            # whose heartbeat expired (a crash), never the live ones'.
            from chatapp.server.several import SeveralProcesses  # the redis extra: only with --redis-url

            several = self._several = SeveralProcesses(config, self._store)
            await several.nodes.start()
        else:
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
        chain = self._several.chain if self._several is not None else None
        if chain is not None:  # made with history only
            self._writer = chain.writer()
            await self._writer.start()
            messages = DurableMessageLog(self._writer)
        elif config.history:
            self._writer = MessageWriter(self._store)
            await self._writer.start()
            messages = DurableMessageLog(self._writer)
        else:
            messages = MemoryMessageLog(await self._store.last_message_id())
        if config.history_days:
            await prune_once(self._store, config.history_days)
            self._retention = asyncio.create_task(prune_forever(self._store, config.history_days))
        services = self._services(self._store, self._hashing, messages, await _sanctions(self._store))
        if config.files_enabled:
            self._file_sweeper = asyncio.create_task(sweep_forever(services.files, sweep_interval(config)))
        if self._several is not None:
            await self._several.start()  # the others' batches, users and moderation before the first client
        assert self._listener is not None
        await self._listener.serve(services, self._counters)
        if self._control is not None:
            await self._control.serve(services)

    async def _web_endpoints(self) -> list[Endpoint]:
        """The web client's endpoints (--web-port, --web-tls-port), its files read first (off the
        event loop)."""
        config = self.config
        if not config.web_enabled:
            return []
        site = await asyncio.get_running_loop().run_in_executor(None, StaticSite.load)
        origins = OriginPolicy.of(config.web_origin)
        endpoints = []
        if config.web_port != PORT_OFF:
            web = WebFront(config, site, origins, tls=False)
            endpoints.append(Endpoint(config.host, config.web_port, web=web))
        if config.web_tls_port != PORT_OFF and self.tls is not None:
            web = WebFront(config, site, origins, tls=True)
            endpoints.append(Endpoint(config.host, config.web_tls_port, self.tls.context, web=web))
        return endpoints

    def _services(
        self, store: Store, hashing: PasswordHashing, messages: MessageLog, sanctions: _Sanctions
    ) -> Services:
        config = self.config
        suspensions, mutes, address_bans = sanctions
        delivery = Delivery(asyncio.get_running_loop().call_soon)
        several = self._several
        # With several processes: presence, moderation and the limits per address and per account
        # shared with the others through Redis.
        hub: LocalHub
        others: Others
        if several is not None:
            hub = several.make_hub(delivery, config.room_status_limit)
            others, self._counters = several.control, several.limits
        else:
            hub = LocalHub(delivery, status_limit=config.room_status_limit)
            others, self._counters = ALONE, Counters(config)
        self._hub = hub
        limits = Limits(config, mutes=mutes, counters=self._counters)
        credentials = Credentials(config, store, hashing, suspensions=suspensions, counters=self._counters)
        audit = AuditTrail(store)
        screening = Screening(self.filters, audit)
        room_sanctions = RoomSanctions(store)
        devices = Devices(store, limits, others)
        blobs = BlobStore(config.resolved_files_dir)
        files = self.files = FileSharing(config, store, blobs, room_sanctions)
        downloads = FileDownloads(config, store, blobs)
        assert self._listener is not None
        live = RunningServer(
            hub,
            self._listener,
            suspensions=suspensions,
            mutes=mutes,
            address_bans=address_bans,
            others=others,
        )
        filters = self.filters if self.filters.path else None
        administration = self._administration = Administration(
            config, store, audit, hashing, live, filters=filters, others=others
        )
        services = Services(
            config=config,
            store=store,
            hub=hub,
            delivery=delivery,
            limits=limits,
            credentials=credentials,
            signin=SignIn(config, store, hub, credentials, limits),
            messaging=Messaging(
                config,
                messages,
                store,
                hub,
                delivery,
                limits,
                room_sanctions,
                screening,
                devices,
                files,
                chain=several.chain if several is not None else None,
            ),
            replay=Replay(config, store, limits),
            audit=audit,
            sanctions=room_sanctions,
            rooms=RoomModeration(store, hub, room_sanctions, audit, config.max_frame, others),
            removal=MessageRemoval(store, hub, audit, on_removed=downloads.forget_message, others=others),
            administration=administration,
            address_bans=address_bans,
            suspensions=suspensions,
            mutes=mutes,
            filters=self.filters,
            screening=screening,
            devices=devices,
            files=files,
            downloads=downloads,
            others=others,
        )
        if several is not None:
            several.control.follow(LiveSync(services, hub, live))
        return services

    def reload_filters(self) -> None:
        """SIGHUP: read the filter file again; a bad file is logged and the rules in force stay."""
        try:
            rules = self.filters.reload()
        except FilterFileError as exc:
            activity.record("filters_reload_failed", logging.WARNING, reason=str(exc))
            return
        activity.record("filters_reloaded", rules=rules, path=str(self.filters.path))

    async def shutdown(self) -> None:
        """Stop accepting, say goodbye to everyone, end their sessions, close the store."""
        listener = self._listener
        if listener is not None and listener.serving:
            activity.record("shutdown", connections=listener.connections)
        if self._control is not None:
            await self._control.close(self.config.shutdown_timeout)
        if listener is not None:
            await listener.close(self.config.shutdown_timeout)
        for task in (self._retention, self._file_sweeper):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        if self._writer is not None:
            await self._writer.stop()  # commits what is queued; nothing acknowledged is left behind
            # How well group commit worked over the server's life: messages per transaction.
            stats = self._writer.stats
            activity.record(
                "message_writer",
                batches=stats.batches,
                messages=stats.messages,
                largest_batch=stats.largest_batch,
                failed_batches=stats.failed_batches,
            )
        if self._several is not None:
            await self._several.close()
        elif self._counters is not None:
            await self._counters.close()
        if self._store is not None:
            # Sessions are ended in bulk: every connection's end (with its seen cursor) was queued
            # when it closed, and the store commits them many per transaction; a connection
            # cancelled above still has its end written. This comes after all of those and ends
            # anything left open, then close() waits for it all.
            store, self._store = self._store, None  # a second shutdown finds nothing to close
            try:
                await store.end_open_sessions("shutdown", utc_now(), own_only=self._several is not None)
            except Exception:
                # The next start ends them ("server_restart"); the store must still be closed.
                log.exception("could not end the sessions still open at shutdown")
            if self._several is not None:
                # Its heartbeat goes only now: the others never take this process's sessions for a
                # lost node's while it ends them itself.
                await self._several.nodes.close()
            await store.close()
        if self._hashing is not None:
            self._hashing.close()


_Sanctions = tuple[AccountSanctions, AccountSanctions, AddressBans]


async def _sanctions(store: Store) -> _Sanctions:
    """The suspensions, server-wide mutes and address bans in force, which the server keeps in
    memory from now on (the administration updates them), so that no sign-in, send or accept
    waits for the database to check them."""
    now = utc_now()
    suspensions = AccountSanctions(await store.account_sanctions("suspend", now))
    mutes = AccountSanctions(await store.account_sanctions("mute", now))
    address_bans = AddressBans(await store.address_bans(now))
    activity.record("sanctions", suspended=len(suspensions), muted=len(mutes), address_bans=len(address_bans))
    return suspensions, mutes, address_bans


async def serve(config: Config) -> None:
    """Run until SIGINT or SIGTERM, then shut down gracefully."""
    server = ChatServer(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    with suppress(NotImplementedError, AttributeError):  # no SIGHUP on Windows
        loop.add_signal_handler(signal.SIGHUP, server.reload_filters)
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
