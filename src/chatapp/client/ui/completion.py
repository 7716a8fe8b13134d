"""Tab completion: command names, room names, and the names of people seen in the chat.

:class:`ChatCompleter` completes ``/comm`` at the start of a line; the first
argument of a command by what the command takes (``/join ru`` -> ``/join
#rust ``, ``/switch @b`` -> ``/switch @bob ``, ``/msg ca`` -> ``/msg carol ``);
and a partial name anywhere else (``ali`` -> ``alice: `` at the start of a
line, ``alice `` elsewhere), people in the active room first. Moderation
commands complete the people of the active room (``/kick b`` -> ``/kick bob ``),
or a room first (``/kick #d`` -> ``/kick #dev ``, then a name),
and fixed words where a command takes them (``/private o`` -> ``on``/``off``,
``/promote bob m`` -> ``moderator``). A room name that matches nothing the
client knows asks the server for its room list again, and the screen
completes again when it comes (``/join ru`` finds a room made since sign-in).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from .commands import COMMANDS, find
from .model import ChatModel
from .targets import Kind

_WORD = re.compile(r"[A-Za-z0-9_.\-]*$")
_FIRST_ARGUMENT = re.compile(r"/(\S+)[ ]+(\S*)$")
_SECOND_ARGUMENT = re.compile(r"/(\S+)[ ]+(\S+)[ ]+(\S*)$")


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
        no_room: Callable[[], None] | None = None,
    ) -> None:
        self._names = names
        self._users = users or names
        self._rooms = rooms
        self._targets = targets
        self._no_room = no_room

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        before = document.text_before_cursor
        argument = _FIRST_ARGUMENT.fullmatch(before) if before.startswith("/") else None
        command = find(argument.group(1)) if argument else None
        if argument and command and command.completes:
            partial = argument.group(2)
            if partial.startswith("#") and command.usage.startswith("[#ROOM]"):  # /kick #dev bob
                yield from self._complete_argument("room", partial)
            else:
                yield from self._complete_argument(command.completes, partial, command.choices)
            return
        second = _SECOND_ARGUMENT.fullmatch(before) if before.startswith("/") else None
        command = find(second.group(1)) if second else None
        if second and command and second.group(2).startswith("#") and command.usage.startswith("[#ROOM]"):
            yield from self._complete_argument(command.completes, second.group(3), command.choices)
            return
        if second and command and command.completes != "choice" and command.choices:
            yield from self._complete_argument("choice", second.group(3), command.choices)
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

    def _complete_argument(
        self, kind: str, partial: str, choices: tuple[str, ...] = ()
    ) -> Iterable[Completion]:
        start = -len(partial)
        if kind == "choice":
            for word in choices:
                if word.startswith(partial.lower()):
                    yield Completion(word + " ", start_position=start, display=word)
        elif kind == "member":
            typed = partial.removeprefix("@").casefold()
            for name in self._names():
                if name.casefold().startswith(typed):
                    yield Completion(name + " ", start_position=start, display=name)
        elif kind == "room":
            typed = partial.removeprefix("#").lower()
            seen: set[str] = set()
            for room in self._rooms():
                if room.startswith(typed) and room not in seen:
                    seen.add(room)
                    yield Completion(f"#{room} ", start_position=start, display=f"#{room}")
            if not seen and self._no_room is not None:
                self._no_room()  # the list may be old: ask for it again
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


def chat_completer(chat: ChatModel) -> ChatCompleter:
    """The completer of the chat screen's input line, fed from the chat's state at every Tab."""

    def names() -> list[str]:
        """People in the active room (or the other person of the conversation) first, then everyone seen."""
        target = chat.active
        first = target.online_names() if target.is_room else [target.name]
        found: dict[str, str] = {}
        for name in (*first, *chat.roster.names()):
            if not chat.is_me(name):
                found.setdefault(name.casefold(), name)
        return list(found.values())

    def users() -> list[str]:
        found: dict[str, str] = {}
        peers = [target.name for target in chat.targets if target.kind is Kind.DM]
        for name in (*peers, *chat.roster.names()):
            found.setdefault(name.casefold(), name)
        return list(found.values())

    def rooms() -> list[str]:
        mine = [target.name for target in chat.targets.rooms()]
        return [*mine, *sorted(room for room in chat.known_rooms if room not in mine)]

    def labels() -> list[str]:
        return [target.label for target in chat.targets]

    def no_room() -> None:
        chat.complete_rooms_again = True
        chat.refresh_rooms()

    return ChatCompleter(names, users=users, rooms=rooms, targets=labels, no_room=no_room)
