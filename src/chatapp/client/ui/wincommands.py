"""The window commands' words (``/query``, ``/close``, ``/win``, ``/windows``, ``/ignore``, ``/lastlog``,
``/url``, ``/highlights``), and what to say to an IRC command chatapp does not have. Pure.

:data:`WINDOW_COMMANDS` joins :data:`~chatapp.client.ui.commands.COMMANDS`;
:func:`irc_pointer` is how ``/nick`` or ``/mode`` get a pointer to ours
instead of "unknown command".
"""

from __future__ import annotations

from chatapp.protocol import ProtocolError

from .actions import (
    Action,
    CloseWindow,
    DirectMessage,
    IgnoreUser,
    Lastlog,
    ListLinks,
    ListWindows,
    ShowHighlights,
    SwitchTarget,
)
from .command_base import Command, bad, no_args, username

LASTLOG_TEXT_MAX = 200


def _parse_query(command: Command, args: str) -> Action:
    words = args.split()
    if len(words) != 1:
        return bad(command, "/query needs the name of one person (then type to write to them)")
    try:
        return DirectMessage(username(words[0]))
    except ProtocolError as exc:
        return bad(command, f"{words[0]!r} is not a username: {exc.message}")


def _parse_win(command: Command, args: str) -> Action:
    words = args.split()
    if len(words) != 1 or not words[0].isdigit():
        return bad(command, "/win needs a window number (/windows lists them)")
    return SwitchTarget(str(int(words[0])))


def _parse_ignore(command: Command, args: str) -> Action:
    words = args.split()
    unignore = command.name == "unignore"
    if not words and not unignore:
        return IgnoreUser()
    if len(words) != 1:
        return bad(command, f"/{command.name} needs one username")
    try:
        return IgnoreUser(username(words[0]), unignore=unignore)
    except ProtocolError as exc:
        return bad(command, f"{words[0]!r} is not a username: {exc.message}")


def _parse_lastlog(command: Command, args: str) -> Action:
    text = args.strip()
    if not text:
        return bad(command, "/lastlog needs the text to look for")
    if len(text) > LASTLOG_TEXT_MAX or "\n" in text:
        return bad(command, f"/lastlog looks for one line of at most {LASTLOG_TEXT_MAX} characters")
    return Lastlog(text)


WINDOW_COMMANDS: tuple[Command, ...] = (
    Command("query", "open the conversation with NAME (as /msg NAME)", _parse_query, usage="NAME",
            completes="user"),
    Command("close", "close this window: leave the room, close the conversation", no_args(CloseWindow())),
    Command("win", "go to window N (also Alt-1 ... Alt-0)", _parse_win, usage="N"),
    Command("windows", "list the windows with their numbers and unread counts", no_args(ListWindows())),
    Command("highlights", "show the highlights window: mentions of you and direct messages",
            no_args(ShowHighlights())),
    Command("lastlog", "search this window's messages, and older ones from the server, for TEXT",
            _parse_lastlog, usage="TEXT"),
    Command("url", "list the recent links, each on a line of its own", no_args(ListLinks())),
    Command("ignore", "hide NAME's messages and direct messages (kept across restarts); alone: the list",
            _parse_ignore, usage="[NAME]", completes="user"),
    Command("unignore", "show NAME's messages again", _parse_ignore, usage="NAME", completes="user"),
)

IRC_POINTERS: dict[str, str] = {
    "nick": "chatapp has no nicknames: your username is your name. /profile name TEXT sets the display name "
            "others see with /whois",
    "mode": "chatapp has no modes: /op and /deop make operators, /private on|off makes a room invite-only, "
            "/ban and /mute keep people out or quiet",
    "list": "/rooms lists the rooms",
    "notice": "/msg NAME TEXT sends a direct message",
    "quote": "there is no raw protocol here; /help lists what the client can do",
    "raw": "there is no raw protocol here; /help lists what the client can do",
    "whowas": "/whois NAME also says when NAME was last seen",
    "window": "/windows lists the windows, /win N goes to one, /close closes this one",
    "buffer": "/windows lists the windows, /win N goes to one, /close closes this one",
    "wc": "/close closes this window",
    "back": "/away alone brings you back",
    "silence": "/ignore NAME hides someone's messages",
    "hilight": "highlight words are a setting (docs/client.md: settings)",
    "server": "the client talks to one server: start it with --host and --port",
    "connect": "the client talks to one server: start it with --host and --port",
    "oper": "server roles are given by an admin (/promote NAME moderator)",
    "kickban": "/ban NAME kicks and keeps NAME out",
    "j": "/join ROOM",
    "clearall": "/clear clears this window",
}
"""IRC (irssi, weechat) commands chatapp does not have, and which of ours does that job."""


def irc_pointer(name: str) -> str | None:
    """What to use instead of the IRC command ``/name``, or None when it is not one we know of."""
    return IRC_POINTERS.get(name.lower())
