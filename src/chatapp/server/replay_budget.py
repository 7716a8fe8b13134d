"""How many missed messages one account may be replayed per unit of time.

A ``resume`` with ``last_id: 0`` needs no password and replays up to
``--replay-max`` messages; sent in a loop, it made the server read and send
the same history again and again. Every account has a token bucket of replayed
messages instead: it holds up to ``budget`` and refills at ``budget`` an hour.
A replay takes what it will send from it before it starts (so two at once
cannot both spend the same tokens) and gives back what it did not send. When
the bucket cannot pay for everything missed, the replay keeps the newest
messages and says ``has_more``; the client pages older ones with ``history``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chatapp.clock import monotonic

REFILL_SECONDS = 3600.0
MAX_ACCOUNTS = 100_000
"""Buckets kept at most; past that, full (refilled) ones are forgotten first."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class ReplayBudget:
    def __init__(self, budget: int, clock: Callable[[], float] = monotonic) -> None:
        if budget < 1:
            raise ValueError("the replay budget must be at least 1")
        self.budget = budget
        self._rate = budget / REFILL_SECONDS
        self._clock = clock
        self._buckets: dict[int, _Bucket] = {}

    def take(self, user_id: int, wanted: int) -> int:
        """Take up to ``wanted`` messages from the user's bucket; how many were granted."""
        bucket = self._refilled(user_id)
        granted = max(0, min(wanted, int(bucket.tokens)))
        bucket.tokens -= granted
        return granted

    def give_back(self, user_id: int, unused: int) -> None:
        """Return what a replay took and did not send."""
        if unused > 0:
            bucket = self._refilled(user_id)
            bucket.tokens = min(float(self.budget), bucket.tokens + unused)

    def _refilled(self, user_id: int) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) >= MAX_ACCOUNTS:
                self._forget_full(now)
            bucket = self._buckets[user_id] = _Bucket(float(self.budget), now)
            return bucket
        bucket.tokens = min(float(self.budget), bucket.tokens + (now - bucket.stamp) * self._rate)
        bucket.stamp = now
        return bucket

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is no different from a new one.
        full = [
            user_id
            for user_id, b in self._buckets.items()
            if b.tokens + (now - b.stamp) * self._rate >= self.budget
        ]
        for user_id in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[user_id]
