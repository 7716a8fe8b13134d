"""Who may do what: the one permission table of the server, and the rule about targets.

Every moderation, administration and room-management handler asks :func:`check`
before it acts; no handler decides permissions itself. The table is documented
in docs/protocol.md ("Who may do what") and tested exhaustively.

A user has a server role (``admin``, ``moderator`` or ``user``) and, in a room,
a room role (``owner``, ``operator`` or none). An action is allowed if *any* of
the actor's roles is in its row of :data:`ALLOWED` (a moderator who owns a room
may do there what an owner may). An action on another user also needs the
actor to outrank the target (:func:`rank`): a room operator cannot kick the
owner, a moderator cannot suspend an admin, and nobody acts on an equal. The
console (``chatapp-admin`` through the control socket: the server machine's
operator) outranks everyone.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from chatapp.protocol import ErrorCode, ProtocolError


class Role(enum.IntEnum):
    """Every role, ordered by rank: a higher one outranks a lower one."""

    MEMBER = 0
    """No role: an ordinary user, in a room or on the server."""
    OPERATOR = 1
    OWNER = 2
    MODERATOR = 3
    ADMIN = 4
    CONSOLE = 5
    """``chatapp-admin`` on the server's machine."""


SERVER_ROLES: dict[str, Role] = {
    "user": Role.MEMBER,
    "moderator": Role.MODERATOR,
    "admin": Role.ADMIN,
    "console": Role.CONSOLE,
}
"""The server roles by name: those stored on an account, and the console's."""
STORED_ROLES: frozenset[str] = frozenset({"user", "moderator", "admin"})
"""The server roles an account can have. ``console`` is never one: only the control socket's
connection has it (a stored ``console`` is read as ``user``)."""
ROOM_ROLES: dict[str | None, Role] = {None: Role.MEMBER, "operator": Role.OPERATOR, "owner": Role.OWNER}


class Action(enum.StrEnum):
    # In a room.
    SET_TOPIC = "topic"
    KICK = "kick"
    BAN = "ban"
    UNBAN = "unban"
    MUTE = "mute"
    UNMUTE = "unmute"
    OP = "op"
    DEOP = "deop"
    TRANSFER = "transfer"
    INVITE = "invite"
    UNINVITE = "uninvite"
    ROOM_MODE = "room_mode"
    DELETE_ROOM = "delete_room"
    DELETE_MESSAGE = "delete_message"
    LIST_SANCTIONS = "sanctions"
    SEE_PRIVATE_ROOMS = "see_private_rooms"
    """See private rooms one is not in (``rooms``) and join them uninvited."""
    # On the server.
    SUSPEND = "suspend"
    UNSUSPEND = "unsuspend"
    SERVER_MUTE = "server_mute"
    SERVER_UNMUTE = "server_unmute"
    DISCONNECT = "disconnect"
    USER_SESSIONS = "user_sessions"
    LIST_USERS = "users"
    BAN_ADDRESS = "ban_address"
    UNBAN_ADDRESS = "unban_address"
    LIST_ADDRESS_BANS = "address_bans"
    READ_AUDIT = "audit"
    PROMOTE = "promote"
    RESET_PASSWORD = "reset_password"
    RELOAD_FILTERS = "reload_filters"


_ROOM_STAFF = frozenset({Role.OPERATOR, Role.OWNER, Role.MODERATOR, Role.ADMIN, Role.CONSOLE})
_ROOM_OWNERS = frozenset({Role.OWNER, Role.ADMIN, Role.CONSOLE})
_SERVER_STAFF = frozenset({Role.MODERATOR, Role.ADMIN, Role.CONSOLE})
_ADMINS = frozenset({Role.ADMIN, Role.CONSOLE})

ALLOWED: dict[Action, frozenset[Role]] = {
    Action.SET_TOPIC: _ROOM_STAFF,
    Action.KICK: _ROOM_STAFF,
    Action.BAN: _ROOM_STAFF,
    Action.UNBAN: _ROOM_STAFF,
    Action.MUTE: _ROOM_STAFF,
    Action.UNMUTE: _ROOM_STAFF,
    Action.INVITE: _ROOM_STAFF,
    Action.UNINVITE: _ROOM_STAFF,
    Action.LIST_SANCTIONS: _ROOM_STAFF,
    Action.DELETE_MESSAGE: _ROOM_STAFF,  # and the message's sender (see AUTHOR_MAY)
    Action.OP: _ROOM_OWNERS,
    Action.DEOP: _ROOM_OWNERS,
    Action.TRANSFER: _ROOM_OWNERS,
    Action.ROOM_MODE: _ROOM_OWNERS,
    Action.DELETE_ROOM: _ROOM_OWNERS | {Role.MODERATOR},
    Action.SEE_PRIVATE_ROOMS: _SERVER_STAFF,
    Action.SUSPEND: _SERVER_STAFF,
    Action.UNSUSPEND: _SERVER_STAFF,
    Action.SERVER_MUTE: _SERVER_STAFF,
    Action.SERVER_UNMUTE: _SERVER_STAFF,
    Action.DISCONNECT: _SERVER_STAFF,
    Action.USER_SESSIONS: _SERVER_STAFF,
    Action.LIST_USERS: _SERVER_STAFF,
    Action.BAN_ADDRESS: _SERVER_STAFF,
    Action.UNBAN_ADDRESS: _SERVER_STAFF,
    Action.LIST_ADDRESS_BANS: _SERVER_STAFF,
    Action.READ_AUDIT: _ADMINS,
    Action.PROMOTE: _ADMINS,
    Action.RESET_PASSWORD: _ADMINS,
    Action.RELOAD_FILTERS: _ADMINS,
}
"""Action × role → allowed: the roles that may take each action."""

AUTHOR_MAY: frozenset[Action] = frozenset({Action.DELETE_MESSAGE})
"""Actions the author of the thing acted on may take whatever their roles (removing one's own message)."""

ON_A_USER: frozenset[Action] = frozenset(
    {
        Action.KICK,
        Action.BAN,
        Action.UNBAN,
        Action.MUTE,
        Action.UNMUTE,
        Action.OP,
        Action.DEOP,
        Action.SUSPEND,
        Action.UNSUSPEND,
        Action.SERVER_MUTE,
        Action.SERVER_UNMUTE,
        Action.DISCONNECT,
        Action.PROMOTE,
        Action.RESET_PASSWORD,
    }
)
"""Actions on another user: the actor must outrank the target, and may not target themselves."""

_VERBS: dict[Action, str] = {
    Action.SET_TOPIC: "set the topic of this room",
    Action.ROOM_MODE: "make this room private or public",
    Action.DELETE_ROOM: "delete this room",
    Action.DELETE_MESSAGE: "remove this message",
    Action.LIST_SANCTIONS: "see this room's bans and mutes",
    Action.SEE_PRIVATE_ROOMS: "see private rooms",
    Action.LIST_USERS: "list the server's users",
    Action.LIST_ADDRESS_BANS: "list address bans",
    Action.READ_AUDIT: "read the audit log",
    Action.RELOAD_FILTERS: "reload the message filters",
    Action.BAN_ADDRESS: "ban addresses",
    Action.UNBAN_ADDRESS: "lift address bans",
    Action.USER_SESSIONS: "see other users' sessions",
    Action.SERVER_MUTE: "mute users server-wide",
    Action.SERVER_UNMUTE: "unmute users server-wide",
    Action.RESET_PASSWORD: "reset passwords",
}


def rank(roles: Iterable[Role]) -> Role:
    """The highest of a user's roles: what the target rule compares."""
    return max(roles, default=Role.MEMBER)


def roles_of(server_role: str, room_role: str | None = None) -> frozenset[Role]:
    """A user's roles from the stored names (an unknown stored role counts as none)."""
    return frozenset({SERVER_ROLES.get(server_role, Role.MEMBER), ROOM_ROLES.get(room_role, Role.MEMBER)})


def allowed(action: Action, actor: Iterable[Role], *, author: bool = False) -> bool:
    """Whether the table lets an actor with these roles take ``action`` (targets aside)."""
    if author and action in AUTHOR_MAY:
        return True
    return not ALLOWED[action].isdisjoint(actor)


def check(
    action: Action,
    actor: Iterable[Role],
    *,
    target: Iterable[Role] | None = None,
    self_target: bool = False,
    author: bool = False,
) -> None:
    """Raise ``forbidden`` unless an actor with roles ``actor`` may take ``action``.

    ``target``: the roles of the user acted on, for the actions of :data:`ON_A_USER`;
    ``self_target``: that user is the actor; ``author``: the actor wrote what is acted on.
    """
    actor = frozenset(actor)
    if not allowed(action, actor, author=author):
        verb = _VERBS.get(action, f"{action.value} users")
        raise ProtocolError(ErrorCode.FORBIDDEN, f"you may not {verb}")
    if action not in ON_A_USER or target is None:
        return
    if self_target:
        raise ProtocolError(ErrorCode.FORBIDDEN, f"you cannot {action.value} yourself")
    if rank(target) >= rank(actor):
        raise ProtocolError(
            ErrorCode.FORBIDDEN, f"you cannot {action.value} a user whose role is equal to or above yours"
        )
