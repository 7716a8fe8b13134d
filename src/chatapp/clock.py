"""The one place time comes from, so tests and logs agree on it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


_second: tuple[int, str] = (-1, "")
"""The last second formatted, with its text: one tuple, swapped whole, so the replay's reader
threads and the event loop can share it."""


def wire_timestamp(moment: datetime) -> str:
    """UTC in ISO 8601 with milliseconds and a ``Z``, as frames carry it."""
    global _second
    # Every relayed message needs one: format the date and time once per second, not per message.
    second = int(moment.timestamp())
    cached = _second
    if cached[0] != second:
        cached = _second = (second, moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S."))
    return f"{cached[1]}{moment.microsecond // 1000:03d}Z"


monotonic = time.monotonic
