"""argon2id hashing, always off the event loop and never more at once than there are workers.

Hashing is deliberately slow (tens of milliseconds and 19 MiB per hash with the
OWASP parameters). Run on the event loop it would stall every chat; run without
a bound, a login storm would queue unbounded work and memory. So hashes run in
a dedicated thread pool (argon2's C code releases the GIL) of ``workers``
threads, and callers are turned away as busy once more are waiting than the
workers get through in ``MAX_QUEUE_SECONDS`` (measured: the mean time of the
recent hashes), though never while fewer than ``max_waiting`` are.
With the OWASP parameters that is the ``max_waiting`` floor; with cheap
parameters (tests, benchmarks) a burst of hundreds of sign-ups is queued
rather than told to come back a second later.

Those threads also run at the lowest CPU priority the system offers
(``SCHED_IDLE`` on Linux, else the highest nice value): a login storm then
uses only the CPU that chat traffic leaves over. Logins take longer while the
machine is busy; messages never wait behind a hash.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from chatapp.protocol import ErrorCode, ProtocolError

MAX_QUEUE_SECONDS = 2.0
"""Callers are turned away when those already waiting need longer than this (at least ``max_waiting``)."""
MAX_QUEUED = 4096
"""Callers waiting at most, however fast hashing is."""

T = TypeVar("T")


class PasswordHashing:
    def __init__(
        self,
        *,
        memory_kib: int,
        time_cost: int,
        parallelism: int,
        workers: int,
        max_waiting: int | None = None,
    ) -> None:
        self.hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        self.workers = workers
        self.max_waiting = max_waiting if max_waiting is not None else 64 * workers
        self._executor = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="argon2", initializer=lower_thread_priority
        )
        self._in_flight = 0
        self._mean_seconds = 0.05  # until the first hash (start's) is measured: about the OWASP cost
        self._measured = False
        self._dummy_hash: str | None = None

    async def start(self) -> None:
        # Unknown users are verified against this, so "no such user" costs what "wrong password" costs.
        self._dummy_hash = await self.hash(secrets.token_urlsafe(24))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _admits(self) -> bool:
        waiting = self._in_flight
        if waiting < self.max_waiting:
            return True
        return waiting < MAX_QUEUED and waiting * self._mean_seconds / self.workers < MAX_QUEUE_SECONDS

    def _timed(self, fn: Callable[..., object], *args: str) -> object:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            # A moving mean (in the worker; one float assignment, which the GIL keeps whole).
            took = time.perf_counter() - started
            mean = self._mean_seconds
            self._mean_seconds = mean + (took - mean) / 16 if self._measured else took
            self._measured = True

    async def _run(self, fn: Callable[..., object], *args: str) -> object:
        if not self._admits():
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "the server is busy signing people in; try again", retry_after=1.0
            )
        self._in_flight += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._timed, fn, *args)
        finally:
            self._in_flight -= 1

    async def compute(self, fn: Callable[..., T], *args: Any) -> T:
        """Other CPU work of signing in (a password's strength), in the same bounded pool at the
        same idle priority; not timed with the hashes (whose mean decides who is turned away)."""
        if not self._admits():
            raise ProtocolError(
                ErrorCode.RATE_LIMITED, "the server is busy signing people in; try again", retry_after=1.0
            )
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._in_flight -= 1

    async def hash(self, password: str) -> str:
        result = await self._run(self.hasher.hash, password)
        assert isinstance(result, str)
        return result

    async def verify(self, password_hash: str, password: str) -> bool:
        result = await self._run(self._verify_sync, password_hash, password)
        return result is True

    async def verify_dummy(self, password: str) -> None:
        assert self._dummy_hash is not None, "start() was not awaited"
        await self.verify(self._dummy_hash, password)

    def _verify_sync(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self.hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


def lower_thread_priority() -> None:
    """Give the calling thread the lowest CPU priority available.

    Only on Linux, where both calls below act on the calling thread alone;
    elsewhere they would slow the whole server, so nothing changes there.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, 19)
