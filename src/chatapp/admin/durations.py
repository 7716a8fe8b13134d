"""Durations on the command line: a whole number and a unit, ``30s``, ``10m``, ``2h``, ``7d``, ``2w``."""

from __future__ import annotations

import re

from chatapp.protocol.limits import DURATION_MAX

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"([0-9]{1,12})([smhdw])")


def parse_duration(text: str) -> int:
    """Seconds; ``ValueError`` with a sentence if ``text`` is not a duration the server takes."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None:
        raise ValueError(f"{text!r} is not a duration: a whole number and a unit: 30s, 10m, 2h, 7d or 2w")
    seconds = int(found.group(1)) * UNITS[found.group(2)]
    if not 1 <= seconds <= DURATION_MAX:
        raise ValueError(
            f"a duration is from 1s to {DURATION_MAX // 86400}d (ten years); leave it out for 'until lifted'"
        )
    return seconds
