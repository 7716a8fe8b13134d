"""Every frame of wire protocol v1 as a typed, immutable record.

A frame is one JSON object on one line; its ``type`` field selects the class
(a msgspec tagged union). Unknown extra fields are ignored so that newer peers
can add optional fields without breaking older ones. ``ref`` is an opaque
correlation value a client may put on any frame; the server copies it onto the
reply or error that answers that frame.

Structural typing lives here (field present, right JSON type). Rules about
values (username characters, text length, ...) live in :mod:`.rules`, because
they answer with specific error codes rather than ``bad_frame``.
"""

from __future__ import annotations

import typing
from typing import Literal

import msgspec

from .e2e_frames import E2E_CLIENT_FRAMES, E2E_SERVER_FRAMES, Envelope
from .file_frames import FILE_CLIENT_FRAMES, FILE_SERVER_FRAMES, FileId, FileInfo
from .frame_base import BaseFrame, MessageId, Ref
from .moderation_frames import MODERATION_CLIENT_FRAMES, MODERATION_SERVER_FRAMES

# -- client to server ----------------------------------------------------------


class Register(BaseFrame, frozen=True, tag="register"):
    username: str
    password: str
    ref: Ref = None

    def __repr__(self) -> str:  # never show a password in a log or traceback
        return f"Register(username={self.username!r}, password=<hidden>, ref={self.ref!r})"


class Login(BaseFrame, frozen=True, tag="login"):
    username: str
    password: str
    takeover: bool | None = None
    """True: end the account's session signed in elsewhere, if any, instead of being refused.
    (Like every optional field of a client frame, null means absent.)"""
    ref: Ref = None

    def __repr__(self) -> str:
        takeover = ", takeover=True" if self.takeover else ""
        return f"Login(username={self.username!r}, password=<hidden>{takeover}, ref={self.ref!r})"


class Resume(BaseFrame, frozen=True, tag="resume"):
    token: str
    last_id: MessageId | None = None
    """The highest message id the client has seen; the server replays what came after it."""
    ref: Ref = None

    def __repr__(self) -> str:
        return f"Resume(token=<hidden>, ref={self.ref!r})"


class Send(BaseFrame, frozen=True, tag="send"):
    room: str
    text: str
    """With ``file``, the caption: it may then be empty."""
    nonce: str | None = None
    action: bool | None = None
    """True: an action message (``/me waves``), shown as ``* alice waves``."""
    file: FileId | None = None
    """A file this user uploaded for this room and has not posted yet (docs/protocol.md, "File sharing")."""
    ref: Ref = None


class Quit(BaseFrame, frozen=True, tag="quit"):
    ref: Ref = None


class Join(BaseFrame, frozen=True, tag="join"):
    room: str
    last_id: MessageId | None = None
    """Replay the room's messages after this id; without it, the most recent ones."""
    ref: Ref = None


class Leave(BaseFrame, frozen=True, tag="leave"):
    room: str
    ref: Ref = None


class ListRooms(BaseFrame, frozen=True, tag="rooms"):
    ref: Ref = None


class SetTopic(BaseFrame, frozen=True, tag="topic"):
    room: str
    text: str
    ref: Ref = None


class Who(BaseFrame, frozen=True, tag="who"):
    room: str
    ref: Ref = None


class Whois(BaseFrame, frozen=True, tag="whois"):
    username: str
    ref: Ref = None


class Away(BaseFrame, frozen=True, tag="away"):
    text: str | None = None
    """The away message; absent or empty means back."""
    ref: Ref = None


class SendDirect(BaseFrame, frozen=True, tag="dm"):
    """A direct message: ``text`` in clear, or instead ``e2e``, encrypted for each device."""

    to: str
    text: str | None = None
    nonce: str | None = None
    e2e: Envelope | None = None
    action: bool | None = None
    """True: an action message (``/me``). Not with ``e2e``: there the flag is inside the ciphertext."""
    file: FileId | None = None
    """A file this user uploaded for ``to`` and has not posted yet; ``text`` may then be empty."""
    ref: Ref = None


class ListSessions(BaseFrame, frozen=True, tag="sessions"):
    """The signed-in user's sessions that can still be used."""

    ref: Ref = None


class EndSession(BaseFrame, frozen=True, tag="end_session"):
    """End one of one's own sessions (its token stops working) by its ``id`` from ``session_list``."""

    id: int
    ref: Ref = None


class History(BaseFrame, frozen=True, tag="history"):
    """A page of stored messages of a room, or of the direct conversation ``with`` someone."""

    room: str | None = None
    with_: str | None = msgspec.field(default=None, name="with")
    before: MessageId | None = None
    after: MessageId | None = None
    limit: int | None = None
    ref: Ref = None


# -- both directions -----------------------------------------------------------


class Ping(BaseFrame, frozen=True, tag="ping"):
    ref: Ref = None


class Pong(BaseFrame, frozen=True, tag="pong"):
    ref: Ref = None


# -- server to client ----------------------------------------------------------


class Welcome(BaseFrame, frozen=True, tag="welcome"):
    server: str
    version: int
    max_frame: int
    max_text: int


class AuthOk(BaseFrame, frozen=True, tag="auth_ok"):
    username: str
    token: str
    ref: Ref = None

    def __repr__(self) -> str:
        return f"AuthOk(username={self.username!r}, token=<hidden>, ref={self.ref!r})"


class Message(BaseFrame, frozen=True, tag="message"):
    id: int
    room: str
    sender: str = msgspec.field(name="from")
    text: str
    ts: str
    nonce: str | None = None
    """Only on the sender's own copies: the value its ``send`` carried."""
    replayed: bool = False
    """Sent again because the client missed it (a resume, a join with ``last_id``), not live."""
    removed_by: str | None = None
    """Set on a removed message (a tombstone, in history and replay): who removed it; ``text`` is empty."""
    action: bool = False
    """An action message (``/me waves``), shown as ``* alice waves``; absent on a tombstone."""
    file: FileInfo | None = None
    """The file the message shares (``text`` is its caption); gone from a removed message."""
    ref: Ref = None
    """Only on the sender's live copy: the ``ref`` of its ``send``."""


class Direct(BaseFrame, frozen=True, tag="direct"):
    """A direct message; the sender's copy is its acknowledgment."""

    id: int
    sender: str = msgspec.field(name="from")
    to: str
    text: str
    """Empty when the message is encrypted (``e2e``) or removed."""
    ts: str
    nonce: str | None = None
    replayed: bool = False
    removed_by: str | None = None
    e2e: Envelope | None = None
    """An end-to-end encrypted message: one ciphertext per device; the server cannot read it."""
    action: bool = False
    """An action message in clear; an encrypted one carries the flag inside its ciphertext."""
    file: FileInfo | None = None
    """The file the message shares; gone from a removed message."""
    ref: Ref = None


PresenceEvent = Literal["join", "leave", "online", "offline", "away", "back"]


class Presence(BaseFrame, frozen=True, tag="presence"):
    """``join``/``leave``: room membership; ``online``/``offline``/``away``/``back``: the user's status."""

    event: PresenceEvent
    room: str
    username: str
    text: str | None = None
    """The away message, with ``away``."""
    ref: Ref = None
    """Only on the requester's own copies of ``away``/``back``: the ``ref`` of its ``away``."""


class Joined(BaseFrame, frozen=True, tag="joined"):
    room: str
    topic: str
    created: bool = False
    private: bool = False
    """Only invited users may join (see ``room_mode``)."""
    role: str | None = None
    """The joining user's role in the room: ``owner`` or ``operator``; absent for a member."""
    ref: Ref = None


class Left(BaseFrame, frozen=True, tag="left"):
    room: str
    ref: Ref = None


class RoomInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str
    topic: str
    members: int
    online: int
    joined: bool
    """Whether the asking user is a member: always on the wire, true or false."""
    private: bool = False


class RoomList(BaseFrame, frozen=True, tag="room_list"):
    rooms: list[RoomInfo]
    ref: Ref = None


class TopicChanged(BaseFrame, frozen=True, tag="topic_changed"):
    room: str
    text: str
    by: str
    ref: Ref = None
    """Only on the setter's copy."""


class OnlineUser(msgspec.Struct, frozen=True, omit_defaults=True):
    username: str
    away: str | None = None
    role: str | None = None
    """In the room: ``owner`` or ``operator``; absent for a member."""


class WhoList(BaseFrame, frozen=True, tag="who_list"):
    room: str
    users: list[OnlineUser]
    ref: Ref = None


class UserInfo(BaseFrame, frozen=True, tag="user_info"):
    username: str
    online: bool
    member_since: str
    last_seen: str | None = None
    away: str | None = None
    rooms_in_common: list[str] = msgspec.field(default_factory=list)
    display_name: str | None = None
    bio: str | None = None
    role: str | None = None
    """The server role, ``admin`` or ``moderator``; absent for a user."""
    ref: Ref = None


class HistoryPage(BaseFrame, frozen=True, tag="history_page"):
    messages: list[Message | Direct]
    has_more: bool
    room: str | None = None
    with_: str | None = msgspec.field(default=None, name="with")
    ref: Ref = None


class SessionInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    id: int
    address: str
    """The client address ("ip:port") that last used the session."""
    created: str
    last_seen: str
    """When the session last signed in or out."""
    current: bool = False
    """The session of the connection that asked."""
    connected: bool = False
    """A connection holds the session now."""


class SessionList(BaseFrame, frozen=True, tag="session_list"):
    sessions: list[SessionInfo]
    user: str | None = None
    """Whose sessions, in the answer to ``user_sessions`` (a moderator's question about someone)."""
    ref: Ref = None


class SessionClosed(BaseFrame, frozen=True, tag="session_closed"):
    """The answer to ``end_session``: that session is over and its token no longer works."""

    id: int
    ref: Ref = None


class Synced(BaseFrame, frozen=True, tag="synced"):
    """Ends a replay: everything up to ``last_id`` has been sent; live messages follow."""

    last_id: int
    has_more: bool = False
    """True when the replay stopped at its cap; older messages are available through ``history``."""


class Error(BaseFrame, frozen=True, tag="error"):
    code: str
    message: str
    ref: Ref = None
    retry_after: float | None = None
    until: str | None = None
    """With ``banned``, ``muted`` and ``suspended``: when it ends by itself (absent: until lifted)."""
    limit: int | None = None
    """With a file limit's refusal: the limit in force (bytes, or uploads at once)."""
    over: int | None = None
    """With a file limit's refusal: by how much the request goes over ``limit``."""
    offset: int | None = None
    """With ``wrong_offset``, ``bad_chunk`` and ``digest_mismatch``: the offset to send from."""


class Bye(BaseFrame, frozen=True, tag="bye"):
    reason: str
    message: str | None = None
    """A sentence for the user beyond the stable ``reason``: who suspended the account and why."""


ClientFrame = (
    Register | Login | Resume | Send | Quit | Ping | Pong
    | Join | Leave | ListRooms | SetTopic | Who | Whois | Away | SendDirect | History
    | ListSessions | EndSession | MODERATION_CLIENT_FRAMES | E2E_CLIENT_FRAMES | FILE_CLIENT_FRAMES
)
ServerFrame = (
    Welcome | AuthOk | Message | Presence | Error | Bye | Ping | Pong
    | Direct | Joined | Left | RoomList | TopicChanged | WhoList | UserInfo | HistoryPage | Synced
    | SessionList | SessionClosed | MODERATION_SERVER_FRAMES | E2E_SERVER_FRAMES | FILE_SERVER_FRAMES
)
Frame = ClientFrame | ServerFrame


def _tags(union: object) -> frozenset[str]:
    return frozenset(str(member.__struct_config__.tag) for member in typing.get_args(union))


CLIENT_FRAME_TYPES: frozenset[str] = _tags(ClientFrame)
SERVER_FRAME_TYPES: frozenset[str] = _tags(ServerFrame)
