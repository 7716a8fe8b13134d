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

from chatapp.server.hub import LocalHub
from chatapp.server.services.message_chain import GAP_WAIT, Entry, MessageChain, WireBatch, _encode_wire
from chatapp.server.store import Store
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
    store: Store, **options: float
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


async def test_others_batches_that_come_close_together_are_delivered_together(store: Store) -> None:
    """Busy (batches of several messages, one after another), the others' batches that come within
    ``gather`` of the last delivery go out together, as one write to each recipient; a lone message
    never waits."""
    async with alice_and_chain(store, gather=0.3) as (chain, delivery, alice):
        chain.received(batch("b", 0, [1, 2]))  # nothing delivered a moment ago: at once
        delivery.end_turn()
        assert alice.ids == [1, 2]
        writes = alice.writes
        chain.received(batch("c", 2, [3, 4]))  # right after a delivery: waits for company
        chain.received(batch("b", 4, [5]))  # and what comes after it waits with it
        delivery.end_turn()
        assert alice.ids == [1, 2]
        async with asyncio.timeout(2):
            while chain.applied < 5:
                await asyncio.sleep(0.01)
        delivery.end_turn()
        assert alice.ids == [1, 2, 3, 4, 5]
        assert alice.writes == writes + 1, "both batches reach her as one"
        chain.received(batch("c", 5, [6]))  # one message (a light load): at once
        delivery.end_turn()
        assert alice.ids[-1] == 6
