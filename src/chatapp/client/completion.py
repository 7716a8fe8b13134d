"""Tab completion: command names, room names, and the names of people seen in the chat.

:class:`Roster` remembers who was seen (presence events, ``/who`` answers,
message senders), most recently active first, like irssi's nick completion.
:class:`ChatCompleter` completes ``/comm`` at the start of a line; the first
argument of a command by what the command takes (``/join ru`` -> ``/join
#rust ``, ``/switch @b`` -> ``/switch @bob ``, ``/msg ca`` -> ``/msg carol ``);
and a partial name anywhere else (``ali`` -> ``alice: `` at the start of a
line, ``alice `` elsewhere), people in the active room first.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from chatapp.protocol import ProtocolError
from chatapp.protocol.rules import check_username

from .commands import COMMANDS, find

_WORD = re.compile(r"[A-Za-z0-9_.\-]*$")
_FIRST_ARGUMENT = re.compile(r"/(\S+)[ ]+(\S*)$")


class Roster:
    """People the client has seen, keyed case-insensitively, most recent first.

    Only names that pass the username rules are kept, so a completion can
    never insert something odd into the input line.
    """

    def __init__(self, me: str | None = None) -> None:
        self.me = me
        self._names: dict[str, str] = {}
        self._activity: dict[str, int] = {}
        self._online: set[str] = set()
        self._clock = itertools.count()

    def _touch(self, name: str) -> str | None:
        try:
            check_username(name)
        except ProtocolError:
            return None
        key = name.casefold()
        self._names[key] = name
        self._activity[key] = next(self._clock)
        return key

    def joined(self, name: str) -> None:
        key = self._touch(name)
        if key is not None:
            self._online.add(key)

    def left(self, name: str) -> None:
        self._online.discard(name.casefold())

    def spoke(self, name: str) -> None:
        key = self._touch(name)
        if key is not None:
            self._online.add(key)

    def saw(self, name: str) -> None:
        """Someone seen in history (or a profile): known, but not necessarily online."""
        try:
            check_username(name)
        except ProtocolError:
            return
        key = name.casefold()
        if key not in self._names:
            self._names[key] = name
            self._activity[key] = -next(self._clock) - 1  # behind everyone seen live

    def online(self) -> list[str]:
        """Names believed online (joined or spoke, not left since), most recent first."""
        return [self._names[key] for key in self._ranked() if key in self._online]

    def names(self) -> list[str]:
        """Names to complete: online people first (most recent first), then the rest; never ``me``."""
        me = self.me.casefold() if self.me else None
        ranked = [key for key in self._ranked() if key != me]
        ordered = [key for key in ranked if key in self._online]
        ordered += [key for key in ranked if key not in self._online]
        return [self._names[key] for key in ordered]

    def _ranked(self) -> list[str]:
        return sorted(self._activity, key=lambda key: -self._activity[key])


def _none() -> list[str]:
    return []


class ChatCompleter(Completer):
    """``names``: people to complete in a message (best first); ``users``: people for ``/msg`` and
    ``/whois`` (default: ``names``); ``rooms``: room names; ``targets``: labels of the open
    rooms and conversations (``#rust``, ``@bob``) for ``/switch`` and ``/leave``."""

    def __init__(
        self,
        names: Callable[[], Iterable[str]],
        *,
        users: Callable[[], Iterable[str]] | None = None,
        rooms: Callable[[], Iterable[str]] = _none,
        targets: Callable[[], Iterable[str]] = _none,
    ) -> None:
        self._names = names
        self._users = users or names
        self._rooms = rooms
        self._targets = targets

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        before = document.text_before_cursor
        argument = _FIRST_ARGUMENT.fullmatch(before) if before.startswith("/") else None
        command = find(argument.group(1)) if argument else None
        if argument and command and command.completes:
            yield from self._complete_argument(command.completes, argument.group(2))
            return
        if before.startswith("/") and not any(space in before for space in " \n\t"):
            typed = before.lower()
            for command in COMMANDS:
                for name in (command.name, *command.aliases):
                    if ("/" + name).startswith(typed):
                        yield Completion(
                            f"/{name} ", start_position=-len(before), display=f"/{name}",
                            display_meta=command.summary,
                        )
            return
        word = _WORD.search(before)
        partial = word.group(0) if word else ""
        if not partial:
            return
        at_start = len(partial) == len(before)
        folded = partial.casefold()
        for name in self._names():
            if name.casefold().startswith(folded):
                suffix = ": " if at_start else " "
                yield Completion(name + suffix, start_position=-len(partial), display=name)

    def _complete_argument(self, kind: str, partial: str) -> Iterable[Completion]:
        start = -len(partial)
        if kind == "room":
            typed = partial.removeprefix("#").lower()
            seen: set[str] = set()
            for room in self._rooms():
                if room.startswith(typed) and room not in seen:
                    seen.add(room)
                    yield Completion(f"#{room} ", start_position=start, display=f"#{room}")
        elif kind == "target":
            typed = partial.casefold()
            for label in self._targets():
                folded = label.casefold()
                if folded.startswith(typed) or folded[1:].startswith(typed):
                    yield Completion(label + " ", start_position=start, display=label)
        elif kind == "user":
            typed = partial.removeprefix("@").casefold()
            for name in self._users():
                if name.casefold().startswith(typed):
                    yield Completion(name + " ", start_position=start, display=name)
