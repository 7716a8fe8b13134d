"""Who is online, in which rooms, with which status — and fan-out to them.

The hub encodes a frame once and hands the same bytes down to delivery
(:mod:`chatapp.server.transport.delivery`), which joins what is published to a
room within one event-loop turn into one run and hands it to each member at the
end of the turn; the hub never awaits a recipient, so one slow reader cannot
delay a room. Before a membership changes it has delivery hand out what is
pending, so nobody receives what was published before they arrived or misses
what was published while they were there.

It knows nothing of SQL or sockets: a member is anything with the
:class:`Member` attributes (a signed-in :class:`~chatapp.server.session.Session`).
Rooms here hold *online* members only; stored memberships are the store's
business, and a member brings its rooms with it when it comes online.

:class:`Hub` is the interface the rest of the server uses; :class:`LocalHub`
implements it for one process. A broker shared by several processes (Redis)
implements the same interface.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

import msgspec

from chatapp.protocol import Frame, OnlineUser, Presence, encode
from chatapp.protocol.frame_base import Ref
from chatapp.server.transport.delivery import Delivery, Parts, Recipient


class Member(Recipient, Protocol):
    """A signed-in user's session as the hub sees it."""

    @property
    def user_id(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def session_id(self) -> int: ...
    @property
    def endpoint(self) -> str:
        """Where the session is connected from (``host:port``)."""
        ...

    @property
    def online_since(self) -> datetime: ...

    def closes_in(self) -> float | None:
        """Seconds until the server closes this session if its client stays silent (None: never)."""
        ...

    def displaced(self, *, same_session: bool) -> None:
        """Another sign-in of the same user took this one's place: a resume of this same session
        on a new link (the session lives on there), or another session (this one ends)."""
        ...


Own = tuple[int, Frame]
"""A user and the copy of a frame meant for them alone: the requester's, with its ``ref`` and ``nonce``."""


class Hub(Protocol):
    """Presence and fan-out, as the services use them."""

    # -- questions
    def online(self, user_id: int) -> Member | None:
        """The session through which ``user_id`` is online (one per account), if any."""
        ...

    def present(self, user_id: int) -> bool:
        """Whether ``user_id`` is online through this process or (``--redis-url``) another one."""
        ...

    def elsewhere(self, user_id: int) -> int | None:
        """The session through which ``user_id`` is online on another process (``--redis-url``)."""
        ...

    def displace_elsewhere(self, user_id: int, session_id: int) -> None:
        """``session_id`` went online here: tell another process holding ``user_id`` online to close
        that session (or hand it over, if it is the same one, resumed here)."""
        ...

    def online_in(self, room: str) -> int: ...
    def who(self, room: str) -> list[OnlineUser]: ...
    def away(self, user_id: int) -> str | None: ...

    # -- the seen cursor of users going offline
    def last_delivered(self, user_id: int) -> int:
        """The highest message id handed to an online user by room or direct delivery."""
        ...

    def seen(self, user_id: int) -> int:
        """The highest message id delivered to a user who just went offline, until the store has it."""
        ...

    def note_seen(self, user_id: int, message_id: int) -> None: ...
    def forget_seen(self, user_id: int, message_id: int) -> None: ...

    # -- coming and going
    def attach(self, member: Member, rooms: Iterable[str]) -> Member | None:
        """Put a member online in its rooms; the member it took the place of, if any."""
        ...

    def detach(self, member: Member) -> None: ...
    def join(self, member: Member, room: str) -> None: ...
    def leave(self, member: Member, room: str) -> None: ...
    def set_away(self, member: Member, text: str | None, ref: Ref = None) -> None: ...
    def close_room(self, room: str) -> list[Member]:
        """A room was deleted: hand out what was published to it, then take every online member
        out of it without announcing anything; the members it had."""
        ...

    # -- fan-out
    def publish(self, room: str, frame: Frame, message_id: int = 0, *, own: Own | None = None) -> int:
        """Deliver a frame to every online member of a room; how many it goes to."""
        ...

    def send_to_users(
        self, user_ids: Iterable[int], frame: Frame, message_id: int = 0, *, own: Own | None = None
    ) -> int:
        """Deliver a frame to the online sessions of these users (each once)."""
        ...


class LocalHub:
    """The hub of one server process: everything in memory."""

    def __init__(self, delivery: Delivery, status_limit: int = 0) -> None:
        """``status_limit``: rooms with more online members than this get no online, offline,
        away and back events (0: no limit). Each sign-in would otherwise write to every member:
        N sign-ins cost N² frames, which is what limits a room of thousands."""
        self._delivery = delivery
        self._status_limit = status_limit
        self._online: dict[int, Member] = {}
        self._rooms: dict[str, dict[int, Member]] = {}
        self._rooms_of: dict[int, set[str]] = {}
        self._away: dict[int, str] = {}
        self._seen: dict[int, int] = {}  # last message id delivered, while the store catches up
        # The last message id published to each room and sent to each user directly: what a member
        # has been handed when it leaves, without counting per delivery in the fan-out loop.
        self._last_in_room: dict[str, int] = {}
        self._last_direct: dict[int, int] = {}

    # -- questions ------------------------------------------------------------

    def online(self, user_id: int) -> Member | None:
        return self._online.get(user_id)

    def present(self, user_id: int) -> bool:
        return user_id in self._online

    def elsewhere(self, user_id: int) -> int | None:
        return None  # one process: there is no elsewhere (see shared_presence.SharedHub)

    def displace_elsewhere(self, user_id: int, session_id: int) -> None:
        return None

    @property
    def online_count(self) -> int:
        return len(self._online)

    @property
    def tracked_rooms(self) -> int:
        """Rooms the hub keeps anything of: only those with someone online in them."""
        return len(self._rooms.keys() | self._last_in_room.keys())

    def online_in(self, room: str) -> int:
        return len(self._rooms.get(room, ()))

    def away(self, user_id: int) -> str | None:
        return self._away.get(user_id)

    def last_delivered(self, user_id: int) -> int:
        rooms = self._rooms_of.get(user_id, ())
        in_rooms = max((self._last_in_room.get(room, 0) for room in rooms), default=0)
        return max(in_rooms, self._last_direct.get(user_id, 0))

    def seen(self, user_id: int) -> int:
        """A login right after a disconnect must not replay what the old session already
        delivered, though the old session's record is still being written."""
        return self._seen.get(user_id, 0)

    def note_seen(self, user_id: int, message_id: int) -> None:
        if message_id > self._seen.get(user_id, 0):
            self._seen[user_id] = message_id

    def forget_seen(self, user_id: int, message_id: int) -> None:
        """The store has recorded ``message_id``: the hint is no longer needed."""
        if self._seen.get(user_id, 0) <= message_id:
            self._seen.pop(user_id, None)

    def who(self, room: str) -> list[OnlineUser]:
        members = self._rooms.get(room, {})
        return sorted(
            (OnlineUser(username=m.username, away=self._away.get(uid)) for uid, m in members.items()),
            key=lambda user: user.username.lower(),
        )

    # -- coming and going -----------------------------------------------------

    def attach(self, member: Member, rooms: Iterable[str]) -> Member | None:
        """Put a signed-in member online in its rooms and tell those rooms.

        If the same user was online through another member (a replaced or
        resumed session), that member is swapped out silently — the user never
        went offline, so nobody sees offline and online — and returned so the
        caller can close it.
        """
        self._delivery.hand_out()  # what was published before it came online is not for it
        user_id = member.user_id
        previous = self._online.get(user_id)
        self._online[user_id] = member
        if previous is not None:
            for name in self._rooms_of.get(user_id, ()):
                self._rooms[name][user_id] = member
            return previous
        names = set(rooms)
        self._rooms_of[user_id] = names
        for name in names:
            self._rooms.setdefault(name, {})[user_id] = member
        for name in sorted(names):
            self._publish_status(name, Presence(event="online", room=name, username=member.username))
        return None

    def detach(self, member: Member) -> None:
        """Take a member offline and tell its rooms, unless another member already took its place."""
        user_id = member.user_id
        if self._online.get(user_id) is not member:
            return
        self._delivery.hand_out()  # what was published while it was online is still handed to it
        del self._online[user_id]
        self._away.pop(user_id, None)
        self._last_direct.pop(user_id, None)
        for name in sorted(self._rooms_of.pop(user_id, ())):
            members = self._rooms[name]
            del members[user_id]
            if members:
                self._publish_status(name, Presence(event="offline", room=name, username=member.username))
            else:
                self._forget_room(name)

    def join(self, member: Member, room: str) -> None:
        """An online member joined a room: add it and announce it to the room, itself included."""
        self._delivery.hand_out()
        self._rooms.setdefault(room, {})[member.user_id] = member
        self._rooms_of.setdefault(member.user_id, set()).add(room)
        self.publish(room, Presence(event="join", room=room, username=member.username))
        self._delivery.hand_out()  # before the caller answers ``joined``: the announcement comes first

    def leave(self, member: Member, room: str) -> None:
        """An online member left a room: announce it to the room, itself included, then remove it."""
        self.publish(room, Presence(event="leave", room=room, username=member.username))
        self._delivery.hand_out()  # the leaver gets its own announcement and everything before it
        members = self._rooms.get(room, {})
        members.pop(member.user_id, None)
        if not members:
            self._forget_room(room)
        self._rooms_of.get(member.user_id, set()).discard(room)

    def set_away(self, member: Member, text: str | None, ref: Ref = None) -> None:
        """Set (text) or clear (None) a member's away message and tell its rooms; the member's own
        copies carry ``ref``."""
        user_id = member.user_id
        if text:
            self._away[user_id] = text
        elif self._away.pop(user_id, None) is None:
            return  # was not away: nothing to announce
        for name in sorted(self._rooms_of.get(user_id, ())):
            event = (
                Presence(event="away", room=name, username=member.username, text=text)
                if text
                else Presence(event="back", room=name, username=member.username)
            )
            self._publish_status(name, event, (user_id, msgspec.structs.replace(event, ref=ref)))

    def close_room(self, room: str) -> list[Member]:
        """A deleted room: its members were told (``room_deleted``), so nobody hears them leave."""
        self._delivery.hand_out()
        members = list(self._rooms.get(room, {}).values())
        for member in members:
            self._rooms_of.get(member.user_id, set()).discard(room)
        self._forget_room(room)
        return members

    def _forget_room(self, room: str) -> None:
        """Nobody is online in ``room`` any more: keep nothing of it (rooms come and go by the
        thousand; what the hub keeps must be bounded by who is online)."""
        self._rooms.pop(room, None)
        self._last_in_room.pop(room, None)

    # -- fan-out --------------------------------------------------------------

    def _within_status_limit(self, room: str) -> bool:
        """Whether the room is small enough for status events (``status_limit``)."""
        return not self._status_limit or len(self._rooms.get(room, ())) <= self._status_limit

    def _publish_status(self, room: str, frame: Presence, own: Own | None = None) -> None:
        if self._within_status_limit(room):
            self.publish(room, frame, own=own)
            return
        if own is None:
            return
        # Too many online for status events, but the one who asked still hears its answer.
        member = self._rooms[room].get(own[0])
        if member is not None:
            self._delivery.hand_out()
            member.deliver(encode(own[1]), 0, None)

    def publish(self, room: str, frame: Frame, message_id: int = 0, *, own: Own | None = None) -> int:
        """Deliver a frame to every online member of a room at the end of this turn.

        With ``own``, that user gets its own copy instead (the requester's, with its ``ref``).
        Returns how many members it goes to.
        """
        members = self._rooms.get(room)
        if not members:
            return 0
        own_data = None if own is None else (own[0], encode(own[1]))
        return self.publish_data(room, encode(frame), message_id, own_data)

    def publish_data(
        self, room: str, data: bytes, message_id: int, own: tuple[int, bytes] | None = None
    ) -> int:
        """:meth:`publish` of a frame encoded already (by this process or another one, through Redis)."""
        members = self._rooms.get(room)
        if not members:
            return 0
        if message_id:
            self._last_in_room[room] = message_id
        self._delivery.publish(members, data, message_id, own)
        return len(members)

    def publish_parts(self, room: str, parts: Parts) -> int:
        """:meth:`publish_data` of several messages to one room, in id order, none with an own copy
        (another process's batch): one call for all of them, however many they are."""
        members = self._rooms.get(room)
        if not members or not parts:
            return 0
        self._last_in_room[room] = parts[-1][1]
        self._delivery.publish_parts(members, parts)
        return len(members)

    def send_to_users(
        self, user_ids: Iterable[int], frame: Frame, message_id: int = 0, *, own: Own | None = None
    ) -> int:
        """Deliver a frame to the online sessions of these users (each once); with ``own``, that
        user gets its own copy instead."""
        own_data = None if own is None else (own[0], encode(own[1]))
        return self.send_data(user_ids, encode(frame), message_id, own_data)

    def send_data(
        self, user_ids: Iterable[int], data: bytes, message_id: int, own: tuple[int, bytes] | None = None
    ) -> int:
        """:meth:`send_to_users` of a frame encoded already (by this process or another one)."""
        self._delivery.hand_out()  # keeps id order for a recipient who also gets room messages
        delivered = 0
        for user_id in set(user_ids):
            member = self._online.get(user_id)
            if member is not None:
                if own is not None and own[0] == user_id:
                    member.deliver(own[1], message_id, None)
                else:
                    member.deliver(data, message_id, None)
                if message_id:
                    self._last_direct[user_id] = message_id
                delivered += 1
        return delivered
