"""What every command is made of: the :class:`Command` record and the words its arguments are read as. Pure.

Shared by the chat's own commands (:mod:`.commands`) and the moderation and
administration ones (:mod:`.modcommands`), so neither imports the other.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

from chatapp.protocol import ProtocolError
from chatapp.protocol.rules import check_room, check_username

from .actions import Action, BadUsage

Parser = Callable[["Command", str], Action]
"""``parse(command, arguments)``."""


@dataclasses.dataclass(frozen=True, slots=True)
class Command:
    name: str
    summary: str
    parse: Parser
    usage: str = ""
    aliases: tuple[str, ...] = ()
    completes: str = ""
    """What Tab completes as the first argument: ``room``, ``target`` (room or conversation), ``user``,
    ``member`` (people of the active room first), or ``choice`` (one of :attr:`choices`)."""
    choices: tuple[str, ...] = ()
    """The words Tab offers for the first argument (``completes="choice"``) or, after a name, the second."""

    @property
    def synopsis(self) -> str:
        return f"/{self.name} {self.usage}".rstrip()


def no_args(action: Action) -> Parser:
    def parse(command: Command, args: str) -> Action:
        if args.strip():
            return BadUsage(command.name, f"/{command.name} takes no arguments", command.synopsis)
        return action

    return parse


def bad(command: Command, problem: str) -> BadUsage:
    return BadUsage(command.name, problem, command.synopsis)


def refusal(exc: ProtocolError) -> str:
    return exc.message[0].upper() + exc.message[1:]


def room_name(word: str) -> str:
    """The wire name of a room as typed: ``#Rust`` -> ``rust``. Raises ProtocolError ``invalid_room``."""
    name = word.removeprefix("#").lower()
    check_room(name)
    return name


def username(word: str) -> str:
    """A username as typed, without a leading ``@``. Raises ProtocolError ``invalid_username``."""
    name = word.removeprefix("@")
    check_username(name)
    return name


def split(args: str) -> tuple[str, str]:
    """The first word and the rest (the rest exactly as typed after one blank)."""
    stripped = args.lstrip()
    match = re.match(r"(\S+)\s?(.*)", stripped, re.DOTALL)
    if match is None:
        return "", ""
    return match.group(1), match.group(2)
