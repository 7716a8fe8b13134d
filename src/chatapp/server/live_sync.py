"""What another server process's moderator did, made true on this one (``--redis-url``).

:class:`LiveSync` is the :class:`~chatapp.server.shared_control.Follower` of this process: each
event of :mod:`chatapp.server.control_events` is applied to this process's own sessions and
in-memory state, synchronously and in the order the other process told them (a suspension is in
force here before its user's connection is closed, so no sign-in slips between). The store is not
written: the process that acted did that before it told.

A suspension or mute is applied as the event carries it (at once), then read again from the store
(the truth, should two moderators' events have crossed). After a reconnect to Redis (events may have
been lost) :meth:`LiveSync.resync` reads again what this process caches of moderation: suspensions
and server-wide mutes (a suspended user's connection here is closed), address bans (a new one's
connections here are closed), every room's sanctions, the senders' devices, the content filters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine

from chatapp.clock import utc_now
from chatapp.protocol import ByeReason
from chatapp.server import activity
from chatapp.server.account_sanctions import described
from chatapp.server.address_bans import ban_message
from chatapp.server.control_events import (
    AccountSanction,
    AddressBanned,
    AddressUnbanned,
    ControlEvent,
    DevicesChanged,
    EndSessions,
    FiltersReloaded,
    MessageGone,
    PutOut,
    RoleChanged,
    RoomClosed,
    RoomFrame,
    RoomSanctionsChanged,
    UsersFrame,
)
from chatapp.server.hub import LocalHub
from chatapp.server.live import RunningServer
from chatapp.server.services import Services
from chatapp.server.services.room_moderation import close_room, put_out

log = logging.getLogger("chatapp.control")


class LiveSync:
    def __init__(self, services: Services, hub: LocalHub, live: RunningServer) -> None:
        self._services = services
        self._hub = hub
        self._live = live
        self._reloads: set[asyncio.Task[None]] = set()

    def apply(self, event: ControlEvent) -> None:
        services, hub, live = self._services, self._hub, self._live
        match event:
            case RoomFrame(room, frame):
                hub.publish_data(room, frame, 0)
            case UsersFrame(users, frame):
                hub.send_data(users, frame, 0)
            case PutOut(user, room):
                put_out(hub, user, room)
            case RoomClosed(room, frame):
                hub.publish_data(room, frame, 0)
                close_room(hub, room)
                services.sanctions.forget(room)
            case RoomSanctionsChanged(room):
                services.sanctions.forget(room)
            case AccountSanction(user, kind, sanction):
                live.sanction_here(kind, sanction, user)  # in force before a bye that follows
                self._in_background(self._confirm(kind, user))
            case EndSessions(user, reason, message, session):
                live.end_here(user, ByeReason(reason), message, session_id=session)
            case RoleChanged(user, role):
                live.role_here(user, role)
            case AddressBanned(ban, message):
                live.banned_here(ban, message)
            case AddressUnbanned(network):
                services.address_bans.remove(network)
            case DevicesChanged(user):
                services.devices.cache.forget(user)
            case MessageGone(message_id):
                services.downloads.forget_message(message_id)
            case FiltersReloaded():
                self._in_background(self._reload_filters())

    async def resync(self) -> None:
        services, store, now = self._services, self._services.store, utc_now()
        suspensions = await store.account_sanctions("suspend", now)
        mutes = await store.account_sanctions("mute", now)
        bans = await store.address_bans(now)
        services.suspensions.replace(suspensions)
        services.mutes.replace(mutes)
        for ban in services.address_bans.replace(bans):
            self._live.banned_here(ban, ban_message(ban))
        for sanction in suspensions:  # a lost suspension: its user is still connected here
            self._live.end_here(sanction.user_id, ByeReason.SUSPENDED, described(sanction, "suspended"))
        services.sanctions.forget_all()
        services.devices.cache.forget_all()
        counts = {"suspended": len(suspensions), "muted": len(mutes), "address_bans": len(bans)}
        activity.record("control_resync", **counts)
        if services.filters.path is not None:
            await self._reload_filters()

    async def _confirm(self, kind: str, user_id: int) -> None:
        """Read the user's sanction again from the store: two moderators acting on the same user
        through two processes at once may have had their events cross, and the store's commit order
        is the truth. Kept only if nothing changed the table here meanwhile (a later change is newer
        than this read)."""
        services = self._services
        table = services.suspensions if kind == "suspend" else services.mutes
        changes = table.changes
        try:
            found = await services.store.account_sanctions(kind, utc_now(), user_id=user_id)
        except Exception:
            log.exception("event=control_confirm_failed kind=%s", kind)
            return
        if table.changes == changes:
            self._live.sanction_here(kind, found[0] if found else None, user_id)

    async def _reload_filters(self) -> None:
        filters = self._services.filters
        if filters.path is None:
            return
        try:
            # Reading and compiling a file is blocking work: off the event loop.
            rules = await asyncio.get_running_loop().run_in_executor(None, filters.reload)
        except Exception as error:  # the filter's errors are sentences about the file
            activity.record("filters_reload_failed", logging.WARNING, reason=str(error))
            return
        activity.record("filters_reloaded", rules=rules, path=str(filters.path))

    def close(self) -> None:
        for task in list(self._reloads):
            task.cancel()

    def _in_background(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(work)
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)
