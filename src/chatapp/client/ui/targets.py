"""Rooms and direct conversations: what the user can talk to, each with its own buffer.

A :class:`Target` is a room (``#rust``) or a direct conversation (``@bob``):
its message pane model (:class:`~chatapp.client.ui.chatlog.ChatLog`), unread and
mention counts, topic, who is online in it, and how far back its history has
been fetched. :class:`Targets` keeps them in the order they appeared (the
order of Ctrl-N / Ctrl-P) and knows which one is active. Pure model: no I/O,
no prompt_toolkit, so it is tested on its own.

Room names are the plain lowercase wire names (``rust``); usernames are
matched ignoring case, as the server does, and shown as the server spells them.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator
from datetime import tzinfo

from chatapp.protocol import OnlineUser

from .chatlog import ChatLog
from .lines import dm_label, room_label


class Kind(enum.StrEnum):
    ROOM = "room"
    DM = "dm"
    VIEW = "view"
    """A window of the client's own, nothing to talk to: the highlights window."""


HIGHLIGHTS = "highlights"
"""The name of the highlights window (a :attr:`Kind.VIEW`), shown as ``*highlights``."""


def target_key(kind: Kind, name: str) -> str:
    return {Kind.ROOM: "#", Kind.DM: "@", Kind.VIEW: "*"}[kind] + name.casefold()


@dataclasses.dataclass(eq=False)
class Target:
    kind: Kind
    name: str
    """The room's wire name, or the other person's username as the server spells it."""
    log: ChatLog
    member: bool = True
    """Rooms: still a member (False only for the last room, kept on screen after leaving it)."""
    topic: str = ""
    unread: int = 0
    """Messages from others that arrived while another target was active."""
    mentions: int = 0
    """Of those, the ones that name you (every unread direct message counts)."""
    online: dict[str, OnlineUser] = dataclasses.field(default_factory=dict)
    """Rooms: who is online in it (case-folded name -> user with away message), from ``/who`` and presence."""
    history_done: bool = False
    """The oldest stored message is shown ("beginning of history")."""
    history_pending: bool = False
    """A page of older messages was asked for and has not come yet."""
    fetched: bool = False
    """Recent history was fetched once (when it was first shown with nothing in it)."""
    role: str | None = None
    """Rooms: your role in it, ``owner`` or ``operator`` (None: a member)."""
    private: bool = False
    """Rooms: only invited users may join."""
    lastlog: str | None = None
    """``/lastlog TEXT`` waiting for a page of older messages before it searches."""

    @property
    def key(self) -> str:
        return target_key(self.kind, self.name)

    @property
    def label(self) -> str:
        if self.kind is Kind.VIEW:
            return "*" + self.name
        return room_label(self.name) if self.kind is Kind.ROOM else dm_label(self.name)

    @property
    def is_room(self) -> bool:
        return self.kind is Kind.ROOM

    def seen(self) -> None:
        """The user is looking at it: nothing unread any more."""
        self.unread = self.mentions = 0

    def set_online(self, name: str, away: str | None = None) -> None:
        known = self.online.get(name.casefold())
        role = known.role if known is not None else None
        self.online[name.casefold()] = OnlineUser(username=name, away=away, role=role)

    def set_role(self, name: str, role: str | None) -> None:
        """Someone online in the room became owner or operator (or a member again: None)."""
        known = self.online.get(name.casefold())
        if known is not None:
            self.online[name.casefold()] = OnlineUser(username=known.username, away=known.away, role=role)

    def set_offline(self, name: str) -> None:
        self.online.pop(name.casefold(), None)

    def online_names(self) -> list[str]:
        return sorted((user.username for user in self.online.values()), key=str.casefold)


class Targets:
    """The open rooms and conversations (the windows) in order, and the active one.

    There is always at least one target: the screen starts in ``#general``
    (every account is in it from registration), and the last one is never
    removed (a left room stays, marked as not a member).
    """

    def __init__(self, first_room: str, *, max_lines: int = 5000, tz: tzinfo | None = None) -> None:
        self.max_lines = max_lines
        self.tz = tz
        self._items: list[Target] = []
        self.active = self.room(first_room)

    def __iter__(self) -> Iterator[Target]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def find(self, kind: Kind, name: str) -> Target | None:
        key = target_key(kind, name)
        return next((target for target in self._items if target.key == key), None)

    def _get(self, kind: Kind, name: str) -> Target:
        target = self.find(kind, name)
        if target is None:
            target = Target(kind, name, ChatLog(max_lines=self.max_lines, tz=self.tz))
            self._items.append(target)
        return target

    def room(self, name: str) -> Target:
        """The room's target, created (at the end of the order) if new."""
        return self._get(Kind.ROOM, name)

    def dm(self, username: str) -> Target:
        """The conversation with ``username``, created if new; the name's spelling is updated."""
        target = self._get(Kind.DM, username)
        target.name = username
        return target

    def view(self, name: str) -> Target:
        """The client's own window ``name`` (:data:`HIGHLIGHTS`), created (at the end) if new."""
        return self._get(Kind.VIEW, name)

    def number(self, target: Target) -> int:
        """The window number of ``target``: its place in the order, from 1 (Alt-1 ... Alt-0 is 10)."""
        return self._items.index(target) + 1

    def with_activity(self) -> Target | None:
        """Alt-A: the window to go to next: one that names you (or a direct message) first, then any
        with unread messages; the first such after the active one, in window order."""
        index = self._items.index(self.active)
        order = self._items[index + 1:] + self._items[:index]
        named = next((target for target in order if target.mentions), None)
        return named or next((target for target in order if target.unread), None)

    def rooms(self) -> list[Target]:
        return [target for target in self._items if target.is_room and target.member]

    def resolve(self, word: str) -> Target | None:
        """The target meant by ``#rust``, ``@bob``, ``rust``, ``bob`` or a position (``2``, from 1)."""
        if word.isdigit():
            index = int(word) - 1
            return self._items[index] if 0 <= index < len(self._items) else None
        if word.startswith("*"):
            return self.find(Kind.VIEW, word[1:])
        if word.startswith("#"):
            return self.find(Kind.ROOM, word[1:].lower())
        if word.startswith("@"):
            return self.find(Kind.DM, word[1:])
        return self.find(Kind.ROOM, word.lower()) or self.find(Kind.DM, word)

    def activate(self, target: Target) -> Target:
        """Make ``target`` the active one; returns the one that was active."""
        previous = self.active
        self.active = target
        target.seen()
        if previous is not target:
            previous.log.arm_marker()  # what comes while away is marked when you come back
            target.log.disarm_marker()  # and what comes while you look is not
        return previous

    def step(self, delta: int) -> Target:
        """The target ``delta`` places after the active one (wrapping around)."""
        index = self._items.index(self.active)
        return self._items[(index + delta) % len(self._items)]

    def remove(self, target: Target) -> bool:
        """Close a target; False when it is the last one (which stays).

        When it was the active one, its neighbour becomes active.
        """
        if len(self._items) <= 1 or target not in self._items:
            return False
        index = self._items.index(target)
        self._items.remove(target)
        if self.active is target:
            self.activate(self._items[max(0, index - 1)])
        return True
