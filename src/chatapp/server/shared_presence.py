"""Presence shared by several server processes through Redis (``--redis-url``).

:class:`SharedHub` is the :class:`~chatapp.server.hub.LocalHub` of one process that also knows who
is online on the others, so ``who``, online counts, ``whois`` and the duplicate-login ``reject``
see every process, and presence events reach members on every process.

- Each process writes a snapshot of its own online users (id, name, away text, rooms) to one Redis
  key, ``chatapp:presence:node:<node>``, with a TTL of :data:`TTL` seconds, rewritten every
  :data:`REFRESH` seconds, and at once after a change of this process (so a process that starts
  now, and missed the change on the channel, does not take a user who just left for online). A
  process that dies stops refreshing it: its key expires and the others drop its users (and tell
  their members they went offline). Nothing locks an account forever.
- Each change (online, offline, join, leave, away, back) is also published on the
  ``chatapp:presence`` channel; the others update their copy and deliver the presence event to
  their own members. Pub/sub may lose one: presence is state, and the next snapshot read (every
  :data:`REFRESH` seconds) puts it right. Each process numbers its changes, so a snapshot older than
  an event already applied is not taken.

The hub's questions stay synchronous: they read the copy in memory, never Redis.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable
from typing import Any

import msgspec
import redis.asyncio as redis
from redis.exceptions import RedisError

from chatapp.protocol import OnlineUser, Presence
from chatapp.protocol.frame_base import Ref
from chatapp.server.hub import LocalHub, Member, Own
from chatapp.server.redis_link import RedisLink
from chatapp.server.transport.delivery import Delivery

log = logging.getLogger("chatapp.presence")

CHANNEL = "chatapp:presence"
KEY_PREFIX = "chatapp:presence:node:"
TTL = 3
"""Seconds a process's snapshot lives unless refreshed: how long the users of a dead process stay."""
REFRESH = 1.0
"""Seconds between writing this process's snapshot and reading the others'."""


class RemoteUser(msgspec.Struct, array_like=True):
    id: int
    session: int
    username: str
    away: str | None
    rooms: list[str]


class Snapshot(msgspec.Struct, array_like=True, frozen=True):
    """A process's online users, as of its change number ``seq``."""

    node: str
    seq: int
    users: list[RemoteUser]


class Change(msgspec.Struct, array_like=True, frozen=True):
    """One change on the presence channel; ``kind`` is a presence event, ``gone`` (the process
    shut down: all its users went offline), or ``displace``: a command to the process holding
    ``user`` online to close that session (another sign-in replaced it, or ``session`` itself
    resumed on another process)."""

    node: str
    seq: int
    kind: str
    user: int
    session: int
    username: str
    rooms: list[str]
    text: str | None = None


_encode = msgspec.msgpack.Encoder().encode
_decode_change = msgspec.msgpack.Decoder(Change).decode
_decode_snapshot = msgspec.msgpack.Decoder(Snapshot).decode


class SharedHub(LocalHub):
    def __init__(self, delivery: Delivery, url: str, status_limit: int = 0) -> None:
        super().__init__(delivery, status_limit)
        self.node = secrets.token_hex(8)
        self._seq = 0
        self._link = RedisLink(url, self._received, lambda: None, channel=CHANNEL)
        self._client: Any = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=2, socket_keepalive=True
        )
        self._remote: dict[str, dict[int, RemoteUser]] = {}  # node -> its online users
        self._seqs: dict[str, int] = {}  # node -> the last change number applied
        # room -> the users online in it through other processes: made again after any change,
        # when next asked (the room list asks for every room's count at once)
        self._by_room: dict[str, dict[int, RemoteUser]] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()  # set by a change of this process: its snapshot is written soon
        self._quiet = False  # while set, this process's members are not told of a status change

    async def start(self) -> None:
        await self._link.start()
        await self._refresh()  # the others' users known before the first client comes
        self._refresher = asyncio.create_task(self._refresh_forever())

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            try:
                await self._refresher
            except asyncio.CancelledError:
                pass
        try:  # the others drop this process's users now rather than when the key expires
            self._seq += 1
            await self._client.delete(KEY_PREFIX + self.node)
            await self._client.publish(CHANNEL, _encode(Change(self.node, self._seq, "gone", 0, 0, "", [])))
        except (RedisError, OSError) as exc:
            log.debug("event=presence_goodbye_failed error=%r", exc)
        await self._link.close()
        await self._client.aclose()

    # -- questions, over every process ---------------------------------------------------

    def _remote_users(self, user_id: int) -> list[RemoteUser]:
        return [users[user_id] for users in self._remote.values() if user_id in users]

    def elsewhere(self, user_id: int) -> int | None:
        return next((user.session for user in self._remote_users(user_id)), None)

    def present(self, user_id: int) -> bool:
        return self.online(user_id) is not None or bool(self._remote_users(user_id))

    def displace_elsewhere(self, user_id: int, session_id: int) -> None:
        if self._remote_users(user_id):
            change = Change(self.node, self._seq, "displace", user_id, session_id, "", [])
            self._link.publish(_encode(change))

    def away(self, user_id: int) -> str | None:
        if self.online(user_id) is not None:
            return super().away(user_id)
        return next((user.away for user in self._remote_users(user_id) if user.away), None)

    def _in_room(self, room: str) -> dict[int, OnlineUser]:
        """The users online in ``room`` through other processes only."""
        if self._by_room is None:
            self._by_room = {}
            for users in self._remote.values():
                for user in users.values():
                    for name in user.rooms:
                        self._by_room.setdefault(name, {})[user.id] = user
        here = self._rooms.get(room, {})
        return {
            user.id: OnlineUser(username=user.username, away=user.away)
            for user in self._by_room.get(room, {}).values()
            if user.id not in here
        }

    def online_in(self, room: str) -> int:
        return super().online_in(room) + len(self._in_room(room))

    def who(self, room: str) -> list[OnlineUser]:
        everyone = super().who(room) + list(self._in_room(room).values())
        return sorted(everyone, key=lambda user: user.username.lower())

    # -- this process's changes, told to the others ------------------------------------------

    def attach(self, member: Member, rooms: Iterable[str]) -> Member | None:
        names = sorted(set(rooms))
        # Online on another process already (a replace or resume from there): it never went offline.
        self._quiet = self.elsewhere(member.user_id) is not None
        try:
            previous = super().attach(member, names)
        finally:
            self._quiet = False
        if previous is None:
            self._share("online", member, names)
        return previous

    def detach(self, member: Member) -> None:
        if self.online(member.user_id) is not member:
            return
        names = sorted(self._rooms_of.get(member.user_id, ()))
        # Replaced by a session on another process: the user never went offline.
        self._quiet = self.elsewhere(member.user_id) is not None
        try:
            super().detach(member)
        finally:
            self._quiet = False
        self._share("offline", member, names)

    def _publish_status(self, room: str, frame: Presence, own: Own | None = None) -> None:
        if not self._quiet:
            super()._publish_status(room, frame, own)

    def _within_status_limit(self, room: str) -> bool:
        # Counted over every process, so that a room gets status events on all of them or on none.
        # The others' users are counted only when this process's alone are within the limit.
        if not super()._within_status_limit(room):
            return False
        return not self._status_limit or self.online_in(room) <= self._status_limit

    def join(self, member: Member, room: str) -> None:
        super().join(member, room)
        self._share("join", member, [room])

    def leave(self, member: Member, room: str) -> None:
        super().leave(member, room)
        self._share("leave", member, [room])

    def set_away(self, member: Member, text: str | None, ref: Ref = None) -> None:
        before = super().away(member.user_id)
        super().set_away(member, text, ref)
        after = super().away(member.user_id)
        if after != before:
            rooms = sorted(self._rooms_of.get(member.user_id, ()))
            self._share("away" if after else "back", member, rooms, after)

    def _share(self, kind: str, member: Member, rooms: list[str], text: str | None = None) -> None:
        self._seq += 1
        who = (member.user_id, member.session_id, member.username)
        self._link.publish(_encode(Change(self.node, self._seq, kind, *who, rooms, text)))
        self._changed.set()

    # -- the others' changes ---------------------------------------------------------------

    def _received(self, data: bytes) -> None:
        try:
            change = _decode_change(data)
        except msgspec.DecodeError:
            log.warning("event=presence_undecodable bytes=%d", len(data))
            return
        if change.node == self.node:
            return
        self._by_room = None
        if change.kind == "displace":
            member = self.online(change.user)
            # Session ids come from one database sequence: of two sign-ins that went online at the
            # same moment on two processes, the later one (the higher id) stays, never neither.
            if member is not None and change.session >= member.session_id:
                same = member.session_id == change.session
                if same:
                    self.detach(member)  # its new link is on the other process; nothing takes its place here
                member.displaced(same_session=same)
            return
        self._seqs[change.node] = max(self._seqs.get(change.node, 0), change.seq)
        users = self._remote.setdefault(change.node, {})
        if change.kind == "gone":
            self._drop_node(change.node)
            return
        was_present = self.present(change.user)
        user = users.get(change.user)
        if change.kind == "online":
            rooms = list(change.rooms)
            users[change.user] = RemoteUser(change.user, change.session, change.username, None, rooms)
            if was_present:
                return  # online elsewhere already (a replace): nobody saw it go
        elif user is None:
            return  # a change of a user this process never heard come online: the snapshot has it
        elif change.kind == "offline":
            del users[change.user]
            if self.present(change.user):
                return
        elif change.kind == "join":
            user.rooms = sorted({*user.rooms, *change.rooms})
        elif change.kind == "leave":
            user.rooms = [room for room in user.rooms if room not in change.rooms]
        elif change.kind in ("away", "back"):
            user.away = change.text
        else:
            return
        self._announce(change.kind, change.username, change.rooms, change.text)

    def _announce(self, kind: str, username: str, rooms: Iterable[str], text: str | None = None) -> None:
        """Tell this process's members in ``rooms`` of a change on another process."""
        for room in rooms:
            frame = Presence(event=kind, room=room, username=username, text=text)  # type: ignore[arg-type]
            if kind in ("join", "leave"):
                self.publish(room, frame)
            else:
                self._publish_status(room, frame)

    def _drop_node(self, node: str) -> None:
        """A process shut down or died: its users went offline, unless online elsewhere."""
        users = self._remote.pop(node, {})
        self._by_room = None
        for user in users.values():
            if not self.present(user.id):
                self._announce("offline", user.username, user.rooms)

    # -- snapshots ---------------------------------------------------------------------------

    async def _refresh_forever(self) -> None:
        loop = asyncio.get_running_loop()
        next_read = loop.time() + REFRESH
        while True:
            try:  # changes write at most one snapshot per round trip, however many come at once
                await asyncio.wait_for(self._changed.wait(), max(0.0, next_read - loop.time()))
            except TimeoutError:
                pass
            reading = loop.time() >= next_read
            if reading:
                next_read = loop.time() + REFRESH
            await self._refresh(reading)

    async def _refresh(self, reading: bool = True) -> None:
        self._changed.clear()
        try:
            await self._write()
            if reading:
                await self._read()
        except (RedisError, OSError) as exc:
            # The copy in memory is kept as it is; the next refresh tries again.
            log.debug("event=presence_refresh_failed error=%r", exc)
        except Exception:
            log.exception("event=presence_refresh_failed")  # a bug: logged, and the refreshes go on

    async def _write(self) -> None:
        users = [
            RemoteUser(
                user_id,
                member.session_id,
                member.username,
                self._away.get(user_id),
                sorted(self._rooms_of.get(user_id, ())),
            )
            for user_id, member in self._online.items()
        ]
        await self._client.set(KEY_PREFIX + self.node, _encode(Snapshot(self.node, self._seq, users)), ex=TTL)

    async def _read(self) -> None:
        keys = [key async for key in self._client.scan_iter(match=KEY_PREFIX + "*", count=500)]
        values = await self._client.mget(keys) if keys else []
        alive: set[str] = set()
        for value in values:
            if value is None:
                continue
            try:
                snapshot = _decode_snapshot(value)
            except msgspec.DecodeError:
                continue
            if snapshot.node == self.node:
                continue
            alive.add(snapshot.node)
            if snapshot.seq >= self._seqs.get(snapshot.node, 0):
                self._seqs[snapshot.node] = snapshot.seq
                self._remote[snapshot.node] = {user.id: user for user in snapshot.users}
                self._by_room = None
        for node in [node for node in self._remote if node not in alive]:
            log.info("event=presence_node_gone node=%s", node)
            self._drop_node(node)
            self._seqs.pop(node, None)
