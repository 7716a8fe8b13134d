"""The message writer of one process among several paces its batches while others commit between
them (``pace``), so each batch grows instead of every process committing a trickle.

Real PostgreSQL, two stores (two processes' connections). The pace here is long (0.4 s) so that
the gaps between submissions (0.1 s) are far inside it or far outside it on a loaded machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from chatapp.server.store import CommittedBatch, MessageDraft, MessageWriter, Store, StoredMessage
from tests.server.store.helpers import make_users
from tests.support.databases import ScratchDatabase

PACE = 0.4
GAP = 0.1


class Process:
    """A store and its writer, as one server process among several has them."""

    def __init__(
        self, store: Store, writer: MessageWriter, alice_id: int, batches: list[CommittedBatch]
    ) -> None:
        self.store = store
        self.writer = writer
        self.alice_id = alice_id
        self.batches = batches  # what the writer committed, in order
        self.count = 0

    def draft(self, now: datetime) -> MessageDraft:
        self.count += 1
        return MessageDraft(sender_id=self.alice_id, room_id=1, text=f"m{self.count}", created_at=now)

    async def send(self, now: datetime, count: int = 1, gap: float = 0.0) -> list[StoredMessage]:
        """Submit ``count`` messages ``gap`` seconds apart; their stored records."""
        futures = []
        for n in range(count):
            if n and gap:
                await asyncio.sleep(gap)
            futures.append(self.writer.submit(self.draft(now)))
        return list(await asyncio.gather(*futures))


@pytest.fixture
async def two(postgres_database: ScratchDatabase, now: datetime) -> AsyncIterator[tuple[Process, Store]]:
    """This process (a paced writer) and another process's store."""
    mine, other = await Store.open(postgres_database.url), await Store.open(postgres_database.url)
    (alice,) = await make_users(mine, now, "Alice")
    batches: list[CommittedBatch] = []
    process = Process(mine, MessageWriter(mine, committed=batches.append, pace=PACE), alice.id, batches)
    await process.writer.start()
    try:
        yield process, other
    finally:
        await process.writer.stop()
        await mine.close()
        await other.close()


async def shared_and_busy(process: Process, other: Store, now: datetime) -> None:
    """This process's last batch: two messages (busy), after one of the other's (shared)."""
    await process.send(now)
    await other.insert_messages(theirs(process, now))
    await process.send(now, count=2)


def theirs(process: Process, now: datetime) -> list[MessageDraft]:
    """A message the other process commits."""
    return [MessageDraft(sender_id=process.alice_id, room_id=1, text="theirs", created_at=now)]


async def test_messages_gather_into_one_batch_while_another_process_commits(
    two: tuple[Process, Store], now: datetime
) -> None:
    process, other = two
    await shared_and_busy(process, other, now)
    before = len(process.batches)

    stored = await process.send(now, count=3, gap=GAP)

    assert len(process.batches) == before + 1, "three messages sent 0.1 s apart wait for one another"
    assert [m.id for m in stored] == [m.id for m in process.batches[-1].messages]


async def test_a_process_alone_never_waits(two: tuple[Process, Store], now: datetime) -> None:
    process, _ = two
    await process.send(now)
    await process.send(now, count=2)  # nobody committed between: nothing to wait for
    before = len(process.batches)

    await process.send(now, count=3, gap=GAP)

    assert len(process.batches) == before + 3, "each message is committed as it comes"


async def test_a_message_after_a_quiet_moment_does_not_wait(
    two: tuple[Process, Store], now: datetime
) -> None:
    process, other = two
    await shared_and_busy(process, other, now)
    await asyncio.sleep(2 * PACE + GAP)  # this process's last batch is long gone
    before = len(process.batches)

    await process.send(now, count=2, gap=GAP)

    assert len(process.batches) == before + 2, "the first goes at once, alone"



async def test_one_message_at_a_time_does_not_wait(two: tuple[Process, Store], now: datetime) -> None:
    """A light load (each batch one message) is not slowed down, though the database is shared."""
    process, other = two
    await process.send(now)
    await other.insert_messages(theirs(process, now))
    await process.send(now)  # shared, but a batch of one
    before = len(process.batches)

    await process.send(now, count=2, gap=GAP)

    assert len(process.batches) == before + 2
