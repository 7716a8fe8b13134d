"""Flood control per account, beyond each connection's own send rate.

Two rules, over every connection (and reconnection) of an account:

- the same text again and again: at most ``repeat_limit`` identical messages
  within ``repeat_window`` seconds, to any rooms or people (0: no such rule);
- a message rate of the account (a token bucket): reconnecting does not refill
  it, as it does a connection's own.

Pure bookkeeping over a monotonic clock passed in, in memory: the send path
gains no query. Memory is bounded: an account remembers its last
:data:`TEXTS_KEPT` distinct texts (a spammer alternating among more texts than
that is left to the rate), and accounts idle for a window are swept when the
map is full.
"""

from __future__ import annotations

from collections.abc import Callable

from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.server.ratelimit import TokenBucket

MAX_ACCOUNTS = 100_000
"""Accounts tracked at once at most; idle ones are forgotten first."""
TEXTS_KEPT = 8
"""Distinct recent texts remembered per account (by hash)."""


class _Account:
    __slots__ = ("bucket", "texts", "last")

    def __init__(self, bucket: TokenBucket, now: float) -> None:
        self.bucket = bucket
        self.texts: dict[int, list[float]] = {}
        """Hash of a recent text → when it was sent (within the window), least recently sent first."""
        self.last = now


class FloodGuard:
    def __init__(
        self,
        *,
        repeat_limit: int,
        repeat_window: float,
        rate: float,
        burst: int,
        clock: Callable[[], float],
        max_accounts: int = MAX_ACCOUNTS,
    ) -> None:
        self.repeat_limit = repeat_limit
        self.repeat_window = repeat_window
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._max_accounts = max_accounts
        self._accounts: dict[int, _Account] = {}

    def __len__(self) -> int:
        return len(self._accounts)

    def check(self, user_id: int, text: str) -> None:
        """Count one message of the account, or refuse it with ``rate_limited`` (nothing counted)."""
        now = self._clock()
        account = self._accounts.get(user_id)
        if account is None:
            if len(self._accounts) >= self._max_accounts:
                self._sweep(now)
            account = self._accounts[user_id] = _Account(TokenBucket(self._rate, self._burst, now), now)
        key = hash(text)
        times = account.texts.get(key) if self.repeat_limit else None
        if times is not None:
            cutoff = now - self.repeat_window
            while times and times[0] <= cutoff:
                del times[0]
            if len(times) >= self.repeat_limit:
                raise ProtocolError(
                    ErrorCode.RATE_LIMITED,
                    f"you have sent that same message {len(times)} times in the last "
                    f"{self.repeat_window:g} s; say something else, or wait",
                    retry_after=round(times[0] + self.repeat_window - now, 3),
                )
        wait = account.bucket.take(now)
        if wait:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                "your account is sending too fast (over all its connections); slow down",
                retry_after=round(wait, 3),
            )
        account.last = now
        if not self.repeat_limit:
            return
        if times is None:
            times = []
        else:
            del account.texts[key]  # moved to the end: the most recently sent
        times.append(now)
        account.texts[key] = times
        if len(account.texts) > TEXTS_KEPT:
            del account.texts[next(iter(account.texts))]

    def _sweep(self, now: float) -> None:
        # An account idle for a window with a full bucket is the same as a new one: forget it.
        idle = [
            user
            for user, account in self._accounts.items()
            if now - account.last > self.repeat_window and account.bucket.full(now)
        ]
        for user in idle:
            del self._accounts[user]
        if len(self._accounts) >= self._max_accounts:
            # All busy: forget the half least recently active rather than grow without bound.
            by_age = sorted(self._accounts, key=lambda user: self._accounts[user].last)
            for user in by_age[: len(by_age) // 2]:
                del self._accounts[user]
