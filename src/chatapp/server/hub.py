"""Who is online and in which rooms, and delivery to them.

The hub encodes a frame once and hands the same bytes to every recipient's
outbox; it never awaits a recipient, so one slow reader cannot delay a room.
It knows nothing of SQL or sockets: members are anything with an outbox-like
``deliver`` and a ``close``. When several server processes share a broker,
this is the one place that learns to publish to and consume from it.
"""

from __future__ import annotations

from typing import Protocol

from chatapp.protocol import DEFAULT_ROOM, Frame, Presence, encode


class Member(Protocol):
    @property
    def user_id(self) -> int: ...
    @property
    def username(self) -> str: ...
    def deliver(self, data: bytes) -> None: ...


class Hub:
    def __init__(self) -> None:
        self._online: dict[int, Member] = {}
        self._rooms: dict[str, dict[int, Member]] = {DEFAULT_ROOM: {}}

    def online(self, user_id: int) -> Member | None:
        return self._online.get(user_id)

    @property
    def online_count(self) -> int:
        return len(self._online)

    def members(self, room: str) -> list[Member]:
        return list(self._rooms.get(room, {}).values())

    def is_member(self, room: str, member: Member) -> bool:
        return self._rooms.get(room, {}).get(member.user_id) is member

    def attach(self, member: Member) -> Member | None:
        """Put a signed-in member online in the default room.

        If the same user was online through another member (a replaced or
        resumed session), that member is swapped out silently — the user never
        went offline, so nobody sees a leave and a join — and returned so the
        caller can close it.
        """
        previous = self._online.get(member.user_id)
        self._online[member.user_id] = member
        for members in self._rooms.values():
            if previous is not None and members.get(member.user_id) is previous:
                members[member.user_id] = member
        room = self._rooms[DEFAULT_ROOM]
        if member.user_id not in room:
            room[member.user_id] = member
            self.publish(DEFAULT_ROOM, Presence(event="join", room=DEFAULT_ROOM, username=member.username))
        return previous

    def detach(self, member: Member) -> None:
        """Take a member offline; announce it unless another member already took its place."""
        if self._online.get(member.user_id) is not member:
            return
        del self._online[member.user_id]
        for name, members in self._rooms.items():
            if members.get(member.user_id) is member:
                del members[member.user_id]
                self.publish(name, Presence(event="leave", room=name, username=member.username))

    def publish(self, room: str, frame: Frame) -> int:
        """Deliver a frame to every member of a room; return how many it went to."""
        members = self._rooms.get(room)
        if not members:
            return 0
        data = encode(frame)
        # A copy: delivery can cut off a member, which removes it from the room.
        recipients = list(members.values())
        for member in recipients:
            member.deliver(data)
        return len(recipients)
