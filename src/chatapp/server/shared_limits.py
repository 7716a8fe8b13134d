"""The limits per address and per account counted once across every server process, in Redis
(``--redis-url``): failed logins, registrations, room creations, and (:mod:`.shared_seats`)
connections. :class:`SharedLimits` is the :class:`~chatapp.server.throttles.Counters` the app
chooses then; without ``--redis-url`` nothing here runs.

Each check and count is one Lua script (:mod:`.limit_scripts`), atomic in Redis, with the same
rules as the in-memory limiters, so N processes allow what one allows, not N times as much.

Every limit is also still counted in this process's memory, as without Redis: that count is the
floor when Redis cannot be reached. The limits then **fail open** to what each process counts by
itself (logged as ``event=limits_unshared``, at most once per
:data:`~chatapp.server.capacity.REFUSAL_LOG_INTERVAL` seconds). A chat service must not lock
everyone out because its Redis restarts; for that time a client spreading over N processes gets at
most N times the limits, as before they were shared. After a failure Redis is left alone for
:data:`DOWN_FOR` seconds (nobody waits for a timeout twice in a row), then asked again.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from chatapp.clock import monotonic
from chatapp.server import activity
from chatapp.server.capacity import Capacity, LogThrottle
from chatapp.server.config import Config
from chatapp.server.limit_scripts import FAILURES, WINDOW
from chatapp.server.shared_seats import SharedCapacity
from chatapp.server.throttles import (
    REGISTRATION_WINDOW,
    ROOM_CREATION_WINDOW,
    Attempt,
    Counted,
    Counters,
    LoginThrottle,
    Window,
)

log = logging.getLogger("chatapp.limits")

PREFIX = "chatapp:limits:"
TIMEOUT = 1.0
"""Seconds a Redis call may take before the limits go on without it."""
DOWN_FOR = 2.0
"""Seconds Redis is not asked again after a call failed."""
STALE = 60.0
"""Seconds after which a login attempt still pending in Redis is taken for one of a process that
died before settling it (the hashing pool turns callers away long before: passwords.py)."""
FAILURE_BASE = 1.0
"""FailureThrottle's first delay (its default, as Credentials uses it)."""


class SharedLimits(Counters):
    def __init__(
        self,
        config: Config,
        node: str,
        *,
        clock: Callable[[], float] = time.time,
        local_clock: Callable[[], float] = monotonic,
    ) -> None:
        """``node``: this process's id (its connections' hash in Redis is named by it);
        ``clock``: the time shared by the processes (the wall clock; tests pass made-up ones)."""
        self.node = node
        self.clock = clock
        self.client: Any = redis.Redis.from_url(
            config.redis_url,
            socket_connect_timeout=TIMEOUT,
            socket_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 0),  # a failure fails over to the local counts at once
        )
        self._failures = self.client.register_script(FAILURES)
        self._window = self.client.register_script(WINDOW)
        self._down_until = 0.0
        self._log = LogThrottle()
        self._seats: SharedCapacity | None = None
        self.logins: LoginThrottle = SharedLoginThrottle(self, config, local_clock)
        self.registrations: Window = SharedWindow(
            self, "registrations:", config.registrations_per_address, REGISTRATION_WINDOW, local_clock
        )
        self.room_creations: Window = SharedWindow(
            self, "room_creations:", config.room_creations_per_hour, ROOM_CREATION_WINDOW, local_clock
        )

    # -- Redis, or not -------------------------------------------------------------------------

    @property
    def reachable(self) -> bool:
        """False for :data:`DOWN_FOR` seconds after a call failed."""
        return monotonic() >= self._down_until

    def unreachable(self, error: BaseException) -> None:
        """A call failed: count locally for a while (fail open), and say so (rate-limited)."""
        self._down_until = monotonic() + DOWN_FOR
        suppressed = self._log.admit("unshared", monotonic())
        if suppressed is not None:
            activity.record(
                "limits_unshared",
                logging.WARNING,
                error=type(error).__name__,
                detail="Redis unreachable: each process counts the limits by itself meanwhile",
                suppressed=suppressed,
            )

    async def run(self, script: Any, keys: list[str], args: list[str]) -> str | None:
        """A script's answer, or None when Redis did not give one (the caller goes by its local count)."""
        if not self.reachable:
            return None
        try:
            answer = await script(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as error:
            self.unreachable(error)
            return None
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    async def failures(self, keys: list[str], op: str, config: tuple[str, ...], *extra: str) -> str | None:
        return await self.run(self._failures, keys, [op, repr(self.clock()), *config, *extra])

    async def window(self, key: str, *args: str) -> str | None:
        return await self.run(self._window, [key], list(args))

    # -- connections -----------------------------------------------------------------------------

    def capacity(
        self, *, total: int, per_address: int, per_network: int, ipv4_prefix: int, ipv6_prefix: int
    ) -> Capacity:
        """Connections counted per address and per network across every process (the total stays
        this process's own: it stands for this process's file descriptors)."""
        seats = self._seats = SharedCapacity(
            self,
            total=total,
            per_address=per_address,
            per_network=per_network,
            ipv4_prefix=ipv4_prefix,
            ipv6_prefix=ipv6_prefix,
        )
        return seats

    async def close(self) -> None:
        if self._seats is not None:
            await self._seats.close()
        await self.client.aclose()


class SharedLoginThrottle(LoginThrottle):
    """Failed logins per address and per account: Redis decides (one script does what
    :meth:`LoginThrottle.reserve_now` does), this process's own throttle follows."""

    def __init__(self, shared: SharedLimits, config: Config, local_clock: Callable[[], float]) -> None:
        super().__init__(config, local_clock)
        self._shared = shared
        self._config = (
            str(config.login_failures_per_address),
            str(config.login_failures_per_account),
            repr(FAILURE_BASE),
            repr(config.login_delay_max),
            repr(config.login_failure_decay),
            repr(STALE),
        )

    @staticmethod
    def _keys(address: str, account: str) -> list[str]:
        return [PREFIX + "login:address:" + address, PREFIX + "login:account:" + account]

    async def reserve(self, address: str, account: str) -> Attempt | float:
        answer = await self._shared.failures(self._keys(address, account), "reserve", self._config)
        if answer is None:
            return self.reserve_now(address, account)  # fail open: this process's count alone
        wait = float(answer)
        if wait:
            return wait
        # Redis decided; this process's count follows (for the floor), where it has room.
        here = self.reserve_now(address, account)
        return Attempt(address, account, shared=True, local=isinstance(here, Attempt))

    async def settle(self, attempt: Attempt, verdict: bool | None) -> None:
        if attempt.local:
            self.settle_now(attempt, verdict)
        elif verdict is False:
            now = self._clock()
            self.by_address.failed(attempt.address, now, reserved=False)
            self.by_account.failed(attempt.account, now, reserved=False)
        if verdict is None and not attempt.shared:
            return  # nothing for Redis to count, nothing pending there
        said = {False: "fail", True: "ok", None: "none"}[verdict]
        keys = self._keys(attempt.address, attempt.account)
        await self._shared.failures(keys, "settle", self._config, said, "1" if attempt.shared else "0")

    async def blocked(self, address: str) -> float:
        keys = self._keys(address, address)[:1] * 2
        answer = await self._shared.failures(keys, "blocked", self._config)
        return float(answer) if answer is not None else await super().blocked(address)

    async def failed(self, address: str) -> None:
        await super().failed(address)
        await self._shared.failures(self._keys(address, address)[:1] * 2, "failed", self._config)


class SharedWindow(Window):
    """Events per key in a sliding window: Redis decides (a sorted set of event times per key),
    this process's own counter follows."""

    def __init__(
        self, shared: SharedLimits, name: str, limit: int, window: float, local_clock: Callable[[], float]
    ) -> None:
        super().__init__(limit, window, local_clock)
        self._shared = shared
        self._prefix = PREFIX + name

    async def reserve(self, key: str) -> Counted | float:
        now = self._shared.clock()
        member = f"{now!r}:{secrets.token_hex(6)}"
        answer = await self._shared.window(
            self._prefix + key, "reserve", repr(now), repr(self.window), str(self.limit), member
        )
        if answer is None:
            return self.reserve_now(key)  # fail open: this process's count alone
        wait = float(answer)
        if wait:
            return wait
        stamp = self._clock()
        self.counter.add(key, stamp)  # this process's count follows (for the floor)
        return Counted(key, stamp, member)

    async def cancel(self, counted: Counted) -> None:
        self.counter.cancel(counted.key, counted.stamp)
        if counted.member:
            await self._shared.window(
                self._prefix + counted.key, "cancel", "0", repr(self.window), str(self.limit), counted.member
            )
