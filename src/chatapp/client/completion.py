"""Tab completion: command names, and the names of people seen in the chat.

:class:`Roster` remembers who was seen (presence joins and leaves, message
senders), most recently active first, like irssi's nick completion.
:class:`ChatCompleter` completes ``/comm`` at the start of a line and a
partial name anywhere else (``ali`` -> ``alice: `` at the start of a line,
``alice `` elsewhere).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from chatapp.protocol import ProtocolError
from chatapp.protocol.rules import check_username

from .commands import COMMANDS

_WORD = re.compile(r"[A-Za-z0-9_.\-]*$")


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


class ChatCompleter(Completer):
    def __init__(self, names: Callable[[], Iterable[str]]) -> None:
        self._names = names

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        before = document.text_before_cursor
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
