"""Where the client gets time from, so tests can control it.

The session measures timeouts, latency and backoff with :meth:`Clock.monotonic`
and waits with :meth:`Clock.sleep`; the screen shows :meth:`Clock.now`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for durations)."""
        ...

    def now(self) -> datetime:
        """The current time, timezone-aware (for display)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
