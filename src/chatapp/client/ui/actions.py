"""What a line of input means: one small value per command (what ``commands.parse`` returns).

Pure values; :mod:`.perform` carries them out on the chat screen, line mode
takes the few that make sense without one.
"""

from __future__ import annotations

import dataclasses

from chatapp.protocol.limits import HISTORY_PAGE_DEFAULT
from chatapp.protocol.moderation_frames import RoomAction, ServerAction, ServerRole


@dataclasses.dataclass(frozen=True, slots=True)
class SendText:
    """Send ``text`` as a chat message to the active room; ``action``: as an action (``/me``)."""

    text: str
    action: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class ShowHelp:
    topic: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class QuitChat:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class ClearScreen:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class ReconnectNow:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class DirectMessage:
    """Send ``text`` to the user ``to`` and show the conversation; an empty text only opens it."""

    to: str
    text: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class JoinRoom:
    """``/join ROOM``; ``create``: ``/join -create ROOM``, a room not on the server's list is made
    without asking (a plain ``/join`` of one asks first, so that a typo does not create a room)."""

    room: str
    create: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class LeaveTarget:
    """Leave a room (``#name``) or close a conversation (``@name``); None: the active one."""

    label: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SwitchTarget:
    """Make a room or conversation the active one: ``#rust``, ``@bob``, ``rust``, ``bob`` or its number."""

    name: str


@dataclasses.dataclass(frozen=True, slots=True)
class ListRooms:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class ShowTopic:
    room: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SetTopic:
    """Set (or, with an empty text, clear) the topic of ``room``; None: the active room."""

    room: str | None
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class WhoIsOnline:
    room: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class WhoIs:
    username: str


@dataclasses.dataclass(frozen=True, slots=True)
class SetAway:
    """Mark yourself away with ``text``; None: back."""

    text: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class FetchHistory:
    """Fetch up to ``limit`` messages older than the oldest one shown."""

    limit: int = HISTORY_PAGE_DEFAULT


@dataclasses.dataclass(frozen=True, slots=True)
class ListSessions:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class EndSession:
    """Sign one of your sessions out (its token stops working), by the id ``/sessions`` shows."""

    session_id: int


@dataclasses.dataclass(frozen=True, slots=True)
class UnknownCommand:
    name: str
    suggestion: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class BadUsage:
    command: str
    problem: str
    usage: str


@dataclasses.dataclass(frozen=True, slots=True)
class Nothing:
    """A blank line: nothing to do."""


# -- moderation, profiles and administration (issue 11) --------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ModerateUser:
    """A ``moderate`` action on ``user`` in ``room`` (None: the active room)."""

    action: RoomAction
    user: str
    room: str | None = None
    reason: str | None = None
    duration: int | None = None
    """Seconds, for ``ban`` and ``mute``; None: until lifted."""


@dataclasses.dataclass(frozen=True, slots=True)
class SetPrivate:
    """Make ``room`` (None: the active one) private (invited users only) or public."""

    room: str | None
    private: bool


@dataclasses.dataclass(frozen=True, slots=True)
class RemoveRoom:
    """Delete ``room`` (None: the active one) with its history, once its name is typed again."""

    room: str | None = None
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RemoveMessage:
    """Remove the message ``id``; without it, the last one shown in the active room or conversation
    from ``user`` (None: yourself)."""

    id: int | None = None
    user: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ShowSanctions:
    room: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class EditProfile:
    """Set (an empty text: clear) your display name or bio; None leaves a field as it is."""

    display_name: str | None = None
    bio: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ShowProfile:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class ChangeOwnPassword:
    """Ask for the old password and the new one twice, hidden, then send ``passwd``."""


@dataclasses.dataclass(frozen=True, slots=True)
class ServerAdmin:
    """An ``admin`` action of a server moderator or admin; the fields the action needs are set."""

    action: ServerAction
    user: str | None = None
    address: str | None = None
    role: ServerRole | None = None
    session: int | None = None
    reason: str | None = None
    duration: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ShowUserSessions:
    user: str


@dataclasses.dataclass(frozen=True, slots=True)
class ListAccounts:
    """``/users [QUERY]``; ``more``: the page after the last one shown."""

    query: str | None = None
    more: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class ListAddressBans:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class ShowAudit:
    """The newest page of the audit log; ``more``: the page before the last one shown."""

    more: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class PlainText:
    """``/plain TEXT``: one direct message in clear, in the active conversation."""

    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class PlainMode:
    """``/plain on|off``: this conversation's messages in clear, or encrypted again."""

    on: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Verify:
    """``/verify NAME``: show the safety number; with ``confirm``, mark NAME verified."""

    username: str
    confirm: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class TrustDevices:
    """``/trust NAME``: accept NAME's current devices."""

    username: str


@dataclasses.dataclass(frozen=True, slots=True)
class ShowDevices:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class RemoveDevice:
    device: str


@dataclasses.dataclass(frozen=True, slots=True)
class SetOption:
    """``/set``: list the settings (no key), show one (no value), or change one and save it."""

    key: str | None = None
    value: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class UploadFile:
    """``/upload PATH [CAPTION]``: share the file at ``path`` in the active room or conversation."""

    path: str
    caption: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class DownloadFile:
    """``/download [ID] [DIR]``: save a shared file (None: the newest one shared here)."""

    file_id: str | None = None
    directory: str | None = None


FileAction = UploadFile | DownloadFile
"""What :mod:`.filecommands` carries out."""

E2eAction = PlainText | PlainMode | Verify | TrustDevices | ShowDevices | RemoveDevice
"""What :mod:`.e2ecommands` carries out."""


@dataclasses.dataclass(frozen=True, slots=True)
class CloseWindow:
    """``/close``: leave the active room, close the conversation or the highlights window."""


@dataclasses.dataclass(frozen=True, slots=True)
class ListWindows:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class IgnoreUser:
    """``/ignore NAME`` (``unignore``: ``/unignore NAME``); no name: list who is ignored."""

    username: str | None = None
    unignore: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Lastlog:
    """Search the active window's scroll-back (and older history from the server) for ``text``."""

    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class ListLinks:
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class ShowHighlights:
    pass


WindowAction = ListWindows | IgnoreUser | Lastlog | ListLinks | ShowHighlights
"""What :mod:`.windows` carries out (``/close`` is :mod:`.perform`'s, beside ``/leave``)."""



ModerationAction = (
    ModerateUser | SetPrivate | RemoveRoom | RemoveMessage | ShowSanctions | EditProfile | ShowProfile
    | ChangeOwnPassword | ServerAdmin | ShowUserSessions | ListAccounts | ListAddressBans | ShowAudit
)
"""What :mod:`.modperform` carries out."""


ChatAction = (
    SendText | ShowHelp | ClearScreen | UnknownCommand | BadUsage | Nothing
    | DirectMessage | JoinRoom | LeaveTarget | SwitchTarget | ListRooms | ShowTopic | SetTopic
    | WhoIsOnline | WhoIs | SetAway | FetchHistory | ListSessions | EndSession | ModerationAction | E2eAction
    | SetOption | CloseWindow | WindowAction | FileAction
)
"""What the chat itself carries out (:func:`chatapp.client.ui.perform.perform`)."""

Action = ChatAction | QuitChat | ReconnectNow
"""Anything a line can mean; leaving and reconnecting act on the screen and the link, not on the chat."""
