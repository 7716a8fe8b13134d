"""A process's watch over the others' heartbeats, against the private Redis and PostgreSQL.

Redis restarting (or being emptied) takes every heartbeat key with it, the living processes'
too: no process may take another for dead before that one has had a whole TTL to write its key
again. (A Redis restart once ended a live process's sessions as ``node_lost``.) A process that
really is gone is still found, a TTL later.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from chatapp.server.store import Store
from tests.server.store.helpers import make_session, token
from tests.support.databases import ScratchDatabase
from tests.support.redis import RedisServer

pytest.importorskip("redis")

import redis.asyncio as redis  # noqa: E402

from chatapp.server.node_watch import BEAT_EVERY, HEARTBEAT_TTL, KEY_PREFIX, NodeWatch  # noqa: E402


async def end_reason(store: Store) -> str | None:
    found = await store.find_session(token(1))
    assert found is not None
    return found[0].end_reason


async def test_a_redis_restart_ends_no_living_process_sessions(
    postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    now = datetime.now(UTC)
    store = await Store.open(postgres_database.url)
    client = redis.Redis.from_url(redis_server.url)
    watch = NodeWatch(redis_server.url, store)
    try:
        bob = await store.create_user("bob", "h", now)
        here = store.node
        store.node = other = "0123456789abcdef"  # bob is online on another, living process
        await make_session(store, bob, now, n=1)
        store.node = here
        beat = round(HEARTBEAT_TTL * 1000)
        await client.set(KEY_PREFIX + other, b"1", px=beat)
        await watch.start()

        await client.flushall()  # Redis restarted: every key is gone, the other process's too
        await asyncio.sleep(2.5 * BEAT_EVERY)  # this process beats (and would sweep) twice meanwhile
        assert await end_reason(store) is None, "a living process's session was ended"

        await client.set(KEY_PREFIX + other, b"1", px=beat)  # the other process beats again
        await asyncio.sleep(HEARTBEAT_TTL / 2)
        assert await end_reason(store) is None

        # And it dies: its key expires, and its session is ended once this process sweeps.
        await client.delete(KEY_PREFIX + other)

        async def ended() -> None:
            while await end_reason(store) is None:
                await asyncio.sleep(0.1)

        await asyncio.wait_for(ended(), HEARTBEAT_TTL + 3 * BEAT_EVERY)
        assert await end_reason(store) == "node_lost" and watch.lost == [other]
    finally:
        await watch.close()
        await client.aclose()
        await store.close()
