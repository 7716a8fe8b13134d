"""Parsing what the user typed into typed actions. Pure functions, no I/O.

:func:`parse` turns one input line into an :data:`Action`; the TUI carries it
out. Commands live in one table, :data:`COMMANDS`, which also feeds ``/help``
and tab completion; a new command (``/join``, ``/msg``, ``/history`` ...) is one
action class, one parse function and one table entry.

Rules:

- a line starting with ``/`` is a command; an unknown one is never sent but
  answered with a hint (and the closest known command, if any);
- ``//text`` sends ``/text`` literally, as does ``/say /text``;
- ``exit`` alone leaves, as in the original application;
- anything else is a message, sent as typed.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable


@dataclasses.dataclass(frozen=True, slots=True)
class SendText:
    """Send ``text`` as a chat message to the active room."""

    text: str


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


Action = SendText | ShowHelp | QuitChat | ClearScreen | ReconnectNow | UnknownCommand | BadUsage | Nothing


@dataclasses.dataclass(frozen=True, slots=True)
class Command:
    name: str
    summary: str
    parse: Callable[[Command, str], Action]
    usage: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def synopsis(self) -> str:
        return f"/{self.name} {self.usage}".rstrip()


def _no_args(action: Action) -> Callable[[Command, str], Action]:
    def parse(command: Command, args: str) -> Action:
        if args.strip():
            return BadUsage(command.name, f"/{command.name} takes no arguments", command.synopsis)
        return action

    return parse


def _parse_help(command: Command, args: str) -> Action:
    words = args.split()
    if len(words) > 1:
        return BadUsage(command.name, "/help takes at most one command name", command.synopsis)
    return ShowHelp(words[0].lstrip("/").lower() if words else None)


def _parse_say(command: Command, args: str) -> Action:
    if not args.strip():
        return BadUsage(command.name, "/say needs the text to send", command.synopsis)
    return SendText(args)


COMMANDS: tuple[Command, ...] = (
    Command("help", "list the commands, or explain one", _parse_help, usage="[command]"),
    Command("quit", "leave the chat (also: exit, Ctrl-D on an empty line, Ctrl-C)", _no_args(QuitChat()),
            aliases=("exit",)),
    Command("clear", "clear the message pane", _no_args(ClearScreen())),
    Command("reconnect", "reconnect now instead of waiting for the countdown", _no_args(ReconnectNow())),
    Command("say", "send TEXT exactly as typed, even if it starts with '/'", _parse_say, usage="TEXT"),
)

_COMMAND = re.compile(r"/(\S*)\s?(.*)", re.DOTALL)
"""``/name`` then, after one space (or newline), the arguments exactly as typed."""

_BY_NAME: dict[str, Command] = {
    name: command for command in COMMANDS for name in (command.name, *command.aliases)
}

KEYS: tuple[tuple[str, str], ...] = (
    ("Enter", "send the line"),
    ("Alt-Enter", "start a new line in the same message"),
    ("Tab", "complete a command or the name of someone online"),
    ("Up / Down", "recall earlier input"),
    ("PageUp / PageDown", "scroll the messages (End of scroll-back: PageDown)"),
    ("Ctrl-D", "leave (on an empty line)"),
    ("Ctrl-C", "leave"),
)


def command_names() -> list[str]:
    """Every command with its slash, aliases included, sorted (for completion)."""
    return sorted(f"/{name}" for name in _BY_NAME)


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
    did_you_mean = f" Did you mean {action.suggestion}?" if action.suggestion else ""
    return (
        f"Unknown command /{action.name}.{did_you_mean} Type /help for the list of commands; "
        f"start the line with '//' to send it as a message."
    )
