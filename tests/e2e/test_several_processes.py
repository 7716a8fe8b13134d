"""Several server processes on one PostgreSQL database and one Redis server (``--redis-url``).

Users on different processes chat in a room and by direct message: each gets every message
meant for them exactly once and in id order, the sender its own copy (with its nonce). Redis
stopped and started again mid-traffic loses nothing: what pub/sub dropped is read from
PostgreSQL. Presence across processes is tested in test_shared_presence.py; these tests pass over
presence frames.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from chatapp.protocol import Direct, Message, Presence, Send, SendDirect
from tests.support.databases import ScratchDatabase
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess
from tests.support.wire import WireClient

pytest.importorskip("redis")

ROOM_MESSAGES = 50
"""Room messages each user sends."""
DIRECT_MESSAGES = 15
"""Direct messages each user sends to the next one."""
TIMEOUT = 15.0
UNLIMITED = ("--send-rate", "10000", "--send-burst", "10000", "--repeat-limit", "0")
"""The tests send faster than people type."""


def start_processes(
    server_factory: type[ServerProcess], database: ScratchDatabase, redis: RedisServer, count: int
) -> list[ServerProcess]:
    """``count`` servers, all started before any client comes (each ends open sessions at start)."""
    return [server_factory(database, "--redis-url", redis.url, *UNLIMITED).start() for _ in range(count)]


async def collect(client: WireClient, expected: int) -> list[Message | Direct]:
    """The next ``expected`` messages and direct messages the client gets (presence passed over)."""
    got: list[Message | Direct] = []
    while len(got) < expected:
        frame = await client.recv(TIMEOUT)
        if isinstance(frame, Message | Direct):
            got.append(frame)
        else:
            assert isinstance(frame, Presence), frame
    return got


async def no_more(client: WireClient) -> None:
    """Nothing but presence comes within a moment: no message was delivered twice."""
    try:
        while True:
            frame = await client.recv(1.5)
            assert isinstance(frame, Presence), f"one more than expected: {frame!r}"
    except TimeoutError:
        return


def check_once_in_order(got: list[Message | Direct], me: str) -> None:
    ids = [frame.id for frame in got]
    assert ids == sorted(ids), "in id order"
    assert len(set(ids)) == len(ids), "each once"
    for frame in got:
        assert (frame.nonce is not None) == (frame.sender == me), "the sender's own copy carries its nonce"


async def test_users_on_three_processes_chat_in_a_room_and_directly(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    servers = start_processes(server_factory, postgres_database, redis_server, 3)
    names = ["alice", "bob", "carol"]
    clients = []
    for name, server in zip(names, servers, strict=True):
        client = await WireClient.connect(server.host, server.port)
        await client.register(name)
        clients.append(client)

    async def talk(index: int) -> None:
        client, peer = clients[index], names[(index + 1) % 3]
        for i in range(ROOM_MESSAGES):
            await client.send(Send(room="general", text=f"{names[index]} {i}", nonce=f"r{i}"))
            if i % 3 == 0 and i // 3 < DIRECT_MESSAGES:
                await client.send(SendDirect(to=peer, text=f"to {peer} {i}", nonce=f"d{i}"))
            await asyncio.sleep(0.002)  # many small batches, interleaved across the processes

    # Each gets every room message, its own direct messages and those sent to it.
    expected = 3 * ROOM_MESSAGES + 2 * DIRECT_MESSAGES
    received = await asyncio.gather(
        *(collect(client, expected) for client in clients),
        *(talk(index) for index in range(3)),
    )
    for name, got in zip(names, received[:3], strict=True):
        check_once_in_order(got, name)
        room = [f for f in got if isinstance(f, Message)]
        assert sorted(f.text for f in room) == sorted(f"{n} {i}" for n in names for i in range(ROOM_MESSAGES))
        direct = [f for f in got if isinstance(f, Direct)]
        assert all(name in (f.sender, f.to) for f in direct)
        assert len(direct) == 2 * DIRECT_MESSAGES
    await asyncio.gather(*(no_more(client) for client in clients))
    # Every process delivered the same room messages in the same order: the chain's order.
    orders = [[f.id for f in got if isinstance(f, Message)] for got in received[:3]]
    assert orders[0] == orders[1] == orders[2]
    for client in clients:
        await client.close()


async def test_a_redis_restart_mid_traffic_loses_nothing(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    first, second = start_processes(server_factory, postgres_database, redis_server, 2)
    alice = await WireClient.connect(first.host, first.port)
    await alice.register("alice")
    bob = await WireClient.connect(second.host, second.port)
    await bob.register("bob")
    total = 120

    async def send(start: int, end: int) -> None:
        for i in range(start, end):
            await alice.send(Send(room="general", text=f"m{i}", nonce=f"n{i}"))
            if i % 5 == 0:
                await bob.send(SendDirect(to="alice", text=f"d{i}", nonce=f"d{i}"))
            await asyncio.sleep(0.005)

    bob_got = asyncio.ensure_future(collect(bob, total + total // 5))
    alice_got = asyncio.ensure_future(collect(alice, total + total // 5))
    try:
        await send(0, 40)
        redis_server.stop()  # pub/sub loses whatever is published now
        await send(40, 80)
        redis_server.start()
        await send(80, total)
        for name, got in (("bob", await bob_got), ("alice", await alice_got)):
            check_once_in_order(got, name)
            assert [f.text for f in got if isinstance(f, Message)] == [f"m{i}" for i in range(total)]
            assert [f.text for f in got if isinstance(f, Direct)] == [f"d{i}" for i in range(0, total, 5)]
        await asyncio.gather(no_more(bob), no_more(alice))
    finally:
        if not redis_server.running:
            redis_server.start()
        bob_got.cancel()
        alice_got.cancel()
    await alice.close()
    await bob.close()
    for server in (first, second):
        server.stop()
        # It came back to the channel (and to the presence channel: tests/e2e/test_shared_presence.py).
        assert server.log.count("event=redis_subscribed channel=chatapp:messages") == 2
    # What pub/sub lost while Redis was away, each process read from PostgreSQL.
    filled = [int(m) for m in re.findall(r"event=message_chain .*?filled=(\d+)", first.log + second.log)]
    assert len(filled) == 2 and all(n > 0 for n in filled), filled
    # Redis came back without the heartbeat keys: neither process took the other for lost.
    assert "event=node_lost" not in first.log + second.log


async def test_a_client_that_resumes_on_a_process_behind_gets_nothing_twice(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    """alice has seen bob's messages on the first process; the second has not delivered them yet
    (Redis is down, so it learns of them only from PostgreSQL, a moment later). She resumes there
    from the last one she saw: its chain catching up must not hand them to her again."""
    first, second = start_processes(server_factory, postgres_database, redis_server, 2)
    alice = await WireClient.connect(first.host, first.port)
    token = (await alice.register("alice")).token
    bob = await WireClient.connect(first.host, first.port)
    await bob.register("bob")
    redis_server.stop()
    try:
        for i in range(20):
            await bob.send(Send(room="general", text=f"m{i}", nonce=f"n{i}"))
        seen = await collect(alice, 20)
        await alice.close()
        back = await WireClient.connect(second.host, second.port)
        await back.resume(token, last_id=seen[-1].id)
        assert back.replayed == []
    finally:
        redis_server.start()
    await bob.send(Send(room="general", text="after", nonce="after"))
    got = await collect(back, 1)
    assert [f.text for f in got] == ["after"], "nothing she had seen, once more"
    await no_more(back)
    for client in (back, bob):
        await client.close()
