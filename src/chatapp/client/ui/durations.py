"""Durations as people type them: ``30s``, ``10m``, ``2h``, ``7d``, ``1w``, or several (``1h30m``). Pure.

A ban, mute or suspension may be given one; the wire carries whole seconds
(1 to :data:`~chatapp.protocol.limits.DURATION_MAX`, ten years). A word that
starts with a digit is taken as a duration, so a mistyped one (``10x``,
``5``) is refused with a sentence instead of becoming the first word of a
reason.
"""

from __future__ import annotations

import re

from chatapp.protocol.limits import DURATION_MAX

UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
"""Seconds per unit: seconds, minutes, hours, days, weeks."""

_PART = re.compile(r"([0-9]{1,12})([a-z])")
_WHOLE = re.compile(r"(?:[0-9]{1,12}[a-z])+")

USAGE = "a duration is a number and a unit: 30s, 10m, 2h, 7d or 1w (or several, as in 1h30m)"


class DurationError(ValueError):
    """Not a duration; the message is a sentence for the user (without a full stop)."""


def looks_like_duration(word: str) -> bool:
    """Whether ``word`` is meant as a duration (it starts with a digit)."""
    return bool(word) and word[0].isascii() and word[0].isdigit()


def parse_duration(word: str) -> int:
    """``word`` in whole seconds, 1 to ten years. Raises :class:`DurationError`."""
    lowered = word.lower()
    if _WHOLE.fullmatch(lowered) is None:
        raise DurationError(f"{word!r} is not a duration: {USAGE}")
    seconds = 0
    for number, unit in _PART.findall(lowered):
        if unit not in UNITS:
            raise DurationError(f"{word!r} is not a duration: {unit!r} is not a unit ({USAGE})")
        seconds += int(number) * UNITS[unit]
    if seconds < 1:
        raise DurationError(f"{word!r} is no time at all: {USAGE}")
    if seconds > DURATION_MAX:
        raise DurationError(
            f"{word!r} is too long: a duration is at most {DURATION_MAX // 86400} days; "
            "leave it out for until lifted"
        )
    return seconds

