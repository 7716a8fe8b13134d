"""The one place time comes from, so tests and logs agree on it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


_second: int | None = None
_second_text = ""


def wire_timestamp(moment: datetime) -> str:
    """UTC in ISO 8601 with milliseconds and a ``Z``, as frames carry it."""
    global _second, _second_text
    # Every relayed message needs one: format the date and time once per second, not per message.
    second = int(moment.timestamp())
    if second != _second:
        _second_text = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _second = second
    return f"{_second_text}{moment.microsecond // 1000:03d}Z"


def parse_wire_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


monotonic = time.monotonic
