"""Latency summaries: nearest-rank percentiles of nanosecond samples, in milliseconds."""

from __future__ import annotations

import math

import msgspec


class Latency(msgspec.Struct):
    count: int = 0
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None


def percentiles(values: list[int], scale: float = 1e-6) -> Latency:
    """Nearest-rank percentiles of ``values`` (nanoseconds), in milliseconds."""
    if not values:
        return Latency()
    ordered = sorted(values)
    n = len(ordered)

    def rank(q: float) -> float:
        index = max(0, math.ceil(round(q * n, 6)) - 1)
        return round(ordered[min(n - 1, index)] * scale, 3)

    return Latency(count=n, p50=rank(0.50), p90=rank(0.90), p99=rank(0.99), max=round(ordered[-1] * scale, 3))
