"""The limits per address and per account hold across real server processes on one PostgreSQL
database and one Redis server (``--redis-url``): connections per address, failed logins,
registrations and room creations, spread over two processes, are counted as one process counts
them; the connections of a process killed with SIGKILL stop counting once its key expires.
"""

from __future__ import annotations

import asyncio

import pytest

from chatapp.protocol import (
    Bye,
    ByeReason,
    Join,
    Joined,
    Login,
    Message,
    Presence,
    Register,
    ServerFrame,
    Welcome,
)
from tests.support.databases import ScratchDatabase
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

pytest.importorskip("redis")


def start(
    server_factory: type[ServerProcess], database: ScratchDatabase, redis: RedisServer, *args: str
) -> list[ServerProcess]:
    return [server_factory(database, "--redis-url", redis.url, *args).start() for _ in range(2)]


async def greeting(server: ServerProcess, address: str) -> tuple[WireClient, ServerFrame]:
    client = await WireClient.connect(server.host, server.port, local_addr=address, greet=False)
    return client, await client.recv()


async def welcomed(server: ServerProcess, address: str, opened: list[WireClient]) -> bool:
    client, frame = await greeting(server, address)
    opened.append(client)
    if isinstance(frame, Welcome):
        return True
    assert frame == Bye(reason=ByeReason.TOO_MANY_CONNECTIONS.value)
    return False


async def test_connections_per_address_hold_across_processes_and_a_dead_ones_stop_counting(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    first, second = start(
        server_factory, postgres_database, redis_server, "--max-connections-per-address", "3"
    )
    opened: list[WireClient] = []
    try:
        assert await welcomed(first, "127.0.0.2", opened)
        assert await welcomed(first, "127.0.0.2", opened)
        assert await welcomed(second, "127.0.0.2", opened)
        # The fourth is refused by either process: each counts the other's connections.
        assert not await welcomed(second, "127.0.0.2", opened)
        assert not await welcomed(first, "127.0.0.2", opened)
        assert await welcomed(second, "127.0.0.3", opened), "another address has its own count"
        # One closed on the first process frees a seat on the second.
        await opened[0].close()
        async with asyncio.timeout(5):  # the second remembers its refusal for a second
            while not await welcomed(second, "127.0.0.2", opened):
                await asyncio.sleep(0.2)
        # The first process dies with its one connection from the address still open: within the
        # TTL of its count in Redis (5 s), the address has that seat again on the second.
        first.kill()
        async with asyncio.timeout(12):
            while not await welcomed(second, "127.0.0.2", opened):
                await asyncio.sleep(0.3)
        assert not await welcomed(second, "127.0.0.2", opened), "and no more than that"
    finally:
        for client in opened:
            await client.close()


async def test_failed_logins_registrations_and_room_creations_are_counted_once_across_processes(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    first, second = start(
        server_factory,
        postgres_database,
        redis_server,
        "--registrations-per-address",
        "2",
        "--login-failures-per-account",
        "3",
        "--login-failures-per-address",
        "100",
        "--room-creations-per-hour",
        "1",
        "--duplicate-login",
        "replace",
    )
    # Registrations from one address: one on each process, then neither takes a third.
    on_first = await WireClient.connect(first.host, first.port, local_addr="127.0.0.4")
    on_second = await WireClient.connect(second.host, second.port, local_addr="127.0.0.4")
    await on_first.register("alice")
    await on_second.register("bob")
    # Bob creates a room on the second process; signed in on the first, he may create no other.
    await on_second.send(Join(room="first-room", ref=on_second.next_ref()))
    assert (await on_second.expect(Joined, skip=(Presence, Message))).created
    await on_first.close()
    on_first = await WireClient.connect(first.host, first.port, local_addr="127.0.0.7")
    await on_first.login("bob")  # replaces his session on the second process
    await on_first.send(Join(room="second-room", ref=on_first.next_ref()))
    await on_first.expect_error("rate_limited", skip=(Presence, Message))
    for client in (on_first, on_second):
        await client.close()
    for server in (first, second):
        client = await WireClient.connect(server.host, server.port, local_addr="127.0.0.4")
        await client.send(Register(username="carol", password=PASSWORD, ref=client.next_ref()))
        refused = await client.expect_error("rate_limited")
        assert refused.retry_after is not None and refused.retry_after > 3000
        await client.close()
    # Guesses at alice's password, spread over both processes, block her account as on one.
    guesser_first = await WireClient.connect(first.host, first.port, local_addr="127.0.0.5")
    guesser_second = await WireClient.connect(second.host, second.port, local_addr="127.0.0.5")
    for n, guesser in enumerate((guesser_first, guesser_second, guesser_first)):
        await guesser.send(Login(username="alice", password=f"guess {n}", ref=guesser.next_ref()))
        await guesser.expect_error("auth_failed")
    for guesser in (guesser_second, guesser_first):
        await guesser.send(Login(username="alice", password=PASSWORD, ref=guesser.next_ref()))
        await guesser.expect_error("rate_limited")
    # Alice herself, from an address with no failures, still gets in, on the other process.
    home = await WireClient.connect(second.host, second.port, local_addr="127.0.0.6")
    assert (await home.login("alice")).username == "alice"
    for client in (guesser_first, guesser_second, home):
        await client.close()
