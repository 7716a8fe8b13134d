"""The one place time comes from, so tests and logs agree on it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def wire_timestamp(moment: datetime) -> str:
    """UTC in ISO 8601 with milliseconds and a ``Z``, as frames carry it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_wire_timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


monotonic = time.monotonic
