"""The requests the client made and has no answer to yet, by ``ref``. Pure model, no I/O.

An answer (``who_list``, ``joined``, ``history_page``, ...) or an ``error``
carries the ``ref`` of its request, which says what it was about: the room or
person to name in a refusal, whether it was the client's own idea (a roster
refresh: its refusal is only logged), whether to scroll into a page of history.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Protocol

from chatapp.protocol import ClientFrame

from ..net.errors import SendRefused
from ..net.events import Outgoing
from .targets import Target


class Outlet(Protocol):
    """What the state needs of the network session.

    :class:`~chatapp.client.net.session.ChatSession` writes at once; the
    session's protocol part, :class:`~chatapp.client.net.core.SessionCore`,
    queues the frames (which is how the state is tested in memory).
    """

    @property
    def online(self) -> bool: ...

    @property
    def outbox(self) -> tuple[Outgoing, ...]: ...

    def request(self, build: Callable[[int], ClientFrame]) -> int: ...

    def send_text(self, text: str, room: str, *, action: bool = False) -> Outgoing: ...

    def send_direct(self, text: str, to: str, *, action: bool = False) -> Outgoing: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """A request waiting for its answer (by ``ref``), and what to say if it is refused."""

    action: str
    """``join``, ``leave``, ``who``, ``history``, ``topic``, ``rooms``, ``whois``, ``away``, ..."""
    room: str | None = None
    user: str | None = None
    target: Target | None = None
    silent: bool = False
    """Asked by the client itself (a roster refresh, recent history): refusals are only logged."""
    scroll: bool = False
    """History asked for with PageUp or /history: scroll up into the page when it comes."""
    fresh: bool = False
    """A join of a room the client was not in."""
    detail: str | None = None
    """What else the answer needs to be told well (the role a ``promote`` asked for)."""


class Requests:
    """Pending requests by ``ref``, sent through an :class:`Outlet`."""

    def __init__(self, outlet: Outlet) -> None:
        self._outlet = outlet
        self._pending: dict[int, Request] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __iter__(self) -> Iterator[tuple[int, Request]]:
        return iter(list(self._pending.items()))

    def ask(self, request: Request, build: Callable[[int], ClientFrame]) -> str | None:
        """Send ``build(ref)``; None when it went out, else why it could not (not connected)."""
        try:
            ref = self._outlet.request(build)
        except SendRefused as exc:
            return str(exc)
        self._pending[ref] = request
        return None

    def answered(self, ref: object) -> Request | None:
        """The request ``ref`` answers (and it is no longer pending), or None."""
        return self._pending.pop(ref, None) if isinstance(ref, int) else None

    def clear(self) -> list[Request]:
        """Forget every pending request (the link went down: no answer will come)."""
        requests = list(self._pending.values())
        self._pending.clear()
        return requests
