"""The private Redis server the several-process tests use (tests/support/redis.py): it starts,
answers, stops and comes back on the same port, empty (nothing is saved)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.redis import RedisServer

redis = pytest.importorskip("redis.asyncio")


def test_restart_keeps_the_port_and_drops_the_data(redis_server: RedisServer) -> None:
    async def set_key() -> None:
        client = redis.Redis.from_url(redis_server.url)
        try:
            await client.set("chatapp-test", "1")
            assert await client.get("chatapp-test") == b"1"
        finally:
            await client.aclose()

    async def get_key() -> bytes | None:
        client = redis.Redis.from_url(redis_server.url)
        try:
            value: bytes | None = await client.get("chatapp-test")
            return value
        finally:
            await client.aclose()

    asyncio.run(set_key())
    port = redis_server.port
    redis_server.stop()
    assert not redis_server.ping()
    redis_server.start()
    assert redis_server.port == port
    assert redis_server.ping()
    assert asyncio.run(get_key()) is None  # --save "": a restarted Redis starts empty
