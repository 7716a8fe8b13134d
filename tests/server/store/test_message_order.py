"""Several processes writing messages to one PostgreSQL database: ids become visible in id order.

A client resumes from the highest id it has seen; a lower id committed after a higher one was
visible would never reach it. Three stores (three asyncpg connections, as three server
processes have) insert small batches at once; then PostgreSQL's commit timestamps (the test
server tracks them) must not decrease along the ids. Without revision 0010's turn-taking
trigger, dozens of batches commit out of id order in such a run.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from chatapp.server.store import Store
from chatapp.server.store.records import MessageDraft
from tests.server.store.helpers import make_users
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
