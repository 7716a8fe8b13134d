"""The limits counted per address and per account: failed logins, registrations, room creations
and connections, in this process's memory (:class:`Counters`).

With ``--redis-url`` the app chooses :class:`chatapp.server.shared_limits.SharedLimits` instead,
which counts the same things once across every process, through Redis, behind the same methods.
The methods are coroutines for that reason; here they never wait.

A reservation counts before the work it limits (argon2, a new room), so a burst of concurrent
attempts cannot all pass the check before any is counted; it is settled (or cancelled) after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chatapp.clock import monotonic
from chatapp.server.capacity import Capacity
from chatapp.server.config import Config
from chatapp.server.ratelimit import FailureThrottle, WindowCounter

REGISTRATION_WINDOW = 3600.0
"""Seconds over which ``--registrations-per-address`` counts."""
ROOM_CREATION_WINDOW = 3600.0
"""Seconds over which ``--room-creations-per-hour`` counts."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """A login attempt counted as pending for its address and account, until settled."""

    address: str
    account: str
    shared: bool = False
    """Whether Redis counted it (with ``--redis-url``, unless Redis was unreachable)."""
    local: bool = True
    """Whether this process's own throttle counted it as pending (with Redis, Redis decides and
    this process's count only follows, to be the floor should Redis become unreachable)."""


@dataclass(frozen=True, slots=True)
class Counted:
    """An event counted in a window, until cancelled."""

    key: str
    stamp: float
    member: str = ""
    """Its name in Redis ('' when Redis did not count it)."""


class LoginThrottle:
    """Failed logins per address and per account (:class:`~chatapp.server.ratelimit.FailureThrottle`).

    An account blocked by failures still lets an attempt from a *clean* address (no failures,
    nothing in flight) be verified: its owner is never locked out by someone guessing from
    elsewhere. A wrong password from there counts for both, so the address is clean no more.
    """

    def __init__(self, config: Config, clock: Callable[[], float] = monotonic) -> None:
        self._clock = clock
        self.by_account = FailureThrottle(
            config.login_failures_per_account,
            max_delay=config.login_delay_max,
            decay=config.login_failure_decay,
        )
        self.by_address = FailureThrottle(
            config.login_failures_per_address,
            max_delay=config.login_delay_max,
            decay=config.login_failure_decay,
        )

    async def reserve(self, address: str, account: str) -> Attempt | float:
        """The attempt, counted as pending for both; or the seconds to wait (nothing counted)."""
        return self.reserve_now(address, account)

    def reserve_now(self, address: str, account: str) -> Attempt | float:
        now = self._clock()
        clean = self.by_address.is_clean(address, now)
        wait = self.by_address.reserve(address, now)
        if not wait:
            wait = self.by_account.reserve(account, now, past_block=clean)
            if wait:
                self.by_address.release(address, now)
        return wait if wait else Attempt(address, account)

    async def settle(self, attempt: Attempt, verdict: bool | None) -> None:
        """``verdict``: False a wrong password (a failure for both), True the right one (the
        account's failures forgiven), None no verdict (an error: not counted)."""
        self.settle_now(attempt, verdict)

    def settle_now(self, attempt: Attempt, verdict: bool | None) -> None:
        now = self._clock()
        if verdict is False:
            self.by_address.failed(attempt.address, now)
            self.by_account.failed(attempt.account, now)
            return
        self.by_address.release(attempt.address, now)
        if verdict:
            self.by_account.succeeded(attempt.account, now)
        else:
            self.by_account.release(attempt.account, now)

    async def blocked(self, address: str) -> float:
        """Seconds the address is blocked for (0.0: not blocked)."""
        return self.by_address.retry_after(address, self._clock())

    async def failed(self, address: str) -> None:
        """A failure of the address that was never reserved (a resume token that is no good)."""
        self.by_address.failed(address, self._clock(), reserved=False)


class Window:
    """At most ``limit`` events per key within any ``window`` seconds
    (:class:`~chatapp.server.ratelimit.WindowCounter`)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self.counter = WindowCounter(limit, window)

    async def reserve(self, key: str) -> Counted | float:
        """The event, counted; or the seconds until the key has room (nothing counted)."""
        return self.reserve_now(key)

    def reserve_now(self, key: str) -> Counted | float:
        now = self._clock()
        wait = self.counter.reserve(key, now)
        return wait if wait else Counted(key, now)

    async def cancel(self, counted: Counted) -> None:
        """Take back an event: the work it counted did not happen."""
        self.counter.cancel(counted.key, counted.stamp)


class Counters:
    """Every limit per address and per account, counted by this process alone."""

    def __init__(self, config: Config, clock: Callable[[], float] = monotonic) -> None:
        self.logins = LoginThrottle(config, clock)
        self.registrations = Window(config.registrations_per_address, REGISTRATION_WINDOW, clock)
        self.room_creations = Window(config.room_creations_per_hour, ROOM_CREATION_WINDOW, clock)

    def capacity(
        self, *, total: int, per_address: int, per_network: int, ipv4_prefix: int, ipv6_prefix: int
    ) -> Capacity:
        """The connection limits' bookkeeping (the listener's)."""
        return Capacity(
            total=total,
            per_address=per_address,
            per_network=per_network,
            ipv4_prefix=ipv4_prefix,
            ipv6_prefix=ipv6_prefix,
        )

    async def start(self) -> None:
        """Nothing to start in one process."""

    async def close(self) -> None:
        """Nothing to close in one process."""
