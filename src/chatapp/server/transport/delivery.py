"""Delivery to recipients: an outbox each, runs per room, and one write per recipient per turn.

Nothing here ever waits for a recipient. Frames for one recipient queue in its
:class:`Outbox` and go out as one ``write`` per event-loop turn (the same bytes,
in the same order, with no added delay: the write runs as soon as the current
callbacks finish). A recipient whose unsent output — queued here plus the
transport's own buffer — passes the limit is cut off (``on_overflow``); the rest
of a room never notices.

:class:`Delivery` is the one owner of the end of the turn. Frames published to a
room one after another form a *run*; at the end of the turn each run's frames
are joined once and handed to every member with one call, so a group-commit
batch of 80 messages to a room of 100 costs 100 calls, not 8,000. Then every
outbox that got data is written once. The hub hands runs down to here and asks
for them to be handed out early (:meth:`Delivery.hand_out`) before membership
changes; nothing here calls the hub.

It knows no sockets: a :class:`Sink` is anything with an asyncio write
transport's methods (a TCP transport itself; a WebSocket or IRC shell's adapter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

Parts = Sequence[tuple[bytes, int]]
"""The frames of a run, one by one, each with its message id (0: none)."""


class Recipient(Protocol):
    def deliver(self, data: bytes, message_id: int, parts: Parts | None, /) -> None:
        """Queue encoded frames; ``message_id`` is the highest message id they carry (0: none).

        ``data`` is one frame, or several joined; then ``parts`` lists each
        frame with its message id, for a recipient that must tell them apart.
        """
        ...


class Sink(Protocol):
    """Where a recipient's bytes go: the methods of an asyncio write transport that delivery uses."""

    def write(self, data: bytes) -> None: ...
    def get_write_buffer_size(self) -> int: ...
    def is_closing(self) -> bool: ...


class Outbox:
    """One recipient's queued output, written once per turn, with a hard bound on unsent bytes."""

    __slots__ = (
        "_sink",
        "_limit",
        "_delivery",
        "_on_overflow",
        "_queued",
        "_queued_bytes",
        "_buffered",
        "_open",
    )

    def __init__(self, sink: Sink, limit: int, delivery: Delivery, on_overflow: Callable[[], None]) -> None:
        self._sink = sink
        self._limit = limit
        self._delivery = delivery
        self._on_overflow = on_overflow
        self._queued: list[bytes] = []
        self._queued_bytes = 0
        self._buffered = 0  # the sink's unsent bytes after the last flush
        self._open = True

    def push(self, data: bytes, message_id: int = 0, parts: Parts | None = None, /) -> None:
        """Queue bytes for this recipient; cut it off if it is too far behind.

        ``message_id`` and ``parts`` are unused here; they let a run be handed
        straight to this method as a recipient's ``deliver`` (one call less per
        recipient in the fan-out loop).
        """
        if not self._open:
            return
        if not self._queued:
            self._delivery.mark(self)
        self._queued.append(data)
        self._queued_bytes += len(data)
        # The sink's buffer as of the last flush can only have shrunk since: ask it again only
        # when the total looks over the limit (not on every push: this is the fan-out loop).
        if self._queued_bytes + self._buffered > self._limit and (
            self._queued_bytes + self._sink.get_write_buffer_size() > self._limit
        ):
            self._open = False
            self._queued.clear()
            self._queued_bytes = 0
            self._on_overflow()

    def push_final(self, data: bytes) -> None:
        """Queue a last frame (a ``bye``) past the limit, then accept nothing more."""
        self._open = False
        if self._sink.is_closing() or not data:
            return
        if not self._queued:
            self._delivery.mark(self)
        self._queued.append(data)
        self._queued_bytes += len(data)

    def flush(self) -> None:
        """Write what is queued now, as one write."""
        queued = self._queued
        if not queued or self._sink.is_closing():
            queued.clear()
            self._queued_bytes = 0
            return
        self._sink.write(queued[0] if len(queued) == 1 else b"".join(queued))
        queued.clear()
        self._queued_bytes = 0
        self._buffered = self._sink.get_write_buffer_size()


class _Run:
    """Frames published to one room one after another, waiting for the end of the turn.

    ``own`` holds, per user, the parts of the run that user gets in a copy of its own (by index).
    """

    __slots__ = ("members", "parts", "last_id", "own")

    def __init__(self, members: Mapping[int, Recipient]) -> None:
        self.members = members
        self.parts: list[tuple[bytes, int]] = []
        self.last_id = 0
        self.own: dict[int, list[tuple[int, bytes]]] | None = None

    def add(self, data: bytes, message_id: int, own: tuple[int, bytes] | None) -> None:
        if own is not None:
            if self.own is None:
                self.own = {}
            self.own.setdefault(own[0], []).append((len(self.parts), own[1]))
        self.parts.append((data, message_id))
        if message_id:
            self.last_id = message_id

    def extend(self, parts: Parts) -> None:
        """Several frames at once, in order, none with an own copy."""
        self.parts.extend(parts)
        if parts and parts[-1][1]:
            self.last_id = parts[-1][1]

    def parts_for(self, user_id: int) -> Parts:
        """The run as ``user_id`` gets it: with its own copies in place of the shared ones."""
        mine = self.own.get(user_id) if self.own is not None else None
        if mine is None:
            return self.parts
        parts = list(self.parts)
        for index, data in mine:
            parts[index] = (data, parts[index][1])
        return parts

    def hand_out(self) -> None:
        members = self.members
        if not members:
            return
        data, joined = _joined(self.parts)
        last_id = self.last_id
        # A copy: delivery can cut off a member, and a cut-off member may leave the room.
        if self.own is None:
            for member in list(members.values()):
                member.deliver(data, last_id, joined)
            return
        own = self.own
        for user_id, member in list(members.items()):
            if user_id in own:
                own_data, own_joined = _joined(self.parts_for(user_id))
                member.deliver(own_data, last_id, own_joined)
            else:
                member.deliver(data, last_id, joined)


def _joined(parts: Parts) -> tuple[bytes, Parts | None]:
    """A run's frames as one piece of bytes, and the parts when there are several."""
    if len(parts) == 1:
        return parts[0][0], None
    return b"".join([part for part, _ in parts]), parts


class Delivery:
    """The end of each event-loop turn that produced output: runs handed out, then outboxes written.

    ``call_soon`` schedules a callback after those already due (the event
    loop's ``call_soon``; a test passes its own and calls :meth:`end_turn`).
    """

    __slots__ = ("_call_soon", "_runs", "_dirty", "_scheduled")

    def __init__(self, call_soon: Callable[[Callable[[], None]], object]) -> None:
        self._call_soon = call_soon
        self._runs: list[_Run] = []
        self._dirty: list[Outbox] = []
        self._scheduled = False

    def publish(
        self,
        members: Mapping[int, Recipient],
        data: bytes,
        message_id: int = 0,
        own: tuple[int, bytes] | None = None,
    ) -> None:
        """Hand ``data`` to every recipient in ``members`` (by user id) at the end of this turn.

        ``members`` is the room's own mapping, read when the run is handed out:
        whoever changes it hands out the pending runs first. With ``own``, that
        user gets its own copy (bytes) instead.
        """
        self._run_for(members).add(data, message_id, own)

    def publish_parts(self, members: Mapping[int, Recipient], parts: Parts) -> None:
        """:meth:`publish` of several frames to the same members, in order, each with its message id
        (another process's batch): one call for all of them."""
        self._run_for(members).extend(parts)

    def _run_for(self, members: Mapping[int, Recipient]) -> _Run:
        """The run this turn's next frames to ``members`` join: the last one if it is theirs (frames
        published one after another to a room), else a new one."""
        runs = self._runs
        if runs and runs[-1].members is members:
            return runs[-1]
        run = _Run(members)
        runs.append(run)
        self._wake()
        return run

    def hand_out(self) -> None:
        """Hand every run published so far to its recipients, in publishing order."""
        while self._runs:
            runs, self._runs = self._runs, []
            for run in runs:
                run.hand_out()

    def mark(self, outbox: Outbox) -> None:
        """``outbox`` got data: write it at the end of this turn."""
        self._dirty.append(outbox)
        self._wake()

    def end_turn(self) -> None:
        self._scheduled = False
        self.hand_out()
        dirty, self._dirty = self._dirty, []
        for outbox in dirty:
            outbox.flush()

    def _wake(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._call_soon(self.end_turn)
