"""argon2id parameters: production defaults, and old hashes upgraded on login."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.server.config import Config
from chatapp.server.passwords import PasswordHashing
from tests.server.conftest import Dial, ServerFactory
from tests.support.databases import ScratchDatabase


async def test_production_parameters_are_owasp_argon2id() -> None:
    config = Config()
    hashing = PasswordHashing(
        memory_kib=config.argon2_memory_kib,
        time_cost=config.argon2_time_cost,
        parallelism=config.argon2_parallelism,
        workers=config.resolved_hash_workers,
    )
    try:
        digest = await hashing.hash("correct horse battery")
        assert digest.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert await hashing.verify(digest, "correct horse battery")
        assert not await hashing.verify(digest, "wrong horse battery")
        assert not await hashing.verify("not a hash", "correct horse battery")
    finally:
        hashing.close()


def stored_hash(database: ScratchDatabase, username: str) -> str:
    return str(database.scalar("SELECT password_hash FROM users WHERE username = :name", name=username))


async def test_login_upgrades_a_hash_made_with_older_parameters(
    start_server: ServerFactory, dial: Dial, database: ScratchDatabase
) -> None:
    old = await start_server(argon2_memory_kib=8, argon2_time_cost=1)
    client = await dial(old)
    await client.register("upgrader")
    await client.close()
    await old.shutdown()
    assert ",t=1," in stored_hash(database, "upgrader")

    new = await start_server(argon2_memory_kib=16, argon2_time_cost=2)
    client = await dial(new)
    await client.login("upgrader")
    upgraded = stored_hash(database, "upgrader")
    assert "m=16,t=2," in upgraded
    await client.close()
    # The upgraded hash still verifies the same password.
    again = await dial(new)
    await again.login("upgrader")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities are set on Linux only")
async def test_hashing_threads_run_at_idle_priority_and_the_loop_thread_does_not() -> None:
    hashing = PasswordHashing(memory_kib=8, time_cost=1, parallelism=1, workers=1)
    try:
        await hashing.start()

        def policy_and_nice() -> tuple[int, int]:
            return os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)

        loop = asyncio.get_running_loop()
        in_pool = await loop.run_in_executor(hashing._executor, policy_and_nice)
        assert in_pool[0] == os.SCHED_IDLE or in_pool[1] == 19
        assert policy_and_nice()[0] != os.SCHED_IDLE  # only the hashing threads were lowered
    finally:
        hashing.close()


async def test_a_burst_of_cheap_hashes_is_queued_not_turned_away() -> None:
    # With test parameters the workers get through hundreds in well under the queue's time
    # bound: a burst of sign-ups waits its turn instead of being told to come back later.
    hashing = PasswordHashing(memory_kib=8, time_cost=1, parallelism=1, workers=1)
    await hashing.start()
    # What start() measured, fixed: on a loaded machine the lowest-priority hash thread can take far
    # longer than the hash itself, and admission is decided before any of the burst has run.
    hashing._mean_seconds = 0.001
    try:
        hashes = await asyncio.gather(*(hashing.hash(f"password {n}") for n in range(300)))
        assert len(set(hashes)) == 300
    finally:
        hashing.close()


async def test_callers_are_turned_away_when_the_queue_would_take_too_long() -> None:
    hashing = PasswordHashing(memory_kib=8, time_cost=1, parallelism=1, workers=1, max_waiting=2)
    await hashing.start()
    try:
        hashing._mean_seconds = 1.0  # as if each hash took a second: 2 waiting need 2 s already
        outcomes = await asyncio.gather(*(hashing.hash("password") for _ in range(4)), return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, ProtocolError)]
        assert [e.code for e in refused] == [ErrorCode.RATE_LIMITED] * 2
    finally:
        hashing.close()
