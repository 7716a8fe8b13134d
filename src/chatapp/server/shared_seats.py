"""Connections per address and per network counted across every server process, in Redis
(``--redis-url``): :class:`SharedCapacity`, the listener's :class:`~chatapp.server.capacity.Capacity`
then.

- Each process keeps one Redis hash, ``chatapp:limits:seats:<node>``: how many connections it holds
  from each address (``a:ADDRESS``) and network (``n:NETWORK``), with a TTL of :data:`TTL`
  seconds refreshed every :data:`BEAT_EVERY`. A process that dies (SIGKILL, a lost machine) stops
  refreshing it, and its connections stop counting when it expires: nothing leaks for good. The
  set ``chatapp:limits:seats`` names the processes to add up.
- A new connection first takes a seat here, in memory, as in one process (the total, per address,
  per network): what this process refuses on its own costs nothing more than without Redis. Then,
  before anything is read from it, one Lua script (:data:`~chatapp.server.limit_scripts.SEATS`)
  adds up the other processes' counts and, if the limits hold, writes this process's: atomic, so
  two processes taking the last seat at once cannot both have it. An address or network refused
  that way is refused here without asking Redis for :data:`REFUSED_FOR` seconds, so a flood of
  connections from it costs Redis one call a second.
- Every write carries this process's count as it is then (not +1 or -1), and one task writes them
  all, in order, in one pipeline per loop turn: a lost write is put right by the next one, and a
  whole rewrite of the hash after Redis came back (or restarted empty) makes it true again.
- The total stays this process's own: it stands for this process's file descriptors.

Redis unreachable: connections are admitted on this process's own counts (fail open, logged by
:class:`~chatapp.server.shared_limits.SharedLimits`), and the hash is rewritten once Redis answers.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from chatapp.clock import monotonic
from chatapp.server.capacity import Capacity, Limit, Seat
from chatapp.server.limit_scripts import SEATS

if TYPE_CHECKING:
    from chatapp.server.shared_limits import SharedLimits

log = logging.getLogger("chatapp.limits")

NODES = "chatapp:limits:seats"
PREFIX = "chatapp:limits:seats:"
TTL = 5.0
"""Seconds a process's connections count after its last refresh: how long a dead one's linger."""
BEAT_EVERY = 1.0
"""Seconds between refreshes of this process's hash."""
REFUSED_FOR = 1.0
"""Seconds an address (or network) refused by the other processes' counts is refused here alone."""
REFUSALS_KEPT = 10_000
"""Addresses and networks remembered as refused at most (the oldest are forgotten first)."""

_LIMITS = {1: Limit.ADDRESS, 2: Limit.NETWORK}


@dataclass(slots=True)
class _Op:
    """A write waiting for the writer: a seat to take (``answer`` says if it may), or to sync."""

    take: bool
    seat: Seat
    mine: tuple[int, int]
    """This process's counts of the seat's address and network when it was taken."""
    answer: asyncio.Future[Limit | None] | None


class SharedCapacity(Capacity):
    confirms = True

    def __init__(
        self,
        shared: SharedLimits,
        *,
        total: int,
        per_address: int,
        per_network: int,
        ipv4_prefix: int = 24,
        ipv6_prefix: int = 64,
    ) -> None:
        super().__init__(
            total=total,
            per_address=per_address,
            per_network=per_network,
            ipv4_prefix=ipv4_prefix,
            ipv6_prefix=ipv6_prefix,
        )
        self._shared = shared
        self._node = shared.node
        self._key = PREFIX + shared.node
        self._sha = ""  # the script's, loaded with the first write
        self._ops: list[_Op] = []
        self._wake = asyncio.Event()
        self._refused: dict[str, tuple[float, Limit]] = {}
        self._dirty = True  # the first write makes the hash (after a restart of Redis: again)
        self._beat_due = True
        self._tasks = [asyncio.create_task(self._write_forever()), asyncio.create_task(self._beat_forever())]

    # -- the accept path -------------------------------------------------------------------------

    def take(self, address: str) -> Seat | Limit:
        seat = super().take(address)
        if isinstance(seat, Seat) and self._refused:
            now = monotonic()
            for key in (seat.address, seat.network):
                refused = self._refused.get(key)
                if refused is not None:
                    if refused[0] > now:
                        super().give_back(seat)
                        return refused[1]
                    del self._refused[key]
        return seat

    async def confirm(self, seat: Seat) -> Limit | None:
        """The limit the other processes' connections leave no room in, or None (admitted, and
        counted in Redis; or Redis did not answer and this process's count admitted it)."""
        if not self._shared.reachable:
            self._dirty = True
            return None
        answer: asyncio.Future[Limit | None] = asyncio.get_running_loop().create_future()
        mine = (self._addresses[seat.address], self._networks[seat.network])
        self._ops.append(_Op(True, seat, mine, answer))
        self._wake.set()
        limit = await answer
        if limit is not None:
            if len(self._refused) >= REFUSALS_KEPT:
                del self._refused[next(iter(self._refused))]
            key = seat.address if limit is Limit.ADDRESS else seat.network
            self._refused[key] = (monotonic() + REFUSED_FOR, limit)
        return limit

    def give_back(self, seat: Seat) -> None:
        super().give_back(seat)
        if self._shared.reachable:
            self._ops.append(_Op(False, seat, (0, 0), None))
            self._wake.set()
        else:
            self._dirty = True

    # -- the one writer --------------------------------------------------------------------------

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            ops, self._ops = self._ops, []
            try:
                await self._write(ops)
            except (RedisError, OSError, TimeoutError) as error:
                self._shared.unreachable(error)
                self._dirty = True
                for op in ops:
                    if op.answer is not None and not op.answer.done():
                        op.answer.set_result(None)  # fail open
            except Exception:
                log.exception("event=seats_write_failed")  # a bug: logged; the next write tries again
                self._dirty = True
                for op in ops:
                    if op.answer is not None and not op.answer.done():
                        op.answer.set_result(None)

    async def _write(self, ops: list[_Op]) -> None:
        if not ops and not self._beat_due and not self._dirty:
            return
        client = self._shared.client
        rewrite = self._dirty
        if rewrite:
            # After a failure Redis may have restarted empty, scripts and all.
            self._sha = await client.script_load(SEATS)
        # A rewrite is one transaction: nobody reads this process's hash half rewritten.
        pipe = client.pipeline(transaction=rewrite)
        if rewrite:
            # This process's counts, whole: what Redis lost or missed while it was away is back.
            pipe.delete(self._key)
            fields = {"a:" + address: n for address, n in self._addresses.items()}
            fields.update({"n:" + network: n for network, n in self._networks.items()})
            if fields:
                pipe.hset(self._key, mapping=fields)
                pipe.pexpire(self._key, round(TTL * 1000))
        first = len(pipe.command_stack)
        ttl = str(round(TTL * 1000))
        for op in ops:
            seat = op.seat
            pipe.evalsha(
                self._sha,
                2,
                NODES,
                self._key,
                "take" if op.take else "sync",
                self._node,
                PREFIX,
                "a:" + seat.address,
                "n:" + seat.network,
                op.mine[0],
                op.mine[1],
                self.per_address,
                self.per_network,
                ttl,
                self._addresses.get(seat.address, 0),
                self._networks.get(seat.network, 0),
            )
        beat = self._beat_due
        if beat:
            pipe.sadd(NODES, self._node)
            pipe.pexpire(self._key, round(TTL * 1000))
        results = await pipe.execute()
        self._dirty = self._dirty and not rewrite
        self._beat_due = self._beat_due and not beat
        for op, result in zip(ops, results[first : first + len(ops)], strict=True):
            if op.answer is not None and not op.answer.done():
                op.answer.set_result(_LIMITS.get(int(result)))
        if beat and not results[-1] and self._addresses:
            # The hash expired while this process held connections (its refreshes did not reach
            # Redis in time): write it whole again.
            self._dirty = True
            self._wake.set()

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(BEAT_EVERY)
            self._beat_due = True
            self._wake.set()

    async def close(self) -> None:
        """Stop writing, and take this process's connections out of the count at once."""
        for task in self._tasks:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        for op in self._ops:
            if op.answer is not None and not op.answer.done():
                op.answer.set_result(None)
        try:
            await self._shared.client.delete(self._key)
            await self._shared.client.srem(NODES, self._node)
        except (RedisError, OSError, TimeoutError):
            pass  # it expires by itself
