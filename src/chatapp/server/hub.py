"""Who is online, in which rooms, with which status — and delivery to them.

The hub encodes a frame once and hands the same bytes to every recipient; it
never awaits a recipient, so one slow reader cannot delay a room. Frames
published to a room wait until the end of the event-loop turn (``flush``), so
that a run of messages to the same room goes to each member as one joined
piece of bytes: the fan-out loop then runs once per run, not once per
message, which is what lets a busy room cost little more per message than the
write system calls themselves. Runs keep publishing order, so a member in
several rooms still gets every message in id order. It knows
nothing of SQL or sockets: a member is anything with the :class:`Member`
methods. Rooms here hold *online* members only; stored memberships are the
store's business, and a member brings its rooms with it when it comes online.
When several server processes share a broker, this is the one place that
learns to publish to and consume from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import msgspec

from chatapp.protocol import Frame, OnlineUser, Presence, encode
from chatapp.protocol.frames import Ref

Parts = Sequence[tuple[bytes, int]]
"""The frames of a run, one by one, each with its message id (0: none)."""


class Member(Protocol):
    @property
    def user_id(self) -> int: ...
    @property
    def username(self) -> str: ...
    def deliver(self, data: bytes, message_id: int, parts: Parts | None, /) -> None:
        """Queue encoded frames; ``message_id`` is the highest message id they carry (0: none).

        ``data`` is one frame, or several joined; then ``parts`` lists each
        frame with its message id, for a member that must tell them apart.
        """
        ...


Own = tuple[int, Frame]
"""A user and the copy of a frame meant for them alone: the requester's, with its ``ref`` and ``nonce``."""


class _Run:
    """Frames published to one room one after another, waiting for the end of the turn.

    ``own`` holds, per user, the parts of the run that user gets in a copy of its own (by index).
    """

    __slots__ = ("room", "parts", "last_id", "own")

    def __init__(self, room: str) -> None:
        self.room = room
        self.parts: list[tuple[bytes, int]] = []
        self.last_id = 0
        self.own: dict[int, list[tuple[int, bytes]]] | None = None

    def add(self, data: bytes, message_id: int, own: Own | None) -> None:
        if own is not None:
            if self.own is None:
                self.own = {}
            self.own.setdefault(own[0], []).append((len(self.parts), encode(own[1])))
        self.parts.append((data, message_id))
        if message_id:
            self.last_id = message_id

    def parts_for(self, user_id: int) -> Parts:
        """The run as ``user_id`` gets it: with its own copies in place of the shared ones."""
        mine = self.own.get(user_id) if self.own is not None else None
        if mine is None:
            return self.parts
        parts = list(self.parts)
        for index, data in mine:
            parts[index] = (data, parts[index][1])
        return parts


class Hub:
    def __init__(self, status_limit: int = 0) -> None:
        """``status_limit``: rooms with more online members than this get no online, offline,
        away and back events (0: no limit). Each sign-in would otherwise write to every member:
        N sign-ins cost N² frames, which is what limits a room of thousands.

        Until :meth:`flush_at_turn_end` is called, every publish is delivered at once."""
        self._status_limit = status_limit
        self._wake: Callable[[], None] | None = None
        self._runs: list[_Run] = []
        self._online: dict[int, Member] = {}
        self._rooms: dict[str, dict[int, Member]] = {}
        self._rooms_of: dict[int, set[str]] = {}
        self._away: dict[int, str] = {}
        self._seen: dict[int, int] = {}  # last message id delivered, while the store catches up
        # The last message id published to each room and sent to each user directly: what a member
        # has been handed when it leaves, without counting per delivery in the fan-out loop.
        self._last_in_room: dict[str, int] = {}
        self._last_direct: dict[int, int] = {}

    def flush_at_turn_end(self, wake: Callable[[], None]) -> None:
        """From now on, hold publishes until :meth:`flush`; ``wake`` asks for that to run at the
        end of the current event-loop turn (the server's ``Flusher``, before anything is written)."""
        self.flush()
        self._wake = wake

    # -- questions ------------------------------------------------------------

    def online(self, user_id: int) -> Member | None:
        return self._online.get(user_id)

    @property
    def online_count(self) -> int:
        return len(self._online)

    @property
    def tracked_rooms(self) -> int:
        """Rooms the hub keeps anything of: only those with someone online in them."""
        return len(self._rooms.keys() | self._last_in_room.keys())

    def online_in(self, room: str) -> int:
        return len(self._rooms.get(room, ()))

    def is_member(self, room: str, member: Member) -> bool:
        return self._rooms.get(room, {}).get(member.user_id) is member

    def rooms_of(self, user_id: int) -> frozenset[str]:
        return frozenset(self._rooms_of.get(user_id, ()))

    def away(self, user_id: int) -> str | None:
        return self._away.get(user_id)

    def last_delivered(self, user_id: int) -> int:
        """The highest message id handed to an online user's member by room or direct delivery."""
        rooms = self._rooms_of.get(user_id, ())
        in_rooms = max((self._last_in_room.get(room, 0) for room in rooms), default=0)
        return max(in_rooms, self._last_direct.get(user_id, 0))

    def seen(self, user_id: int) -> int:
        """The highest message id delivered to a user who just went offline, until the store has it.

        A login right after a disconnect must not replay what the old session
        already delivered, though the old session's record is still being written.
        """
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
        self.flush()  # what was published before it came online is not for it
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
        self.flush()  # what was published while it was online is still handed to it
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
        self.flush()
        self._rooms.setdefault(room, {})[member.user_id] = member
        self._rooms_of.setdefault(member.user_id, set()).add(room)
        self.publish(room, Presence(event="join", room=room, username=member.username))
        self.flush()  # before the caller answers ``joined``: the announcement comes first, as it did

    def leave(self, member: Member, room: str) -> None:
        """An online member left a room: announce it to the room, itself included, then remove it."""
        self.publish(room, Presence(event="leave", room=room, username=member.username))
        self.flush()  # the leaver gets its own announcement and everything before it
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

    def _forget_room(self, room: str) -> None:
        """Nobody is online in ``room`` any more: keep nothing of it (rooms come and go by the
        thousand; what the hub keeps must be bounded by who is online)."""
        self._rooms.pop(room, None)
        self._last_in_room.pop(room, None)

    # -- delivery -------------------------------------------------------------

    def _publish_status(self, room: str, frame: Presence, own: Own | None = None) -> None:
        if not self._status_limit or len(self._rooms.get(room, ())) <= self._status_limit:
            self.publish(room, frame, own=own)
            return
        if own is None:
            return
        # Too many online for status events, but the one who asked still hears its answer.
        member = self._rooms[room].get(own[0])
        if member is not None:
            self.flush()
            member.deliver(encode(own[1]), 0, None)

    def publish(self, room: str, frame: Frame, message_id: int = 0, *, own: Own | None = None) -> int:
        """Deliver a frame to every online member of a room at the end of this turn.

        With ``own``, that user gets its own copy instead (the requester's, with its ``ref``).
        Returns how many members it goes to.
        """
        members = self._rooms.get(room)
        if not members:
            return 0
        data = encode(frame)
        runs = self._runs
        if message_id:
            self._last_in_room[room] = message_id
        if runs and runs[-1].room == room:
            runs[-1].add(data, message_id, own)
        else:
            run = _Run(room)
            run.add(data, message_id, own)
            runs.append(run)
            if len(runs) == 1:
                if self._wake is None:
                    self.flush()
                else:
                    self._wake()
        return len(members)

    def flush(self) -> None:
        """Hand every run published so far to the members of its room, in publishing order."""
        while self._runs:
            runs, self._runs = self._runs, []
            for run in runs:
                members = self._rooms.get(run.room)
                if not members:
                    continue
                data, joined = _joined(run.parts)
                last_id = run.last_id
                # A copy: delivery can cut off a member, which removes it from the room.
                if run.own is None:
                    for member in list(members.values()):
                        member.deliver(data, last_id, joined)
                    continue
                own = run.own
                for user_id, member in list(members.items()):
                    if user_id in own:
                        own_data, own_joined = _joined(run.parts_for(user_id))
                        member.deliver(own_data, last_id, own_joined)
                    else:
                        member.deliver(data, last_id, joined)

    def send_to_users(
        self, user_ids: Iterable[int], frame: Frame, message_id: int = 0, *, own: Own | None = None
    ) -> int:
        """Deliver a frame to the online sessions of these users (each once); with ``own``, that
        user gets its own copy instead."""
        self.flush()  # keeps id order for a recipient who also gets room messages
        data = encode(frame)
        delivered = 0
        for user_id in set(user_ids):
            member = self._online.get(user_id)
            if member is not None:
                if own is not None and own[0] == user_id:
                    member.deliver(encode(own[1]), message_id, None)
                else:
                    member.deliver(data, message_id, None)
                if message_id:
                    self._last_direct[user_id] = message_id
                delivered += 1
        return delivered


def _joined(parts: Parts) -> tuple[bytes, Parts | None]:
    """A run's frames as one piece of bytes, and the parts when there are several."""
    if len(parts) == 1:
        return parts[0][0], None
    return b"".join([part for part, _ in parts]), parts
