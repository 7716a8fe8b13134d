"""What the network session tells its user: connection states, messages on their way, and events.

Pure values, no I/O: :class:`~chatapp.client.net.session.ChatSession` hands
them out with :meth:`~chatapp.client.net.session.ChatSession.next_event`, and
the client's state object (:mod:`chatapp.client.ui.state`) takes them in.
"""

from __future__ import annotations

import dataclasses
import enum

from chatapp.protocol import DEFAULT_ROOM, Envelope, Error, Send, SendDirect, ServerFrame, Welcome


class ConnectionState(enum.StrEnum):
    DISCONNECTED = "disconnected"
    """Not connected yet (or the connection closed before signing in)."""
    CONNECTING = "connecting"
    CONNECTED = "connected"
    """Greeted by the server, not signed in."""
    ONLINE = "online"
    """Signed in; messages flow."""
    WAITING = "waiting"
    """The link was lost; waiting before the next attempt (see ``reconnect_deadline``)."""
    CLOSED = "closed"
    """Over for good: quit, replaced, kicked, session expired or closed by the program."""


@dataclasses.dataclass(eq=False, slots=True)
class Outgoing:
    """A message handed over for sending, until the server echoes it (the same ``nonce``).

    ``room`` is set for a room message, ``to`` (the recipient) for a direct message.
    """

    nonce: str
    ref: int
    room: str | None
    text: str
    queued: bool = True
    """True while it is not written on the current connection (it will be after resuming)."""
    to: str | None = None
    e2e: Envelope | None = None
    """An encrypted direct message: ``text`` is its plaintext, kept here only; the server gets this."""
    action: bool = False
    """An action (``/me waves``); an encrypted one's flag is sealed inside ``e2e``, not on the frame."""
    file: str | None = None
    """The id of an uploaded file the message shares (``text`` is then its caption, maybe empty)."""

    def frame(self) -> Send | SendDirect:
        action = self.action or None
        if self.e2e is not None and self.to is not None:
            return SendDirect(to=self.to, e2e=self.e2e, nonce=self.nonce, file=self.file, ref=self.ref)
        if self.to is not None:
            return SendDirect(to=self.to, text=self.text, nonce=self.nonce, action=action, file=self.file,
                              ref=self.ref)
        room = self.room or DEFAULT_ROOM
        return Send(room=room, text=self.text, nonce=self.nonce, action=action, file=self.file, ref=self.ref)


@dataclasses.dataclass(frozen=True, slots=True)
class LinkDown:
    """The connection was lost while signed in.

    ``bye`` is the server's reason if it said goodbye, ``error`` a few words
    about a network failure otherwise; ``reconnect`` says whether the session
    will try again by itself.
    """

    bye: str | None
    error: str | None
    reconnect: bool = True
    bye_message: str | None = None
    """The server's sentence with its ``bye`` (who suspended the account and why), if any."""


@dataclasses.dataclass(frozen=True, slots=True)
class Reconnecting:
    """The next attempt is at ``deadline`` (on the session clock's ``monotonic()``)."""

    attempt: int
    delay: float
    deadline: float


@dataclasses.dataclass(frozen=True, slots=True)
class ReconnectFailed:
    """One attempt failed; another follows (a :class:`Reconnecting` event)."""

    attempt: int
    reason: str
    code: str | None = None
    retry_after: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class LinkUp:
    """Connected and resumed again after a :class:`LinkDown`."""

    welcome: Welcome
    attempt: int


@dataclasses.dataclass(frozen=True, slots=True)
class SendFailed:
    """The server refused a message (``error.code``: ``text_too_long``, ``rate_limited`` ...)."""

    outgoing: Outgoing
    error: Error


@dataclasses.dataclass(frozen=True, slots=True)
class SessionEnded:
    """The last event: the session is over and will not reconnect.

    ``bye`` is the server's reason (``"quit"`` after ``ChatSession.quit``),
    ``error`` the refusal that ended it (an expired token on resume), both None
    when the program closed the session itself.
    """

    bye: str | None = None
    error: Error | None = None
    bye_message: str | None = None
    """The server's sentence with its ``bye``, if any."""
    refused: str | None = None
    """The client's own reason to stop (a server certificate it no longer trusts), if that ended it."""


# -- from the end-to-end layer (chatapp.client.e2e), which hands them out with the session's


@dataclasses.dataclass(frozen=True, slots=True)
class E2eNote:
    """A sentence about encryption for the conversation with ``peer`` (None: wherever the user looks).

    ``level``: ``info``, ``ok``, ``error``, or ``warning`` (prominent: a verified
    user's new device, shown before anything is sent to it).
    """

    text: str
    peer: str | None = None
    level: str = "info"
    unsent: bool = False
    """A message was not sent (line mode's exit status counts it)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Unreadable:
    """Encrypted messages this device cannot show, by id, with the notice to show instead.

    Comes just before the ``direct`` or ``history_page`` that holds them (with an empty ``text``).
    """

    notices: dict[int, str]


# -- from file transfers (chatapp.client.files.transfers), handed out with the session's


@dataclasses.dataclass(frozen=True, slots=True)
class TransferNote:
    """A sentence about an upload or a download: started, resumed, saved, refused, failed.

    ``room`` or ``peer`` says where it belongs (the target the file was shared in), else
    wherever the user looks; ``failed`` counts for line mode's exit status.
    """

    text: str
    room: str | None = None
    peer: str | None = None
    level: str = "info"
    failed: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class TransferProgress:
    """How far transfer number ``number`` is, as one line (``line``); None when it is over."""

    number: int
    line: str | None


SessionEvent = (
    ServerFrame | LinkDown | Reconnecting | ReconnectFailed | LinkUp | SendFailed | SessionEnded | E2eNote
    | Unreadable | TransferNote | TransferProgress
)
"""What ``ChatSession.next_event`` returns: frames from the server (``Message``,
``Direct``, ``Presence``, ``Joined``, ``HistoryPage``, ``Synced``, the answers to
``ChatSession.request``, ``Error`` not tied to a message being sent, ...)
and the session's own news about the connection (and, from an
``E2eSession``, about encryption). ``Welcome``, ``AuthOk``,
``Ping``, ``Pong`` and ``Bye`` are handled by the session itself."""
