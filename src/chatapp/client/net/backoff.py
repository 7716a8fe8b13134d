"""How long to wait before the next reconnect attempt: exponential backoff with jitter."""

from __future__ import annotations

import dataclasses
import random


@dataclasses.dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter for reconnect attempts.

    The n-th wait (n = failures so far, from 0) is ``min(maximum, initial *
    factor**n)`` shortened by a random fraction of up to ``jitter``, so many
    clients cut off at once do not come back at the same instant.
    """

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.5

    def delay(self, failures: int, rng: random.Random) -> float:
        raw = min(self.maximum, self.initial * self.factor ** min(failures, 64))
        return raw * (1.0 - self.jitter * rng.random())
