"""The frames of moderation, profiles and administration (docs/protocol.md, "Moderation").

Who may send which of them is the server's policy (``chatapp.server.policy``),
not the state table: every one of them needs a signed-in user, and the server
answers ``forbidden`` to a user whose roles do not allow the action.

Durations are whole seconds from now (absent: until lifted); times on the wire
are ISO 8601 UTC strings like every other timestamp of the protocol.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from .frame_base import BaseFrame, MessageId, Ref
from .limits import DURATION_MAX

Duration = Annotated[int, msgspec.Meta(ge=1, le=DURATION_MAX)]
"""Seconds from now; a ban, mute or suspension without one lasts until it is lifted."""

RoomAction = Literal["kick", "ban", "unban", "mute", "unmute", "op", "deop", "transfer", "invite", "uninvite"]
"""What ``moderate`` does to a user in a room."""

RoomEventAction = RoomAction | Literal["private", "public"]
"""What a ``room_event`` reports: a ``moderate`` action, or a room made private or public."""

ServerAction = Literal[
    "suspend",
    "unsuspend",
    "mute",
    "unmute",
    "disconnect",
    "promote",
    "reset_password",
    "ban_address",
    "unban_address",
    "reload_filters",
]
"""What ``admin`` does (server moderators and admins)."""

ServerRole = Literal["admin", "moderator", "user"]
RoomRole = Literal["owner", "operator"]


# -- client to server ----------------------------------------------------------


class Moderate(BaseFrame, frozen=True, tag="moderate"):
    """Act on a user in a room: kick, ban, mute (and undo), op, deop, transfer ownership, invite."""

    room: str
    action: RoomAction
    user: str
    reason: str | None = None
    duration: Duration | None = None
    """For ``ban`` and ``mute``: seconds until it ends by itself."""
    ref: Ref = None


class RoomMode(BaseFrame, frozen=True, tag="room_mode"):
    """Make a room private (invited users only, hidden from ``rooms``) or public again."""

    room: str
    private: bool
    ref: Ref = None


class DeleteRoom(BaseFrame, frozen=True, tag="delete_room"):
    """Delete a room with its history; its members are told."""

    room: str
    reason: str | None = None
    ref: Ref = None


class DeleteMessage(BaseFrame, frozen=True, tag="delete_message"):
    """Remove a message: it stays in history as a tombstone without its text."""

    id: MessageId
    ref: Ref = None


class ListSanctions(BaseFrame, frozen=True, tag="sanctions"):
    """The bans and mutes in force in a room."""

    room: str
    ref: Ref = None


class SetProfile(BaseFrame, frozen=True, tag="profile"):
    """Set one's display name and bio: an absent field stays as it is, an empty one is cleared."""

    display_name: str | None = None
    bio: str | None = None
    ref: Ref = None


class ChangePassword(BaseFrame, frozen=True, tag="passwd"):
    """Change one's password; the account's other sessions end."""

    old: str
    new: str
    ref: Ref = None

    def __repr__(self) -> str:
        return f"ChangePassword(old=<hidden>, new=<hidden>, ref={self.ref!r})"


class Admin(BaseFrame, frozen=True, tag="admin"):
    """A server moderator's or admin's action; which fields it needs depends on ``action``."""

    action: ServerAction
    user: str | None = None
    address: str | None = None
    """For ``ban_address``/``unban_address``: an IPv4 or IPv6 address or CIDR range."""
    role: ServerRole | None = None
    """For ``promote``: the new server role (``user`` demotes)."""
    session: int | None = None
    """For ``disconnect``: one session's id (from ``user_sessions``); absent: all of the user's."""
    reason: str | None = None
    duration: Duration | None = None
    ref: Ref = None


class UserSessions(BaseFrame, frozen=True, tag="user_sessions"):
    """A user's sessions with their addresses (moderators and admins)."""

    user: str
    ref: Ref = None


class ListUsers(BaseFrame, frozen=True, tag="users"):
    """Accounts, by name, optionally those whose name contains ``query`` (moderators and admins)."""

    query: str | None = None
    after: str | None = None
    """Continue after this username (the last of the previous page)."""
    limit: int | None = None
    ref: Ref = None


class ListAddressBans(BaseFrame, frozen=True, tag="address_bans"):
    ref: Ref = None


class ReadAudit(BaseFrame, frozen=True, tag="audit"):
    """A page of the audit log, newest first (admins)."""

    before: int | None = None
    """Events older than this event id."""
    limit: int | None = None
    ref: Ref = None


# -- server to client ----------------------------------------------------------


class RoomEvent(BaseFrame, frozen=True, tag="room_event"):
    """Something a moderator did in a room, told to its online members, the target and the actor."""

    room: str
    action: RoomEventAction
    by: str
    user: str | None = None
    """The user acted on (absent for ``private``/``public``)."""
    reason: str | None = None
    until: str | None = None
    """When a ban or mute ends by itself."""
    ref: Ref = None
    """Only on the actor's copy."""


class RoomDeleted(BaseFrame, frozen=True, tag="room_deleted"):
    room: str
    by: str
    reason: str | None = None
    ref: Ref = None


class MessageRemoved(BaseFrame, frozen=True, tag="message_removed"):
    """A message was removed: clients hide its text; history keeps a tombstone."""

    id: int
    by: str
    room: str | None = None
    """The room of a room message; absent for a direct message."""
    ref: Ref = None


class SanctionInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    user: str
    kind: Literal["ban", "mute"]
    since: str
    by: str | None = None
    reason: str | None = None
    until: str | None = None


class SanctionList(BaseFrame, frozen=True, tag="sanction_list"):
    room: str
    sanctions: list[SanctionInfo]
    ref: Ref = None


class PasswordChanged(BaseFrame, frozen=True, tag="password_changed"):
    sessions_ended: int
    """How many of the account's other sessions ended."""
    ref: Ref = None


class AdminDone(BaseFrame, frozen=True, tag="admin_done"):
    """The answer to ``admin``: what was done, to whom."""

    action: ServerAction
    user: str | None = None
    address: str | None = None
    until: str | None = None
    count: int | None = None
    """How many sessions or connections it ended, where it ends some."""
    password: str | None = None
    """For ``reset_password``: the new password, to hand to the user (shown once, never stored)."""
    ref: Ref = None

    def __repr__(self) -> str:
        hidden = ", password=<hidden>" if self.password is not None else ""
        return f"AdminDone(action={self.action!r}, user={self.user!r}{hidden}, ref={self.ref!r})"


class UserSummary(msgspec.Struct, frozen=True, omit_defaults=True):
    username: str
    role: ServerRole
    created: str
    online: bool = False
    display_name: str | None = None
    suspended_until: str | None = None
    """Set while suspended: the end, or "" for until lifted."""


class UserList(BaseFrame, frozen=True, tag="user_list"):
    users: list[UserSummary]
    has_more: bool
    ref: Ref = None


class AddressBanInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    address: str
    since: str
    by: str | None = None
    reason: str | None = None
    until: str | None = None


class AddressBanList(BaseFrame, frozen=True, tag="address_ban_list"):
    bans: list[AddressBanInfo]
    ref: Ref = None


class AuditEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    id: int
    at: str
    actor: str
    action: str
    target: str | None = None
    room: str | None = None
    reason: str | None = None
    address: str | None = None


class AuditPage(BaseFrame, frozen=True, tag="audit_page"):
    events: list[AuditEntry]
    has_more: bool
    ref: Ref = None


MODERATION_CLIENT_FRAMES = (
    Moderate
    | RoomMode
    | DeleteRoom
    | DeleteMessage
    | ListSanctions
    | SetProfile
    | ChangePassword
    | Admin
    | UserSessions
    | ListUsers
    | ListAddressBans
    | ReadAudit
)
MODERATION_SERVER_FRAMES = (
    RoomEvent
    | RoomDeleted
    | MessageRemoved
    | SanctionList
    | PasswordChanged
    | AdminDone
    | UserList
    | AddressBanList
    | AuditPage
)
