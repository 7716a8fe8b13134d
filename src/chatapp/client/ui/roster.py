"""Who the client has seen in the chat, most recently active first, for completion and the roster.

Names come from presence events, ``/who`` answers and message senders, like
irssi's nick completion. Pure model, no I/O.
"""

from __future__ import annotations

import itertools

from chatapp.protocol import ProtocolError
from chatapp.protocol.rules import check_username


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
