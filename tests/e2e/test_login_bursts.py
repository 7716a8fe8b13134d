"""Bursts of simultaneous sign-in attempts against a server subprocess get exactly what the limits allow.

Verifications are counted from the server's activity log: each wrong password
that was checked is one ``login_failed`` line, each attempt turned away before
the hash one ``login_throttled`` line. The server hashes with production-like
argon2 on one thread, so a burst arrives well within one verification.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest

from chatapp.protocol import AuthOk, Error, Login, Register
from tests.support.databases import ScratchDatabase
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

BURST = 60
SLOW_HASH = ("--argon2-memory-kib", "19456", "--argon2-time-cost", "2", "--hash-workers", "1")


@pytest.fixture
def burst_server(server_factory: type[ServerProcess], database: ScratchDatabase) -> Iterator[ServerProcess]:
    server = server_factory(
        database,
        *SLOW_HASH,
        "--max-connections-per-address",
        "200",
        "--login-failures-per-account",
        "5",
        "--login-failures-per-address",
        "20",
        "--registrations-per-address",
        "10",
    ).start()
    yield server


async def open_clients(server: ServerProcess, addresses: list[str]) -> list[WireClient]:
    return list(
        await asyncio.gather(
            *(WireClient.connect(server.host, server.port, local_addr=address) for address in addresses)
        )
    )


async def answers(clients: list[WireClient], frames: list[Login] | list[Register]) -> list[str]:
    """Send one frame on each client at once; the code of each answer (``auth_ok`` for a sign-in)."""
    await asyncio.gather(*(client.send(frame) for client, frame in zip(clients, frames, strict=True)))

    async def answer(client: WireClient) -> str:
        frame = await client.recv(timeout=60)
        if isinstance(frame, AuthOk):
            return "auth_ok"
        assert isinstance(frame, Error), frame
        return frame.code

    return list(await asyncio.gather(*(answer(client) for client in clients)))


async def logged(server: ServerProcess, event: str, expected_total: int, *others: str) -> int:
    """How many ``event`` lines the log has, once they and the ``others`` add up to ``expected_total``."""

    def tally(name: str) -> int:
        return len(re.findall(rf"event={name} ", server.log))

    async with asyncio.timeout(30):
        while sum(tally(name) for name in (event, *others)) < expected_total:
            await asyncio.sleep(0.05)
    return tally(event)


async def close_all(clients: list[WireClient]) -> None:
    await asyncio.gather(*(client.close() for client in clients))


async def test_a_burst_at_one_account_from_one_address_gets_exactly_its_free_attempts(
    burst_server: ServerProcess,
) -> None:
    owner = await WireClient.connect(burst_server.host, burst_server.port, local_addr="127.0.0.2")
    await owner.register("victim")
    await owner.close()
    clients = await open_clients(burst_server, ["127.0.0.3"] * BURST)
    codes = await answers(clients, [Login(username="victim", password=f"guess {n}!") for n in range(BURST)])
    assert codes.count("auth_failed") == 5
    assert codes.count("rate_limited") == BURST - 5
    assert await logged(burst_server, "login_failed", BURST, "login_throttled") == 5
    await close_all(clients)


async def test_a_burst_at_many_accounts_from_one_address_gets_exactly_the_address_limit(
    burst_server: ServerProcess,
) -> None:
    clients = await open_clients(burst_server, ["127.0.0.4"] * BURST)
    codes = await answers(clients, [Login(username=f"user{n}", password=PASSWORD) for n in range(BURST)])
    assert codes.count("auth_failed") == 20
    assert codes.count("rate_limited") == BURST - 20
    assert await logged(burst_server, "login_failed", BURST, "login_throttled") == 20
    await close_all(clients)


async def test_a_burst_at_one_account_from_many_addresses_gets_exactly_its_free_attempts(
    burst_server: ServerProcess,
) -> None:
    owner = await WireClient.connect(burst_server.host, burst_server.port, local_addr="127.0.0.2")
    await owner.register("victim")
    await owner.close()
    clients = await open_clients(burst_server, [f"127.0.1.{10 + n}" for n in range(BURST)])
    codes = await answers(clients, [Login(username="victim", password=f"guess {n}!") for n in range(BURST)])
    assert codes.count("auth_failed") == 5
    assert codes.count("rate_limited") == BURST - 5
    assert await logged(burst_server, "login_failed", BURST, "login_throttled") == 5
    await close_all(clients)


async def test_a_burst_of_registrations_from_one_address_makes_exactly_the_limit(
    burst_server: ServerProcess,
) -> None:
    clients = await open_clients(burst_server, ["127.0.0.5"] * 40)
    codes = await answers(clients, [Register(username=f"new{n}", password=PASSWORD) for n in range(40)])
    assert codes.count("auth_ok") == 10
    assert codes.count("rate_limited") == 30
    assert burst_server.rows("SELECT count(*) FROM users") == [(10,)]
    await close_all(clients)


async def test_a_registration_that_fails_does_not_use_up_the_limit(burst_server: ServerProcess) -> None:
    first = await WireClient.connect(burst_server.host, burst_server.port, local_addr="127.0.0.6")
    await first.register("taken")
    again = await WireClient.connect(burst_server.host, burst_server.port, local_addr="127.0.0.6")
    for _ in range(15):
        await again.send(Register(username="Taken", password=PASSWORD))
        await again.expect_error("username_taken")
    # Nine more accounts still fit in this address's ten an hour, and no more.
    clients = await open_clients(burst_server, ["127.0.0.6"] * 10)
    codes = await answers(clients, [Register(username=f"more{n}", password=PASSWORD) for n in range(10)])
    assert sorted(codes) == ["auth_ok"] * 9 + ["rate_limited"]
    await close_all([first, again, *clients])
