"""The limits per address and per account counted in a real (private) Redis: two
:class:`SharedLimits` on one Redis are two server processes, and together they allow what one
process allows. Times are made up (a clock the test moves), as in test_ratelimit.py, except the
TTLs of dead processes' connections, which Redis measures itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatapp.server.capacity import Limit, Seat
from chatapp.server.config import Config
from chatapp.server.throttles import Attempt, Counted, LoginThrottle
from tests.support.redis import RedisServer

pytest.importorskip("redis")

from chatapp.server import shared_seats  # noqa: E402 - needs the redis extra
from chatapp.server.shared_limits import SharedLimits  # noqa: E402


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def config(redis: RedisServer, **settings: object) -> Config:
    return dataclasses.replace(Config(), redis_url=redis.url, **settings)  # type: ignore[arg-type]


def processes(cfg: Config, clock: Callable[[], float], count: int = 2) -> list[SharedLimits]:
    """``count`` processes' limits on one Redis, on one clock (the wall clock they share)."""
    return [SharedLimits(cfg, f"node{n}", clock=clock, local_clock=clock) for n in range(count)]


@pytest.fixture
async def close_later() -> AsyncIterator[list[SharedLimits]]:
    opened: list[SharedLimits] = []
    yield opened
    for limits in opened:
        await limits.close()


async def fail(limits: SharedLimits, address: str, account: str) -> None:
    attempt = await limits.logins.reserve(address, account)
    assert isinstance(attempt, Attempt), f"refused: {attempt}"
    await limits.logins.settle(attempt, False)


async def test_failed_logins_on_two_processes_block_the_account_as_on_one(
    redis_server: RedisServer, close_later: list[SharedLimits]
) -> None:
    clock = Clock()
    cfg = config(redis_server, login_failures_per_account=3, login_failures_per_address=100)
    first, second = close_later[:] = processes(cfg, clock)
    await fail(first, "192.0.2.1", "alice")
    await fail(second, "192.0.2.1", "alice")
    await fail(first, "192.0.2.1", "alice")  # the third: blocked for a second from now
    wait = await second.logins.reserve("192.0.2.1", "alice")
    assert wait == 1.0, "the second process counted the first one's failures"
    # The owner, from an address with no failures, still gets through, on either process ...
    owner = await second.logins.reserve("198.51.100.7", "alice")
    assert isinstance(owner, Attempt) and owner.shared
    await second.logins.settle(owner, True)
    # ... and that success forgives the account everywhere.
    clock.now += 0.1
    again = await first.logins.reserve("192.0.2.1", "alice")
    assert isinstance(again, Attempt)


async def test_a_bad_resume_token_counts_against_its_address_on_every_process(
    redis_server: RedisServer, close_later: list[SharedLimits]
) -> None:
    clock = Clock()
    cfg = config(redis_server, login_failures_per_address=2)
    first, second = close_later[:] = processes(cfg, clock)
    await first.logins.failed("203.0.113.9")
    assert await second.logins.blocked("203.0.113.9") == 0.0
    await second.logins.failed("203.0.113.9")
    assert await first.logins.blocked("203.0.113.9") == 1.0
    clock.now += 1.0
    assert await first.logins.blocked("203.0.113.9") == 0.0


async def test_registrations_per_address_count_once_across_processes(
    redis_server: RedisServer, close_later: list[SharedLimits]
) -> None:
    clock = Clock()
    first, second = close_later[:] = processes(config(redis_server, registrations_per_address=2), clock)
    one = await first.registrations.reserve("192.0.2.5")
    assert isinstance(one, Counted) and one.member
    clock.now += 10.0
    two = await second.registrations.reserve("192.0.2.5")
    assert isinstance(two, Counted)
    assert await first.registrations.reserve("192.0.2.5") == 3590.0
    assert isinstance(await first.registrations.reserve("192.0.2.6"), Counted), "another address"
    await second.registrations.cancel(two)  # the name was taken: it does not count
    three = await first.registrations.reserve("192.0.2.5")
    assert isinstance(three, Counted)
    assert await second.registrations.reserve("192.0.2.5") == 3590.0
    clock.now += 3590.0  # the first has slid out of the window
    assert isinstance(await second.registrations.reserve("192.0.2.5"), Counted)


async def test_room_creations_per_account_count_once_across_processes(
    redis_server: RedisServer, close_later: list[SharedLimits]
) -> None:
    clock = Clock()
    first, second = close_later[:] = processes(config(redis_server, room_creations_per_hour=1), clock)
    assert isinstance(await first.room_creations.reserve("7"), Counted)
    assert await second.room_creations.reserve("7") == 3600.0
    assert isinstance(await second.room_creations.reserve("8"), Counted)


# -- the same answers as one process --------------------------------------------------------

_step = st.tuples(
    st.sampled_from(["login", "login", "login", "resume_failed", "blocked"]),
    st.integers(0, 1),  # which process
    st.sampled_from(["192.0.2.1", "192.0.2.2"]),
    st.sampled_from(["alice", "bob"]),
    st.sampled_from([False, False, True, None]),  # the verdict of a login let through
    st.sampled_from([0.0, 0.0, 0.4, 1.5, 7.0]),  # time passing before the step
)


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(_step, max_size=25))
def test_two_processes_answer_as_one_process_would(redis_process: RedisServer, steps: list[tuple]) -> None:  # type: ignore[type-arg]
    """Any sequence of logins (with their verdicts), bad tokens and questions, spread over two
    processes, is answered exactly as one process's in-memory throttle answers it."""
    redis_process.flush()

    async def run() -> None:
        clock = Clock()
        cfg = config(
            redis_process,
            login_failures_per_account=2,
            login_failures_per_address=3,
            login_delay_max=8.0,
            login_failure_decay=5.0,
        )
        shared = processes(cfg, clock)
        one = LoginThrottle(cfg, clock)
        try:
            for kind, process, address, account, verdict, passing in steps:
                clock.now += passing
                limits = shared[process]
                if kind == "login":
                    expected = one.reserve_now(address, account)
                    got = await limits.logins.reserve(address, account)
                    assert isinstance(got, Attempt) == isinstance(expected, Attempt)
                    if isinstance(expected, Attempt):
                        assert isinstance(got, Attempt)
                        one.settle_now(expected, verdict)
                        await limits.logins.settle(got, verdict)
                    else:
                        assert got == pytest.approx(expected, abs=1e-6)
                elif kind == "resume_failed":
                    await one.failed(address)
                    await limits.logins.failed(address)
                else:
                    expected_wait = await one.blocked(address)
                    assert await limits.logins.blocked(address) == pytest.approx(expected_wait, abs=1e-6)
        finally:
            for limits in shared:
                await limits.close()

    asyncio.run(run())


# -- connections ------------------------------------------------------------------------------


def capacity(
    limits: SharedLimits, per_address: int = 3, per_network: int = 100
) -> shared_seats.SharedCapacity:
    seats = limits.capacity(
        total=1000, per_address=per_address, per_network=per_network, ipv4_prefix=24, ipv6_prefix=64
    )
    assert isinstance(seats, shared_seats.SharedCapacity)
    return seats


async def seat(seats: shared_seats.SharedCapacity, address: str) -> Seat | Limit:
    """A seat as the listener takes one: here, then confirmed with the other processes."""
    taken = seats.take(address)
    if isinstance(taken, Limit):
        return taken
    refused = await seats.confirm(taken)
    if refused is not None:
        seats.give_back(taken)
        return refused
    return taken


async def test_connections_per_address_are_counted_once_across_processes(
    redis_server: RedisServer, close_later: list[SharedLimits]
) -> None:
    first, second = close_later[:] = processes(config(redis_server), Clock())
    a, b = capacity(first), capacity(second)
    held = [await seat(a, "192.0.2.1"), await seat(a, "192.0.2.1"), await seat(b, "192.0.2.1")]
    assert all(isinstance(s, Seat) for s in held)
    assert await seat(b, "192.0.2.1") is Limit.ADDRESS
    assert isinstance(await seat(b, "192.0.2.2"), Seat), "another address"
    first_seat = held[0]
    assert isinstance(first_seat, Seat)
    a.give_back(first_seat)
    assert isinstance(await seat(a, "192.0.2.1"), Seat), "a seat given back is free for any process"


async def test_concurrent_connections_on_two_processes_get_exactly_the_limit(
    redis_server: RedisServer, close_later: list[SharedLimits]
) -> None:
    first, second = close_later[:] = processes(config(redis_server), Clock())
    a, b = capacity(first, per_address=5), capacity(second, per_address=5)
    results = await asyncio.gather(*(seat(a if n % 2 else b, "192.0.2.9") for n in range(12)))
    assert sum(isinstance(r, Seat) for r in results) == 5


async def test_connections_per_network_are_counted_once_across_processes(
    redis_server: RedisServer, close_later: list[SharedLimits]
) -> None:
    first, second = close_later[:] = processes(config(redis_server), Clock())
    a, b = capacity(first, per_network=2), capacity(second, per_network=2)
    assert isinstance(await seat(a, "192.0.2.1"), Seat)
    assert isinstance(await seat(b, "192.0.2.2"), Seat)
    assert await seat(b, "192.0.2.3") is Limit.NETWORK
    assert isinstance(await seat(b, "198.51.100.3"), Seat)


async def test_a_dead_process_connections_stop_counting_when_its_key_expires(
    redis_server: RedisServer, close_later: list[SharedLimits], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_seats, "TTL", 1.0)
    first, second = close_later[:] = processes(config(redis_server), Clock())
    a, b = capacity(first), capacity(second)
    for _ in range(3):
        assert isinstance(await seat(a, "192.0.2.1"), Seat)
    assert await seat(b, "192.0.2.1") is Limit.ADDRESS
    for task in a._tasks:  # the process dies: nothing refreshes or deletes its hash
        task.cancel()
    # Within the TTL (and the refusal remembered here) the address gets a seat on the other process.
    async with asyncio.timeout(5):
        while not isinstance(await seat(b, "192.0.2.1"), Seat):
            await asyncio.sleep(0.2)


async def test_without_redis_connections_and_logins_fall_back_to_each_process_count(
    redis_server: RedisServer, close_later: list[SharedLimits], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    cfg = config(redis_server, login_failures_per_account=2)
    first, second = close_later[:] = processes(cfg, clock)
    a, b = capacity(first, per_address=2), capacity(second, per_address=2)
    assert isinstance(await seat(a, "192.0.2.1"), Seat)
    redis_server.stop()
    try:
        with caplog.at_level(logging.WARNING):
            # Fail open: the other process's connection is not seen, this process's own limit holds.
            assert isinstance(await seat(b, "192.0.2.1"), Seat)
            assert isinstance(await seat(b, "192.0.2.1"), Seat)
            assert await seat(b, "192.0.2.1") is Limit.ADDRESS
            await fail(second, "192.0.2.1", "carol")
            await fail(second, "192.0.2.1", "carol")
            assert await second.logins.reserve("192.0.2.1", "carol") == 1.0, "the local count stands"
        assert "event=limits_unshared" in caplog.text
    finally:
        redis_server.start()
    # Redis is back (empty): each process writes its connections again, and they count across:
    # a third process finds no room for the address (1 on the first, 2 on the second).
    third = SharedLimits(cfg, "node2", clock=clock, local_clock=clock)
    close_later.append(third)
    c = capacity(third, per_address=2)
    async with asyncio.timeout(8):
        while not await refused(c, "192.0.2.1"):
            await asyncio.sleep(0.3)


async def refused(seats: shared_seats.SharedCapacity, address: str) -> bool:
    """Whether a connection from ``address`` would be refused now (a seat it got is given back)."""
    got = await seat(seats, address)
    if isinstance(got, Seat):
        seats.give_back(got)
        return False
    return True
