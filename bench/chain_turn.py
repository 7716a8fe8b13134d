"""How long one turn of the commit chain takes on the bench's PostgreSQL (the scaling section).

On PostgreSQL every transaction that inserts messages, on every process, takes the chain's lock
(revision 0010) and holds it until it commits: batches of all processes take turns. So the turns a
second the chain can give is about one over a turn's duration, whatever the number of processes.
This times the smallest turn, one message inserted and committed through the store (as the message
writer does it, round trips included), many times in a row from one connection: an upper bound of
the time the lock is held, since the client's side of the round trips counts too.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from chatapp.protocol import DEFAULT_ROOM
from chatapp.server.store import Store
from chatapp.server.store.records import MessageDraft

WARM_UP = 20


def measure(url: str, inserts: int, sender: tuple[int, str]) -> dict[str, float | int]:
    """Time ``inserts`` one-message turns in the database at ``url`` (migrated), each a message of
    ``sender`` (its id and name) to the default room."""
    return asyncio.run(_turns(url, inserts, sender))


async def _turns(url: str, inserts: int, sender: tuple[int, str]) -> dict[str, float | int]:
    store = await Store.open(url, migrate=False)
    try:
        # Named, as the writer's drafts are (the store then reads nothing back).
        draft = MessageDraft(
            sender_id=sender[0],
            room_id=1,
            text="one turn",
            created_at=datetime.now(UTC),
            sender_name=sender[1],
            room_name=DEFAULT_ROOM,
        )
        for _ in range(WARM_UP):
            await store.insert_messages([draft])
        times = []
        for _ in range(inserts):
            started = time.perf_counter()
            await store.insert_messages([draft])
            times.append(time.perf_counter() - started)
    finally:
        await store.close()
    times.sort()
    return {
        "inserts": inserts,
        "mean_ms": round(sum(times) / len(times) * 1e3, 3),
        "p50_ms": round(times[len(times) // 2] * 1e3, 3),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1e3, 3),
    }
