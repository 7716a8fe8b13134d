"""Each room's bans and mutes in memory, so that checking them costs the send path no query.

A room's sanctions are read from the store the first time the room is used after the server
starts (a send, a join, a history page, a ban), then kept: every ban, mute and lift made through
:class:`~.room_moderation.RoomModeration` updates the store and this cache together, and a
sanction whose ``until`` has passed counts as none (checked against the clock when met, then
dropped). Only rooms that exist are cached, so the cache is bounded by the number of rooms.

Several server processes (``--redis-url``): a ban or mute given through another process arrives
as :class:`~chatapp.server.control_events.RoomSanctionsChanged`, and the room is :meth:`forget`-ten
here, to be read again from the store at its next use; after a reconnect to Redis (events may have
been lost) every room is (:meth:`forget_all`). A read that was under way when a room was forgotten
is not kept: it may predate the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime

from chatapp.clock import utc_now, wire_timestamp
from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.protocol.rules import check_room
from chatapp.server.store import SanctionRecord, Store

BAN, MUTE = "ban", "mute"

Entries = dict[int, dict[str, SanctionRecord]]
"""A room's sanctions: user id → kind → sanction."""


class RoomSanctions:
    def __init__(self, store: Store, clock: Callable[[], datetime] = utc_now) -> None:
        self._store = store
        self._clock = clock
        self._rooms: dict[str, Entries] = {}
        self._loading: dict[str, asyncio.Future[Entries]] = {}
        self._forgotten = 0
        """Bumped by every :meth:`forget`: a read that saw one meanwhile is not kept."""

    # -- reading -------------------------------------------------------------------

    async def of_room(self, room: str, room_id: int) -> Entries:
        """The room's sanctions, read from the store on first use (concurrent first uses read once)."""
        entries = self._rooms.get(room)
        if entries is not None:
            return entries
        loading = self._loading.get(room)
        if loading is not None:
            return await asyncio.shield(loading)
        future: asyncio.Future[Entries] = asyncio.get_running_loop().create_future()
        self._loading[room] = future
        forgotten = self._forgotten
        try:
            records = await self._store.room_sanctions(room_id, self._clock())
        except asyncio.CancelledError:
            future.cancel()  # a waiter, if any, is cancelled with it and may try again
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()  # retrieved: a waiter, if any, raises it; nobody else need
            raise
        finally:
            self._loading.pop(room, None)
        entries = {}
        for record in records:
            entries.setdefault(record.user_id, {})[record.kind] = record
        if forgotten == self._forgotten:
            self._rooms[room] = entries
        future.set_result(entries)
        return entries

    def in_force(self, entries: Entries, user_id: int, kind: str) -> SanctionRecord | None:
        """The user's ``kind`` of sanction in these entries if it is in force (an expired one is dropped)."""
        kinds = entries.get(user_id)
        if not kinds:
            return None
        record = kinds.get(kind)
        if record is None:
            return None
        if record.until is not None and record.until <= self._clock():
            del kinds[kind]
            if not kinds:
                del entries[user_id]
            return None
        return record

    async def check_send(self, room: str, room_id: int, user_id: int) -> None:
        """Refuse a member's message to the room if they are banned or muted there. No query once
        the room is loaded (the send path)."""
        entries = self._rooms.get(room)
        if entries is None:
            entries = await self.of_room(room, room_id)
        if not entries or user_id not in entries:
            return
        refuse_if_banned(self.in_force(entries, user_id, BAN), room)
        muted = self.in_force(entries, user_id, MUTE)
        if muted is not None:
            raise ProtocolError(
                ErrorCode.MUTED, _sentence("you are muted in", room, muted), until=_until(muted)
            )

    async def room_to_post(self, room: str, room_ids: Mapping[str, int], user_id: int) -> int:
        """The id of ``room`` if the user (a member of ``room_ids``) may post there now (a message, a
        file); else the refusal: not a member (or banned from it), or banned or muted there."""
        check_room(room)
        room_id = room_ids.get(room)
        if room_id is None:
            await self.check_not_banned_by_name(room, user_id)
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"you are not in room {room!r}; /join it first")
        # In memory (the room's sanctions are read once, on its first use): no query per send.
        await self.check_send(room, room_id, user_id)
        return room_id

    async def check_not_banned(self, room: str, room_id: int, user_id: int) -> None:
        """Refuse joining, reading or listing the room to a user banned from it."""
        entries = await self.of_room(room, room_id)
        refuse_if_banned(self.in_force(entries, user_id, BAN), room)

    async def check_not_banned_by_name(self, room: str, user_id: int) -> None:
        """:meth:`check_not_banned` for a room known only by name (a user who is not a member); a
        room that does not exist bans nobody (and is not cached)."""
        if room not in self._rooms:
            record = await self._store.get_room(room)
            if record is None:
                return
            await self.of_room(room, record.id)
        refuse_if_banned(self.in_force(self._rooms.get(room, {}), user_id, BAN), room)

    async def in_room(self, room: str, room_id: int) -> list[SanctionRecord]:
        """Every sanction in force in the room, by username and kind."""
        entries = await self.of_room(room, room_id)
        found = []
        for user_id, kinds in list(entries.items()):
            for kind in list(kinds):
                record = self.in_force(entries, user_id, kind)
                if record is not None:
                    found.append(record)
        return sorted(found, key=lambda record: (record.username.lower(), record.kind))

    # -- changes (the store is written first, by the caller) --------------------------

    def put(self, room: str, record: SanctionRecord) -> None:
        entries = self._rooms.get(room)
        if entries is not None:
            entries.setdefault(record.user_id, {})[record.kind] = record

    def drop(self, room: str, user_id: int, kind: str) -> None:
        kinds = self._rooms.get(room, {}).get(user_id)
        if kinds is not None:
            kinds.pop(kind, None)

    def forget(self, room: str) -> None:
        """The room is gone (deleted), or its sanctions were changed by another process: read them
        again at its next use (a room of the same name made later starts clean)."""
        self._forgotten += 1
        self._rooms.pop(room, None)

    def forget_all(self) -> None:
        """Changes may have been missed (a reconnect to the other processes): read every room again."""
        self._forgotten += 1
        self._rooms.clear()


def refuse_if_banned(ban: SanctionRecord | None, room: str) -> None:
    if ban is not None:
        raise ProtocolError(ErrorCode.BANNED, _sentence("you are banned from", room, ban), until=_until(ban))


def _until(record: SanctionRecord) -> str | None:
    return None if record.until is None else wire_timestamp(record.until)


def _sentence(what: str, room: str, record: SanctionRecord) -> str:
    sentence = f"{what} room {room!r}"
    sentence += " until it is lifted" if record.until is None else f" until {wire_timestamp(record.until)}"
    if record.reason:
        sentence += f": {record.reason}"
    return sentence
