"""Messages of several server processes delivered exactly once, in id order, through the chain.

On PostgreSQL the committed batches of every process form one chain: each batch knows ``prev``,
the highest id committed before it (revision 0011). Each process publishes its own batches,
encoded once, through Redis (:mod:`chatapp.server.redis_link`) and delivers every batch, its
own and the others', to its own members through the local hub, in chain order. It keeps the
last id it applied:

- a batch whose ``prev`` is that id is delivered at once (the common case);
- a batch at or below it is a duplicate (its own echo, or one read from the database) and skipped;
- a batch whose ``prev`` is above it means one is missing (pub/sub dropped it, or it is still on
  its way): the batch waits :data:`GAP_WAIT`, then the missing messages are read from the
  database and delivered first;
- when no batch came for :data:`IDLE_CHECK` seconds, the highest committed id is read, so a lost
  last batch is found too; and after Redis comes back, the same.

Busy, when another process's batch of several messages comes less than :data:`HOLD` after this
process's last delivery, the channel is not read for that long: the batches published meanwhile
wait in the socket, and are read, decoded and delivered together, one write to each recipient for
all of them, however many processes commit. A lone message, or one after a quiet moment, never
waits; nor does a batch of this process's own that waits for another's: its senders wait for their
own copies behind it, so the channel is read again at once (``let_go``), and not held while it
waits (measured with 4 processes at 20 messages per second per sender, the 99th percentile of
delivery fell from 7–19 ms to 7–15 ms).

A batch this process committed is told to the chain by the message writer before its futures
resolve, and the writer inserts inside :meth:`MessageChain.turn`, in which the database is also
read: so a read never returns a batch of this process that the chain does not know of, and such a
batch (whose senders must get their own copies, with ``ref`` and ``nonce``) is never delivered from
the database: the read stops before it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec

from chatapp.protocol import encode
from chatapp.server.hub import LocalHub
from chatapp.server.services.frames import message_frame
from chatapp.server.store import SHARED_PACE, CommittedBatch, MessageWriter, Routed, Store

log = logging.getLogger("chatapp.chain")

GAP_WAIT = 0.05
"""Seconds a batch whose predecessor is missing waits for it through Redis before it is read."""

IDLE_CHECK = 1.0
"""Seconds without any batch after which the database is asked for its highest id."""

READ_PAGE = 500
"""Messages read from the database at a time when filling a gap."""

HOLD = 0.010
"""Seconds the channel is not read after a batch of several messages from another process came
less than that after this process's last delivery (see :meth:`MessageChain.received`). Measured
with 4 processes: at 10 ms each process reads the channel a third less often than at 5 ms, and
writes to its recipients a third less often; at 15 ms it reads as often as at 10."""


class Entry(msgspec.Struct, array_like=True, frozen=True):
    """One message of a batch as it travels: its id, where it goes (a room, or the two people of a
    direct message) and its frame's bytes."""

    id: int
    room: str | None
    users: tuple[int, int] | None
    data: bytes


class WireBatch(msgspec.Struct, array_like=True, frozen=True):
    """A committed batch on the Redis channel: its process, its place in the chain (``prev``, and
    ``last``, its highest id), how many new messages it holds, and their entries."""

    node: str
    prev: int
    last: int
    count: int
    entries: list[Entry]


_encode_wire = msgspec.msgpack.Encoder().encode
_decode_wire = msgspec.msgpack.Decoder(WireBatch).decode


class _Batch:
    __slots__ = ("came", "count", "entries", "give_up", "handed", "last", "local", "own", "prev")

    def __init__(self, prev: int, last: int, count: int, *, local: bool) -> None:
        self.prev = prev
        self.last = last
        self.count = count
        self.local = local
        self.handed = not local  # a local batch is handed over once its messages all came back
        self.entries: list[Entry] = []
        self.own: dict[int, tuple[int, bytes]] = {}  # message id -> (sender, its own copy)
        self.came = 0.0  # loop time it began waiting for its predecessor
        self.give_up: asyncio.TimerHandle | None = None  # a local batch's wait for its messages


class MessageChain:
    def __init__(
        self,
        store: Store,
        publish: Callable[[bytes], None],
        *,
        hold: Callable[[float], None] | None = None,
        let_go: Callable[[], None] | None = None,
        hold_for: float = HOLD,
    ) -> None:
        """``publish`` sends an encoded batch to the other processes (it may lose it); ``hold``
        stops reading their batches for a number of seconds, ``let_go`` reads them again at once.
        The hub (:attr:`hub`) is set before :meth:`start`: the writer is made before it."""
        self._store = store
        self.hub: LocalHub | None = None
        self._publish = publish
        self.node = secrets.token_hex(8)
        # How this process's own batches begin on the wire: they come back from the channel too,
        # and are passed over without being decoded.
        empty = _encode_wire(WireBatch(self.node, 0, 0, 0, []))
        self._own_prefix = empty[: empty.index(self.node.encode()) + len(self.node)]
        self.applied = 0
        self._lock = asyncio.Lock()
        self._awaiting: dict[int, _Batch] = {}  # id of a local message not yet applied -> its batch
        self._pending: dict[int, _Batch] = {}  # prev -> a batch waiting for its predecessor
        self._wanted = 0  # the highest committed id known (by the idle check or a reconnect)
        self._filler: asyncio.Task[None] | None = None
        self._reading = False  # the filler is reading the database (not only waiting to)
        self._watcher: asyncio.Task[None] | None = None
        self._last_arrival = time.monotonic()
        self.filled = 0  # messages delivered from the database (pub/sub lost them or was slow)
        self._hold = hold
        self._let_go = let_go
        self._hold_for = hold_for
        self._applied_at = 0.0  # loop time of the last batch applied

    async def start(self) -> None:
        self.applied = await self._store.newest_message_id()
        self._store.note_last_message_id(self.applied)
        self._watcher = asyncio.create_task(self._watch())

    async def close(self) -> None:
        for task in (self._watcher, self._filler):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass

    def writer(self) -> MessageWriter:
        """This process's message writer: its inserts take turns with the chain's reads, it tells
        the chain of each batch it commits, and it paces its batches while others commit."""
        return MessageWriter(self._store, committed=self.committed, turn=self.turn, pace=SHARED_PACE)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Held by the message writer around each insert, and here around each read."""
        async with self._lock:
            yield

    # -- this process's batches ----------------------------------------------------------

    def committed(self, batch: CommittedBatch) -> None:
        """The message writer committed ``batch`` (its futures resolve next)."""
        new = [m.id for m in batch.messages if not m.duplicate]
        if not new:
            return
        pending = _Batch(batch.prev, max(new), len(new), local=True)
        for message_id in new:
            self._awaiting[message_id] = pending
        # Normally every message comes back through :meth:`local` this turn; one whose sender's
        # future was cancelled never does, and the batch must not wait for it forever.
        pending.give_up = asyncio.get_running_loop().call_later(GAP_WAIT, self._give_up_waiting, pending)

    def local(self, entry: Entry, own: tuple[int, bytes]) -> None:
        """A message of this process's batch, ready to deliver: ``own`` is its sender's copy."""
        batch = self._awaiting.get(entry.id)
        if batch is None or batch.handed:
            # Came back after its batch was given up on (see _give_up_waiting): delivered as it comes.
            self._deliver(entry, own)
            return
        batch.entries.append(entry)
        batch.own[entry.id] = own
        if len(batch.entries) == batch.count:
            self._handed_over(batch)

    def _give_up_waiting(self, batch: _Batch) -> None:
        if not batch.handed:
            self._handed_over(batch)

    def _handed_over(self, batch: _Batch) -> None:
        batch.handed = True
        if batch.give_up is not None:
            # Not left to fire for nothing: an idle process would wake for it, once per batch.
            batch.give_up.cancel()
            batch.give_up = None
        batch.entries.sort(key=lambda entry: entry.id)
        self._publish(_encode_wire(WireBatch(self.node, batch.prev, batch.last, batch.count, batch.entries)))
        self._arrive(batch)

    # -- the other processes' batches ------------------------------------------------------

    def received(self, data: bytes) -> None:
        """A batch from the Redis channel."""
        if data.startswith(self._own_prefix):
            return  # this process's own, delivered here already (or waiting in order)
        try:
            wire = _decode_wire(data)
        except msgspec.DecodeError:
            log.warning("event=chain_undecodable bytes=%d", len(data))
            return
        batch = _Batch(wire.prev, wire.last, wire.count, local=False)
        batch.entries = wire.entries
        busy = wire.count > 1 and asyncio.get_running_loop().time() - self._applied_at < self._hold_for
        if busy and self._hold is not None and not self._own_waiting():
            # Several processes' batches come one after another, and each, read alone, would wake
            # this process and cost every recipient a write of its own. Those that come in the
            # next moment are read together.
            self._hold(self._hold_for)
        self._arrive(batch)

    def reconnected(self) -> None:
        """The Redis channel was (re)subscribed: what was published meanwhile was lost to us."""
        self._wanted = max(self._wanted, 2**62)  # read up to whatever is committed
        self._fill_soon(0.0)

    # -- the chain -------------------------------------------------------------------------

    def _arrive(self, batch: _Batch) -> None:
        self._last_arrival = time.monotonic()
        if batch.last <= self.applied:
            self._forget(batch)
            return
        incomplete = not batch.local and len(batch.entries) < batch.count
        # A filler still waiting for a missing batch does not hold up one that follows on: the
        # missing one itself, come through Redis a moment after its successor, goes at once.
        if not self._reading and batch.prev <= self.applied and not incomplete:
            self._apply(batch)
            self._drain()
            return
        if incomplete:
            self._wanted = max(self._wanted, batch.last)  # its missing messages come from the database
        else:
            batch.came = asyncio.get_running_loop().time()
            self._pending[batch.prev] = batch
            if batch.local and self._let_go is not None:
                self._let_go()
        self._fill_soon(GAP_WAIT)

    def _own_waiting(self) -> bool:
        """A batch of this process waits for another's (few wait at a time: a short look)."""
        return any(batch.local for batch in self._pending.values())

    def _apply(self, batch: _Batch) -> None:
        if batch.own:
            for entry in batch.entries:
                if entry.id > self.applied:
                    self._deliver(entry, batch.own.get(entry.id))
        else:
            self._deliver_others(batch.entries)
        self._forget(batch)
        self._advance(batch.last)
        self._applied_at = asyncio.get_running_loop().time()

    def _forget(self, batch: _Batch) -> None:
        if not batch.local:
            return
        for entry in batch.entries:
            self._awaiting.pop(entry.id, None)
        if len(batch.entries) < batch.count:  # given up on: its missing ones are found by their batch
            for message_id in [i for i, b in self._awaiting.items() if b is batch]:
                del self._awaiting[message_id]

    def _advance(self, last: int) -> None:
        if last > self.applied:
            self.applied = last
            self._store.note_last_message_id(last)

    def _drain(self) -> None:
        """Apply the waiting batches that now follow on."""
        while self._pending:
            ready = min(self._pending)
            if ready > self.applied:
                return
            batch = self._pending.pop(ready)
            if batch.last > self.applied:
                self._apply(batch)
            else:
                self._forget(batch)

    def _deliver_others(self, entries: list[Entry]) -> None:
        """Another process's messages (in id order, no own copies): those to one room one after
        another go to its members in one call, so that receiving a batch costs each process little
        more for many messages than for one (every process receives every batch)."""
        hub = self.hub
        assert hub is not None, "the chain starts after the hub is made"
        applied = self.applied
        run_room = ""  # the room of the messages in ``parts`` (a room's name is never empty)
        parts: list[tuple[bytes, int]] = []
        for entry in entries:
            if entry.id <= applied:
                continue
            if entry.room is not None and entry.room == run_room:
                parts.append((entry.data, entry.id))
                continue
            if parts:
                hub.publish_parts(run_room, parts)
                parts = []
            if entry.room is not None:
                run_room = entry.room
                parts.append((entry.data, entry.id))
            else:
                run_room = ""
                if entry.users is not None:
                    hub.send_data(entry.users, entry.data, entry.id, None)
        if parts:
            hub.publish_parts(run_room, parts)

    def _deliver(self, entry: Entry, own: tuple[int, bytes] | None) -> None:
        hub = self.hub
        assert hub is not None, "the chain starts after the hub is made"
        if entry.room is not None:
            hub.publish_data(entry.room, entry.data, entry.id, own)
        elif entry.users is not None:
            hub.send_data(entry.users, entry.data, entry.id, own)

    # -- filling gaps from the database ----------------------------------------------------

    def _fill_soon(self, delay: float) -> None:
        if self._filler is None:
            self._filler = asyncio.create_task(self._fill(delay))

    def _rest_of_wait(self, wait: float) -> float:
        """Seconds the batch waiting nearest the chain has yet to wait of ``wait``: it may have
        come after this filler began (the batch it began for having come meanwhile), and its
        predecessor too gets its full wait to come through Redis."""
        if not self._pending:
            return 0.0
        return self._pending[min(self._pending)].came + wait - asyncio.get_running_loop().time()

    def _target(self) -> int:
        """How far the database must be read: up to the waiting batch nearest the chain (it and those
        after it then follow), or to the highest id known to be committed."""
        if self._pending:
            return min(self._pending)
        return self._wanted

    async def _fill(self, delay: float) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)  # the missing batch may still come through Redis
            self._drain()
            while (rest := self._rest_of_wait(delay)) > 0:
                await asyncio.sleep(rest)
                self._drain()
            self._reading = True
            while (target := self._target()) > self.applied:
                async with self._lock:
                    if target >= 2**62:
                        target = await self._store.newest_message_id()
                        self._wanted = target
                    rows = await self._store.messages_between(self.applied, target, READ_PAGE)
                if not self._apply_rows(rows, target):
                    break  # stopped before a batch of this process: it goes on when handed over
                self._drain()
            self._wanted = min(self._wanted, self.applied)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("event=chain_fill_failed error=%r", exc)  # the next batch or check tries again
        finally:
            self._filler = None
            self._reading = False
        if self._pending and min(self._pending) <= self.applied:
            self._drain()

    def _apply_rows(self, rows: list[Routed], target: int) -> bool:
        """Deliver rows read from the database; False if it stopped before a batch of this process."""
        for row in rows:
            message = row.message
            if message.id <= self.applied:
                continue
            local = self._awaiting.get(message.id)
            if local is not None:
                self._advance(local.prev)
                return False
            frame = message_frame(message)
            users = None if message.room is not None else (row.sender_id, row.recipient_id or row.sender_id)
            self._deliver(Entry(message.id, message.room, users, encode(frame)), None)
            self.filled += 1
            self._advance(message.id)
        if len(rows) < READ_PAGE:
            self._advance(target)  # nothing else below it: ids were drawn but rolled back, or removed
        return True

    # -- a lost last batch ------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(IDLE_CHECK)
            if time.monotonic() - self._last_arrival < IDLE_CHECK or self._filler is not None:
                continue
            try:
                async with self._lock:
                    newest = await self._store.newest_message_id()
            except Exception as exc:
                log.warning("event=chain_check_failed error=%r", exc)
                continue
            if newest > self.applied:
                self._wanted = max(self._wanted, newest)
                self._fill_soon(0.0)
