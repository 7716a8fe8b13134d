"""Rate limits: a token bucket for message floods, escalating delays for failed logins,
and a sliding window for account creation.

All take the current monotonic time as an argument instead of reading a clock,
so they are plain data structures that tests drive with made-up times. Maps
keyed by address or account are bounded: stale entries are swept so a flood
of distinct keys cannot grow memory without limit.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass


class TokenBucket:
    """Allows ``burst`` events at once and ``rate`` per second sustained."""

    __slots__ = ("rate", "burst", "_tokens", "_stamp")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> float:
        """Take one token; return 0.0 if allowed, else seconds until one is available."""
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


@dataclass(slots=True)
class _Failures:
    count: int
    blocked_until: float
    last: float


class FailureThrottle:
    """Exponential delay after repeated failures of one key (an account or an address).

    The first ``free`` failures cost nothing; each one after that blocks the key
    for ``base * 2**n`` seconds, capped at ``max_delay`` — never a permanent lock,
    so an attacker cannot lock a real user out for good. Failures are forgotten
    after ``forget_after`` seconds of quiet, or at once on success.
    """

    def __init__(
        self,
        free: int,
        *,
        base: float = 1.0,
        max_delay: float = 900.0,
        forget_after: float = 3600.0,
        max_keys: int = 100_000,
    ) -> None:
        self.free = free
        self.base = base
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.max_keys = max_keys
        self._keys: dict[str, _Failures] = {}

    def retry_after(self, key: str, now: float) -> float:
        """Seconds the key must wait before its next attempt (0.0: go ahead)."""
        entry = self._keys.get(key)
        if entry is None:
            return 0.0
        if now - entry.last > self.forget_after:
            del self._keys[key]
            return 0.0
        return max(0.0, entry.blocked_until - now)

    def failed(self, key: str, now: float) -> None:
        entry = self._keys.get(key)
        if entry is None or now - entry.last > self.forget_after:
            if len(self._keys) >= self.max_keys:
                self._sweep(now)
            entry = self._keys[key] = _Failures(0, 0.0, now)
        entry.count += 1
        entry.last = now
        over = entry.count - self.free
        if over > 0:
            entry.blocked_until = now + min(self.max_delay, self.base * 2 ** min(over - 1, 30))

    def succeeded(self, key: str) -> None:
        self._keys.pop(key, None)

    def _sweep(self, now: float) -> None:
        stale = [
            k for k, e in self._keys.items() if now - e.last > self.forget_after or e.blocked_until <= now
        ]
        for key in stale:
            del self._keys[key]
        if len(self._keys) >= self.max_keys:
            # Still full of live entries: drop the oldest half rather than grow.
            oldest = sorted(self._keys, key=lambda k: self._keys[k].last)[: len(self._keys) // 2]
            for key in oldest:
                del self._keys[key]


class WindowCounter:
    """At most ``limit`` events per key within any ``window`` seconds."""

    def __init__(self, limit: int, window: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, collections.deque[float]] = {}

    def retry_after(self, key: str, now: float) -> float:
        events = self._events.get(key)
        if not events:
            return 0.0
        while events and now - events[0] >= self.window:
            events.popleft()
        if not events:
            del self._events[key]
            return 0.0
        if len(events) < self.limit:
            return 0.0
        return self.window - (now - events[0])

    def add(self, key: str, now: float) -> None:
        if key not in self._events and len(self._events) >= self.max_keys:
            for stale in [k for k, ev in self._events.items() if not ev or now - ev[-1] >= self.window]:
                del self._events[stale]
        self._events.setdefault(key, collections.deque()).append(now)
