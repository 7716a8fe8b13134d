"""What one server process tells the others when a moderator or an admin acts (``--redis-url``).

Each event is told after the change is committed to the database (commit, then tell, as messages
are published), and each other process applies it to its own sessions and its own in-memory state
(:mod:`chatapp.server.live_sync`). The database stays the truth: an event carries the committed
record it changed (a suspension, an address ban), or only names what to read again (a room's
sanctions), and a process that may have missed events (its Redis link came back) reloads the
cached moderation state from the database.

:class:`Others` is the interface the services tell through: :data:`ALONE` in one process (nobody
to tell), :class:`~chatapp.server.shared_control.SharedControl` with ``--redis-url``.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from chatapp.server.store import AccountSanctionRecord, AddressBanRecord


class EndSessions(msgspec.Struct, tag="end", array_like=True, frozen=True):
    """Close the user's live connection (only the one holding ``session``, when given) with ``bye``
    ``reason`` (a ``ByeReason`` value) and ``message``: a suspension, a disconnect, a reset password."""

    user: int
    reason: str
    message: str | None
    session: int | None = None


class RoleChanged(msgspec.Struct, tag="role", array_like=True, frozen=True):
    """The user's server role is now ``role`` (committed): a live session has it at once."""

    user: int
    role: str


class AccountSanction(msgspec.Struct, tag="account", array_like=True, frozen=True):
    """The user's suspension or server-wide mute (``kind``) is now ``sanction`` (None: lifted)."""

    user: int
    kind: str
    sanction: AccountSanctionRecord | None


class AddressBanned(msgspec.Struct, tag="ban_address", array_like=True, frozen=True):
    """A range is banned: refuse it from now on and close its connections with ``message``."""

    ban: AddressBanRecord
    message: str


class AddressUnbanned(msgspec.Struct, tag="unban_address", array_like=True, frozen=True):
    network: str


class RoomSanctionsChanged(msgspec.Struct, tag="room_sanctions", array_like=True, frozen=True):
    """A ban or mute in the room was given or lifted: read the room's sanctions again."""

    room: str


class RoomFrame(msgspec.Struct, tag="room_frame", array_like=True, frozen=True):
    """A frame (encoded) for the room's online members: a room event, a topic, a removed message."""

    room: str
    frame: bytes


class UsersFrame(msgspec.Struct, tag="users_frame", array_like=True, frozen=True):
    """A frame (encoded) for these users, wherever they are online."""

    users: list[int]
    frame: bytes


class PutOut(msgspec.Struct, tag="put_out", array_like=True, frozen=True):
    """The user was kicked or banned from the room (the membership is gone): the process holding
    them online takes them out of it, and the room hears them leave."""

    user: int
    room: str


class RoomClosed(msgspec.Struct, tag="room_closed", array_like=True, frozen=True):
    """The room is being deleted: its online members get ``frame`` (``room_deleted``) and are out of
    it, without a leave event."""

    room: str
    frame: bytes


class FiltersReloaded(msgspec.Struct, tag="filters", array_like=True, frozen=True):
    """An admin reloaded the content filters: read this process's filter file again too."""


class DevicesChanged(msgspec.Struct, tag="devices", array_like=True, frozen=True):
    """The user published or deleted a device: their devices are read again."""

    user: int


class MessageGone(msgspec.Struct, tag="message_removed", array_like=True, frozen=True):
    """A message was removed: what is cached of its file is forgotten."""

    id: int


ControlEvent = (
    EndSessions
    | RoleChanged
    | AccountSanction
    | AddressBanned
    | AddressUnbanned
    | RoomSanctionsChanged
    | RoomFrame
    | UsersFrame
    | PutOut
    | RoomClosed
    | FiltersReloaded
    | DevicesChanged
    | MessageGone
)


class Told(msgspec.Struct, array_like=True, frozen=True):
    """Events as they travel: which process told them. The events of one action travel together
    and are applied together (in one turn of the event loop, as the acting process applied them), so
    that nobody there acts between them: a banned member is out of the room by the time the room
    hears of the ban."""

    node: str
    events: list[ControlEvent]


encode_told = msgspec.msgpack.Encoder().encode
decode_told = msgspec.msgpack.Decoder(Told).decode


class Others(Protocol):
    """The other server processes, as far as a moderator's action needs them."""

    def tell(self, *events: ControlEvent) -> None:
        """Have every other process apply ``events``, in this order and together (call it once the
        change is committed)."""
        ...


class Alone:
    """One server process: there is nobody to tell."""

    def tell(self, *events: ControlEvent) -> None:
        return None


ALONE = Alone()
