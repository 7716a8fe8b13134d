"""The console: ``chatapp-admin``'s connection through the control socket, as the core sees it.

Whoever can open the control socket is the server machine's operator (the
socket has mode 0600: the server's own operating-system user), so the
connection starts signed in, as the console: a :class:`Session` whose server
role is ``console``, which the permission table (:mod:`chatapp.server.policy`)
ranks above everyone. It is no user: it has no account, no session row, no
seen cursor, no rooms, no replay, and it is never a member of the hub, so
nobody sees it online and nothing is delivered to it but its answers.

It takes only the frames an operator's tool needs (:data:`CONSOLE_FRAMES`);
the others, which would make it act as a user (send, join, ...), are refused
with ``forbidden``. Whether each allowed action is permitted is still the
policy's decision, made by the handlers as for anyone.
"""

from __future__ import annotations

from chatapp.clock import utc_now
from chatapp.protocol import ClientFrame, ErrorCode, Ping, Pong, ProtocolError, Quit, Whois
from chatapp.protocol.moderation_frames import Admin, ListAddressBans, ListUsers, ReadAudit, UserSessions
from chatapp.server.services.audit import CONSOLE
from chatapp.server.services.limits import Limits
from chatapp.server.session import Peer, Session, SignedIn

CONSOLE_FRAMES: frozenset[type] = frozenset(
    {Admin, ListUsers, UserSessions, ListAddressBans, ReadAudit, Whois, Ping, Pong, Quit}
)
"""The frames the console may send: administration, and finding out who someone is."""

CONSOLE_USER_ID = 0
"""No account has it (ids start at 1): the console is never the target of its own action."""

CONSOLE_ADDRESS = "local"
"""The console's address, in the audit log and the activity log: it is on the server's machine."""


def open_console(peer: Peer, limits: Limits, send_queue_limit: int) -> Session:
    """Make the console's session on ``peer`` (with no sign-in: the socket vouches for it)."""
    identity = SignedIn(
        user_id=CONSOLE_USER_ID, username=CONSOLE, role=CONSOLE, session_id=0, token=None
    )
    session = Session(
        peer,
        identity,
        rooms={},
        budgets=limits.budgets(),
        online_since=utc_now(),
        send_queue_limit=send_queue_limit,
    )
    # A Session reads a stored role it does not know as "user", so that no account can ever be the
    # console: the role is given here, by the one path that makes one.
    session.server_role = CONSOLE
    peer.session = session
    return session


def console_refusal(frame: ClientFrame) -> ProtocolError | None:
    """Why the console may not send ``frame`` (None: it may)."""
    if type(frame) in CONSOLE_FRAMES:
        return None
    kind = frame.__struct_config__.tag
    return ProtocolError(
        ErrorCode.FORBIDDEN, f"the control socket does not take {kind!r}: it is not a user's connection"
    )
