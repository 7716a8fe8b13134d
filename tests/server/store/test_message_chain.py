"""The message chain of one process, fed batches as the Redis channel hands them over.

Batches of two other processes can come through Redis out of chain order: the successor first,
its predecessor a moment later. The successor waits for it; the predecessor, when it comes, is
delivered at once and the successor after it, not when the wait for a missing batch
(``GAP_WAIT``) runs out. (Before, a batch that came while that wait ran was held for the rest of
it: 50 ms at the 99th percentile of every delivery with two processes or more.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from chatapp.server.hub import LocalHub
from chatapp.server.services import message_chain
from chatapp.server.services.message_chain import GAP_WAIT, Entry, MessageChain, WireBatch, _encode_wire
from chatapp.server.store import CommittedBatch, Store, StoredMessage
from chatapp.server.transport.delivery import Delivery, Parts


class Member:
    user_id = 1
    username = "alice"
    session_id = 1
    endpoint = "127.0.0.1:1"
    online_since = datetime(2026, 1, 1, tzinfo=UTC)

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.writes = 0  # deliveries (each would be one write at the end of its turn)

    def deliver(self, data: bytes, message_id: int, parts: Parts | None, /) -> None:
        self.writes += 1
        if parts:
            self.ids.extend(part_id for _, part_id in parts)
        else:
            self.ids.append(message_id)

    def closes_in(self) -> float | None:
        return None

    def displaced(self, *, same_session: bool) -> None:
        pass


@asynccontextmanager
async def alice_and_chain(
    store: Store, **options: Any
) -> AsyncIterator[tuple[MessageChain, Delivery, Member]]:
    """A started chain on an empty database (it starts at 0), delivering to a hub where Alice is
    in ``general`` (her own presence already handed out)."""
    delivery = Delivery(lambda end_turn: None)
    hub = LocalHub(delivery)
    alice = Member()
    hub.attach(alice, ["general"])
    delivery.end_turn()
    alice.ids.clear()
    chain = MessageChain(store, lambda data: None, **options)
    chain.hub = hub
    await chain.start()
    try:
        yield chain, delivery, alice
    finally:
        await chain.close()


def batch(node: str, prev: int, ids: list[int]) -> bytes:
    entries = [Entry(i, "general", None, f'{{"id":{i}}}\n'.encode()) for i in ids]
    return _encode_wire(WireBatch(node, prev, ids[-1], len(ids), entries))


async def test_a_late_predecessor_goes_at_once_and_its_successor_after_it(store: Store) -> None:
    async with alice_and_chain(store) as (chain, delivery, alice):
        chain.received(batch("b", 3, [4, 5]))  # the successor, first
        delivery.end_turn()
        assert alice.ids == [] and chain.applied == 0
        await asyncio.sleep(GAP_WAIT / 5)  # a moment later, well within the wait
        chain.received(batch("a", 0, [1, 2, 3]))
        delivery.end_turn()
        # No waiting: both delivered, in id order, by the time the predecessor was handed over.
        assert alice.ids == [1, 2, 3, 4, 5] and chain.applied == 5
        chain.received(batch("a", 5, [6]))  # and the chain goes on as usual
        delivery.end_turn()
        assert alice.ids[-1] == 6
        await asyncio.sleep(GAP_WAIT * 2)  # the filler's wait ran out: nothing more, nothing twice
        delivery.end_turn()
        assert alice.ids == [1, 2, 3, 4, 5, 6] and chain.filled == 0


async def test_its_own_batches_coming_back_are_passed_over(store: Store) -> None:
    """The channel hands a process its own batches too: they were delivered here when committed,
    so they are passed over (without being decoded), and only they: a node id that differs in its
    last character is another process."""
    async with alice_and_chain(store) as (chain, delivery, alice):
        chain.received(batch(chain.node, 0, [1]))
        delivery.end_turn()
        assert alice.ids == [] and chain.applied == 0
        other = chain.node[:-1] + ("0" if chain.node[-1] != "0" else "1")
        chain.received(batch(other, 0, [1]))
        delivery.end_turn()
        assert alice.ids == [1] and chain.applied == 1


async def test_another_process_s_batch_reaches_a_member_in_one_delivery_per_run(store: Store) -> None:
    """The messages of another process's batch to one room go to its members together (one
    delivery each, with every message's id); a direct message between them keeps its place, and
    what was applied already is passed over."""
    async with alice_and_chain(store) as (chain, delivery, alice):
        alice.writes = 0  # her own presence was one
        chain.received(batch("b", 0, [1, 2]))
        delivery.end_turn()
        assert alice.ids == [1, 2] and alice.writes == 1
        room = [Entry(i, "general", None, f'{{"id":{i}}}\n'.encode()) for i in (1, 2, 3, 4)]
        direct = Entry(5, None, (2, 1), b'{"id":5}\n')  # to Alice (user 1) from user 2
        after = [Entry(i, "general", None, f'{{"id":{i}}}\n'.encode()) for i in (6, 7)]
        alice.writes = 0
        # The same process's next batch, sent again from its start (ids 1 and 2 are applied).
        chain.received(_encode_wire(WireBatch("b", 0, 7, 7, [*room, direct, *after])))
        delivery.end_turn()
        assert alice.ids == [1, 2, 3, 4, 5, 6, 7] and chain.applied == 7
        assert alice.writes == 3  # 3 and 4 together, the direct message, 6 and 7 together


async def test_busy_the_channel_is_held_and_every_batch_still_goes_at_once(store: Store) -> None:
    """Busy (a batch of several messages right after a delivery), the chain asks for the channel
    not to be read for ``hold_for``, so the batches that come meanwhile are read together; the
    batch itself is delivered at once. After a quiet moment, or for one message, nothing is held."""
    held: list[float] = []
    async with alice_and_chain(store, hold=held.append, hold_for=0.3) as (chain, delivery, alice):
        chain.received(batch("b", 0, [1, 2]))  # nothing delivered a moment ago: not busy
        delivery.end_turn()
        assert alice.ids == [1, 2] and held == []
        chain.received(batch("c", 2, [3]))  # one message: a light load
        delivery.end_turn()
        assert alice.ids == [1, 2, 3] and held == []
        chain.received(batch("c", 3, [4, 5]))  # several, right after a delivery: busy
        delivery.end_turn()
        assert alice.ids == [1, 2, 3, 4, 5] and held == [0.3]


async def test_its_own_batch_waiting_for_another_s_ends_the_hold(store: Store) -> None:
    """This process committed a batch whose predecessor, another process's, is not here yet: it
    may be waiting in the held channel, and the batch's senders wait for their own copies behind
    it. So the channel is read again at once (``let_go``), and nothing is held while it waits."""
    held: list[float] = []
    let_go: list[bool] = []
    options = {"hold": held.append, "let_go": lambda: let_go.append(True), "hold_for": 0.3}
    async with alice_and_chain(store, **options) as (chain, delivery, alice):
        chain.received(batch("b", 0, [1, 2]))
        delivery.end_turn()
        chain.received(batch("b", 2, [3, 4]))  # busy: held
        assert held == [0.3] and let_go == []
        now = datetime(2026, 1, 1, tzinfo=UTC)
        # Its own batch, 7: another process committed 5 and 6 in between.
        chain.committed(CommittedBatch([StoredMessage(7, "general", "alice", None, "hi", "n", now)], 6))
        chain.local(Entry(7, "general", None, b'{"id":7}\n'), (1, b'{"id":7,"nonce":"n"}\n'))
        delivery.end_turn()
        assert alice.ids == [1, 2, 3, 4] and let_go == [True]  # waiting for 5 and 6: read again
        chain.received(batch("c", 4, [5, 6]))  # busy, yet not held: its own batch was waiting
        assert held == [0.3]
        delivery.end_turn()
        assert alice.ids == [1, 2, 3, 4, 5, 6, 7] and chain.applied == 7


async def test_a_batch_that_came_late_in_the_fillers_wait_gets_its_own_full_wait(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The filler began for one missing batch, which then came; another batch came out of order just
    before the filler's wait ran out. Its predecessor gets a full wait too, and, come through Redis
    within it, is delivered: it is not read from the database too early (on this empty database, a
    read would have found nothing and passed over it)."""
    wait = 0.5  # long enough that a busy machine's late wake-ups do not change the order below
    monkeypatch.setattr(message_chain, "GAP_WAIT", wait)
    async with alice_and_chain(store) as (chain, delivery, alice):
        chain.received(batch("b", 1, [2]))  # 1 is missing: the filler begins its wait
        await asyncio.sleep(wait / 5)
        chain.received(batch("a", 0, [1]))  # it came: 1 and 2 go
        await asyncio.sleep(wait * 3 / 5)
        chain.received(batch("b", 3, [4]))  # 3 is missing, just before the first wait runs out
        await asyncio.sleep(wait * 2 / 5)  # the first wait is over; 3's is not
        chain.received(batch("a", 2, [3]))
        delivery.end_turn()
        assert alice.ids == [1, 2, 3, 4] and chain.applied == 4
        await asyncio.sleep(wait)
        assert chain.filled == 0
