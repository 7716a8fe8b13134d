"""The shared hub of one process against the private Redis server: what a process that starts now
reads of this one's users.

Each process's snapshot of its online users is the only thing a process that has just started (and
so missed the presence channel's changes) knows of them. It is written at once after a change, not
only on the next periodic refresh: a worker restarted just after a user left must not refuse that
user's next sign-in as already logged in (seen in CI with ``--workers``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.support.redis import RedisServer

pytest.importorskip("redis")

from chatapp.server.shared_presence import REFRESH, SharedHub  # noqa: E402
from chatapp.server.transport.delivery import Delivery, Parts  # noqa: E402


class Member:
    def __init__(self, user_id: int, username: str) -> None:
        self.user_id = user_id
        self.username = username
        self.session_id = 100 + user_id
        self.endpoint = "127.0.0.1:1"
        self.online_since = datetime.now(UTC)

    def deliver(self, data: bytes, message_id: int, parts: Parts | None, /) -> None:
        pass

    def closes_in(self) -> float | None:
        return None

    def displaced(self, *, same_session: bool) -> None:
        pass


@pytest.fixture
async def hub(redis_server: RedisServer) -> AsyncIterator[SharedHub]:
    shared = SharedHub(Delivery(lambda end_turn: None), redis_server.url)
    await shared.start()
    yield shared
    await shared.close()


async def seen_online(redis_server: RedisServer, user_id: int) -> bool:
    """Whether a process starting now takes the user for online (on another process)."""
    other = SharedHub(Delivery(lambda end_turn: None), redis_server.url)
    await other.start()
    try:
        return other.present(user_id)
    finally:
        await other.close()


async def until_seen(redis_server: RedisServer, user_id: int, online: bool, timeout: float) -> None:
    async def poll() -> None:
        while await seen_online(redis_server, user_id) != online:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_a_user_who_left_is_gone_from_the_snapshot_before_the_next_refresh(
    hub: SharedHub, redis_server: RedisServer
) -> None:
    alice = Member(1, "alice")
    hub.attach(alice, ["general"])
    await until_seen(redis_server, alice.user_id, True, 3 * REFRESH)
    hub.detach(alice)
    # Well before the next periodic refresh: written because of the change itself.
    await until_seen(redis_server, alice.user_id, False, REFRESH / 2)


async def test_a_process_that_shut_down_leaves_nobody_online(redis_server: RedisServer) -> None:
    hub = SharedHub(Delivery(lambda end_turn: None), redis_server.url)
    await hub.start()
    hub.attach(Member(2, "bob"), ["general"])
    await until_seen(redis_server, 2, True, 3 * REFRESH)
    await hub.close()
    assert not await seen_online(redis_server, 2)
