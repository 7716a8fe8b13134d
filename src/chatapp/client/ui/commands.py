"""Parsing what the user typed into typed actions. Pure functions, no I/O.

:func:`parse` turns one input line into an action (:mod:`.actions`); the
chat screen and line mode carry it out. Commands live in one table,
:data:`COMMANDS`, which also feeds ``/help`` and tab completion; a new command
is one action class, one parse function and one table entry.

Rules:

- a line starting with ``/`` is a command; an unknown one is never sent but
  answered with a hint (and the closest known command, if any);
- ``//text`` sends ``/text`` literally, as does ``/say /text``;
- ``exit`` alone leaves, as in the original application;
- anything else is a message, sent as typed (to the active room or conversation).

Room names may be typed with or without ``#`` (``/join #rust``, ``/join rust``)
and in any case; actions carry the wire name (``rust``). Usernames may be
typed with an ``@``. Names are checked with the protocol's own rules, so a
name the server would refuse is refused here with the same words.
"""

from __future__ import annotations

import difflib
import re

from chatapp.protocol import ProtocolError
from chatapp.protocol.limits import HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX
from chatapp.protocol.rules import check_away, check_topic

from .actions import (
    Action,
    BadUsage,
    ClearScreen,
    DirectMessage,
    EndSession,
    FetchHistory,
    JoinRoom,
    LeaveTarget,
    ListRooms,
    ListSessions,
    Nothing,
    QuitChat,
    ReconnectNow,
    SendText,
    SetAway,
    SetTopic,
    ShowHelp,
    ShowTopic,
    ShowUserSessions,
    SwitchTarget,
    UnknownCommand,
    WhoIs,
    WhoIsOnline,
)
from .command_base import Command, bad, no_args, refusal, room_name, split, username
from .e2ecommands import E2E_COMMANDS
from .filecommands import FILE_COMMANDS
from .modcommands import MODERATION_COMMANDS
from .setcommand import SET_COMMAND
from .wincommands import WINDOW_COMMANDS, irc_pointer

__all__ = ["COMMANDS", "Command", "find", "help_text", "parse", "room_name", "suggest", "unknown_hint",
           "username"]

def _parse_help(command: Command, args: str) -> Action:
    words = args.split()
    if len(words) > 1:
        return bad(command, "/help takes at most one command name")
    return ShowHelp(words[0].lstrip("/").lower() if words else None)


def _parse_say(command: Command, args: str) -> Action:
    if not args.strip():
        return bad(command, "/say needs the text to send")
    return SendText(args)


def _parse_me(command: Command, args: str) -> Action:
    if not args.strip():
        return bad(command, "/me needs the action, as in /me waves")
    return SendText(args, action=True)


def _parse_msg(command: Command, args: str) -> Action:
    who, text = split(args)
    if not who:
        return bad(command, "/msg needs the name of the person to write to")
    try:
        to = username(who)
    except ProtocolError as exc:
        return bad(command, f"{who!r} is not a username: {exc.message}")
    return DirectMessage(to, text if text.strip() else "")


def _one_room(command: Command, args: str, *, required: bool) -> str | None | BadUsage:
    words = args.split()
    if len(words) > 1:
        return bad(command, f"/{command.name} takes one room name")
    if not words:
        return bad(command, f"/{command.name} needs a room name") if required else None
    try:
        return room_name(words[0])
    except ProtocolError as exc:
        return bad(command, f"{words[0]!r} is not a room name: {exc.message}")


CREATE_FLAG = "-create"


def _parse_join(command: Command, args: str) -> Action:
    first, rest = split(args)
    create = first.lower() in (CREATE_FLAG, "-" + CREATE_FLAG)  # (--create too: the other flags' form)
    room = _one_room(command, rest if create else args, required=True)
    if isinstance(room, BadUsage):
        return room
    assert room is not None
    return JoinRoom(room, create=create)


def _parse_leave(command: Command, args: str) -> Action:
    words = args.split()
    if not words:
        return LeaveTarget()
    if len(words) > 1:
        return bad(command, "/leave takes one room (or @name of a conversation)")
    if words[0].startswith("@"):
        try:
            return LeaveTarget("@" + username(words[0]))
        except ProtocolError as exc:
            return bad(command, f"{words[0]!r} is not a username: {exc.message}")
    room = _one_room(command, args, required=True)
    if isinstance(room, BadUsage):
        return room
    return LeaveTarget(f"#{room}")


def _parse_switch(command: Command, args: str) -> Action:
    words = args.split()
    if len(words) != 1:
        return bad(command, "/switch needs one room, @name or number")
    return SwitchTarget(words[0])


def _parse_topic(command: Command, args: str) -> Action:
    first, rest = split(args)
    room: str | None = None
    text = args.strip()
    if first.startswith("#"):  # a bare word is the topic's first word: "/topic rust is fun"
        try:
            room = room_name(first)
        except ProtocolError as exc:
            return bad(command, f"{first!r} is not a room name: {exc.message}")
        text = rest.strip()
    if not text:
        return ShowTopic(room)
    if text == "--clear":
        return SetTopic(room, "")
    try:
        check_topic(text)
    except ProtocolError as exc:
        return bad(command, refusal(exc))
    return SetTopic(room, text)


def _parse_who(command: Command, args: str) -> Action:
    room = _one_room(command, args, required=False)
    if isinstance(room, BadUsage):
        return room
    return WhoIsOnline(room)


def _parse_whois(command: Command, args: str) -> Action:
    words = args.split()
    if len(words) != 1:
        return bad(command, "/whois needs one username")
    try:
        return WhoIs(username(words[0]))
    except ProtocolError as exc:
        return bad(command, f"{words[0]!r} is not a username: {exc.message}")


def _parse_away(command: Command, args: str) -> Action:
    text = " ".join(args.split())  # one line: an away message is shown in a status bar
    try:
        check_away(text)
    except ProtocolError as exc:
        return bad(command, refusal(exc))
    return SetAway(text or None)


def _parse_history(command: Command, args: str) -> Action:
    words = args.split()
    if not words:
        return FetchHistory()
    if len(words) > 1 or not words[0].isdigit() or not 1 <= int(words[0]) <= HISTORY_PAGE_MAX:
        return bad(command, f"/history takes a number of messages from 1 to {HISTORY_PAGE_MAX}")
    return FetchHistory(int(words[0]))


def _parse_endsession(command: Command, args: str) -> Action:
    words = args.split()
    if len(words) != 1 or not re.fullmatch(r"[0-9]{1,18}", words[0]):
        return bad(command, "/endsession needs the number of one of your sessions (/sessions lists them)")
    return EndSession(int(words[0]))


def _parse_sessions(command: Command, args: str) -> Action:
    words = args.split()
    if not words:
        return ListSessions()
    if len(words) > 1:
        return bad(command, "/sessions takes at most one name")
    try:
        return ShowUserSessions(username(words[0]))
    except ProtocolError as exc:
        return bad(command, f"{words[0]!r} is not a username: {exc.message}")


COMMANDS: tuple[Command, ...] = (
    Command("help", "list the commands, or explain one", _parse_help, usage="[command]"),
    Command("join", "join a room; one not on the server's list is created (you own it) once you say yes, "
            "or at once with -create", _parse_join, usage="[-create] ROOM", completes="room"),
    Command("leave", "leave this room or ROOM; in a conversation: close it", _parse_leave, usage="[ROOM]",
            aliases=("part",), completes="target"),
    Command("switch", "go to a room or conversation: #room, @name or its number", _parse_switch,
            usage="NAME", aliases=("w",), completes="target"),
    Command("msg", "send NAME a direct message; without TEXT: open the conversation", _parse_msg,
            usage="NAME [TEXT]", completes="user"),
    Command("rooms", "list the rooms with topic, members and how many are online", no_args(ListRooms())),
    Command("who", "who is online in this room, or in ROOM", _parse_who, usage="[ROOM]", aliases=("names",),
            completes="room"),
    Command("whois", "someone's profile: online or last seen, rooms in common", _parse_whois, usage="NAME",
            completes="user"),
    Command("topic", "show or set the topic (owners and operators); --clear clears it", _parse_topic,
            usage="[#ROOM] [TEXT]", completes="room"),
    Command("away", "mark yourself away with TEXT; without it: back", _parse_away, usage="[TEXT]"),
    Command("history", f"fetch N older messages (default {HISTORY_PAGE_DEFAULT}, at most {HISTORY_PAGE_MAX})",
            _parse_history, usage="[N]"),
    Command("sessions", "list where you are signed in or could resume; staff: NAME's sessions",
            _parse_sessions, usage="[NAME]", completes="user"),
    Command("endsession", "sign out one of your sessions (its saved login stops working)", _parse_endsession,
            usage="ID"),
    *WINDOW_COMMANDS,
    *FILE_COMMANDS,
    *E2E_COMMANDS,
    *MODERATION_COMMANDS,
    SET_COMMAND,
    Command("quit", "leave the chat (also: exit, Ctrl-D on an empty line, Ctrl-C)", no_args(QuitChat()),
            aliases=("exit",)),
    Command("clear", "clear the message pane", no_args(ClearScreen())),
    Command("reconnect", "reconnect now instead of waiting for the countdown", no_args(ReconnectNow())),
    Command("say", "send TEXT exactly as typed, even if it starts with '/'", _parse_say, usage="TEXT"),
    Command("me", "send an action to this room or conversation, shown as * you TEXT", _parse_me,
            usage="TEXT"),
)

_COMMAND = re.compile(r"/(\S*)\s?(.*)", re.DOTALL)
"""``/name`` then, after one space (or newline), the arguments exactly as typed."""

_BY_NAME: dict[str, Command] = {
    name: command for command in COMMANDS for name in (command.name, *command.aliases)
}

KEYS: tuple[tuple[str, str], ...] = (
    ("Enter", "send the line"),
    ("Alt-Enter", "start a new line in the same message"),
    ("Tab", "complete a command, a room or the name of someone"),
    ("Up / Down", "recall earlier input (kept across restarts, per server)"),
    ("Ctrl-R", "search the input history backwards (Enter takes the line, Ctrl-G gives up)"),
    ("Ctrl-N / Ctrl-P", "next / previous room or conversation"),
    ("Alt-1 ... Alt-9, Alt-0", "go to window 1 ... 9, 10"),
    ("Alt-A", "go to the next window with activity (mentions first)"),
    ("Alt-Left / Alt-Right", "previous / next window"),
    ("Alt-N", "show or hide the nick list of the room"),
    ("PageUp / PageDown", "scroll the messages; PageUp at the top fetches older ones"),
    ("mouse wheel", "scroll the messages (Shift and drag selects text in most terminals)"),
    ("Ctrl-End", "back to the newest message"),
    ("Ctrl-C", "clear the input line; on an empty line: leave"),
    ("Ctrl-D", "leave (on an empty line)"),
    ("Ctrl-Z", "suspend the client (fg brings it back)"),
    ("Ctrl-L", "redraw the screen"),
)


def find(name: str) -> Command | None:
    return _BY_NAME.get(name.lower())


def suggest(name: str) -> str | None:
    """The known command closest to a mistyped one, with its slash, or None."""
    lowered = name.lower()
    prefixed = sorted(n for n in _BY_NAME if n.startswith(lowered)) if lowered else []
    if prefixed:
        return "/" + prefixed[0]
    close = difflib.get_close_matches(lowered, list(_BY_NAME), n=1, cutoff=0.6)
    return "/" + close[0] if close else None


def parse(line: str) -> Action:
    """What one line of input means."""
    if not line.strip():
        return Nothing()
    if line.startswith("//"):
        return SendText(line[1:])
    if line.startswith("/"):
        match = _COMMAND.match(line)
        assert match is not None  # the pattern matches any line starting with '/'
        name, args = match.group(1), match.group(2)
        command = find(name)
        if command is None:
            return UnknownCommand(name, suggest(name))
        return command.parse(command, args)
    if line.strip() == "exit":
        return QuitChat()
    return SendText(line)


def help_text(topic: str | None = None) -> str:
    """The text ``/help`` shows (several lines)."""
    if topic:
        command = find(topic)
        if command is None:
            hint = suggest(topic)
            extra = f" Did you mean {hint}?" if hint else ""
            return f"There is no command /{topic}.{extra} Type /help for the list."
        aliases = ", ".join("/" + alias for alias in command.aliases)
        also = f" (also {aliases})" if aliases else ""
        return f"{command.synopsis}{also}: {command.summary}."
    width = max(len(command.synopsis) for command in COMMANDS)
    lines = ["Commands:"]
    lines += [f"  {command.synopsis:<{width}}  {command.summary}" for command in COMMANDS]
    lines.append(f"  {'//TEXT':<{width}}  send '/TEXT' (a message starting with a slash)")
    keys_width = max(len(key) for key, _ in KEYS)
    lines.append("Keys:")
    lines += [f"  {key:<{keys_width}}  {what}" for key, what in KEYS]
    return "\n".join(lines)


def unknown_hint(action: UnknownCommand) -> str:
    """What to tell the user about a command that does not exist."""
    if not action.name:
        return (
            "A line starting with '/' is a command. Type /help for the list; start with '//' to send a '/'."
        )
    pointer = irc_pointer(action.name)
    if pointer is not None:
        return f"/{action.name} is an IRC command; here {pointer}. Type /help for the list of commands."
    did_you_mean = f" Did you mean {action.suggestion}?" if action.suggestion else ""
    return (
        f"Unknown command /{action.name}.{did_you_mean} Type /help for the list of commands; "
        f"start the line with '//' to send it as a message."
    )
