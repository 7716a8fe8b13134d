"""Several processes writing messages to one PostgreSQL database: ids become visible in id order.

A client resumes from the highest id it has seen; a lower id committed after a higher one was
visible would never reach it. Three stores (three asyncpg connections, as three server
processes have) insert small batches at once; then PostgreSQL's commit timestamps (the test
server tracks them) must not decrease along the ids. Without revision 0010's turn-taking
trigger, dozens of batches commit out of id order in such a run.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime

import pytest

from chatapp.server.store import Store
from chatapp.server.store.records import CommittedBatch, MessageDraft
from tests.server.store.helpers import make_users, open_store
from tests.support.databases import ScratchDatabase

WRITERS = 3
BATCHES = 150

OUT_OF_ORDER = """
SELECT count(*) FROM (
    SELECT pg_xact_commit_timestamp(xmin) AS committed,
           lag(pg_xact_commit_timestamp(xmin)) OVER (ORDER BY id) AS before
    FROM messages
) AS commits
WHERE committed < before
"""


async def test_ids_commit_in_id_order_with_several_writers(
    postgres_database: ScratchDatabase, now: datetime
) -> None:
    stores = [await Store.open(postgres_database.url) for _ in range(WRITERS)]
    try:
        (alice,) = await make_users(stores[0], now, "Alice")

        def draft(nonce: str) -> MessageDraft:
            return MessageDraft(sender_id=alice.id, room_id=1, text="x", created_at=now, nonce=nonce)

        async def write(store: Store, tag: int) -> None:
            for batch in range(BATCHES):
                await store.insert_messages([draft(f"{tag}.{batch}.{n}") for n in range(3)])

        await asyncio.gather(*(write(store, tag) for tag, store in enumerate(stores)))
    finally:
        for store in stores:
            await store.close()

    assert postgres_database.scalar("SELECT count(*) FROM messages") == WRITERS * BATCHES * 3
    assert postgres_database.scalar(OUT_OF_ORDER) == 0


CHAIN_BATCHES = 60


@pytest.mark.parametrize("path", ["fast", "sqlalchemy"])
async def test_each_batch_knows_the_last_id_committed_before_it(
    postgres_database: ScratchDatabase, now: datetime, path: str
) -> None:
    """The batches of three writers form one chain: each batch's ``prev`` is the highest id of the
    batch that committed just before it (asyncpg's batch insert and SQLAlchemy's alike). A batch of
    1,200 rows goes through SQLAlchemy as two INSERT statements (1,000 rows a page) and must keep
    its first ``prev``."""
    stores = [await open_store(postgres_database.url, path) for _ in range(WRITERS)]
    batches: list[CommittedBatch] = []
    try:
        (alice,) = await make_users(stores[0], now, "Alice")

        def draft(nonce: str) -> MessageDraft:
            return MessageDraft(sender_id=alice.id, room_id=1, text="x", created_at=now, nonce=nonce)

        async def write(store: Store, tag: int) -> None:
            for batch in range(CHAIN_BATCHES):
                size = 1200 if batch == tag else 3
                batches.append(await store.insert_batch([draft(f"{tag}.{batch}.{n}") for n in range(size)]))
            # A batch of resends only: nothing new, so no place in the chain.
            assert (await store.insert_batch([draft(f"{tag}.0.0")])).prev == 0

        await asyncio.gather(*(write(store, tag) for tag, store in enumerate(stores)))
    finally:
        for store in stores:
            await store.close()

    chain = sorted(([m.id for m in batch.messages], batch.prev) for batch in batches)
    assert chain[0][1] == 0  # the first batch of an empty table
    for (before, _), (ids, prev) in itertools.pairwise(chain):
        assert prev == max(before), "a batch's prev is the last id of the batch committed before it"
        assert min(ids) > prev
