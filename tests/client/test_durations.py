"""The duration parser of /ban, /mute, /suspend, /smute and /banip: examples and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatapp.client.ui.actions import BadUsage, ModerateUser
from chatapp.client.ui.commands import parse
from chatapp.client.ui.durations import (
    UNITS,
    DurationError,
    looks_like_duration,
    parse_duration,
)
from chatapp.protocol.limits import DURATION_MAX


@pytest.mark.parametrize(
    ("word", "seconds"),
    [("30s", 30), ("10m", 600), ("2h", 7200), ("7d", 604800), ("1w", 604800), ("1h30m", 5400),
     ("2H", 7200), ("90s", 90), ("3650d", 3650 * 86400)],
)
def test_durations_people_type(word: str, seconds: int) -> None:
    assert parse_duration(word) == seconds


@pytest.mark.parametrize(
    ("word", "problem"),
    [("5", "is not a duration"), ("10x", "'x' is not a unit"), ("0s", "is no time at all"),
     ("0m0s", "is no time at all"), ("m5", "is not a duration"), ("1.5h", "is not a duration"),
     ("4000d", "is too long"), ("", "is not a duration"), ("2h ", "is not a duration"),
     ("9999999999999w", "is not a duration")],
)
def test_what_is_not_a_duration_says_why(word: str, problem: str) -> None:
    with pytest.raises(DurationError, match=problem):
        parse_duration(word)


def shortest(seconds: int) -> str:
    """How a person would type ``seconds`` in the fewest characters: 90 -> 1m30s."""
    parts = []
    for unit, size in sorted(UNITS.items(), key=lambda item: -item[1]):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


@given(st.integers(min_value=1, max_value=DURATION_MAX))
def test_every_duration_in_range_can_be_typed(seconds: int) -> None:
    assert parse_duration(shortest(seconds)) == seconds


@given(st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(sorted(UNITS))), min_size=1, max_size=5))
def test_parts_add_up_or_are_refused_with_a_sentence(parts: list[tuple[int, str]]) -> None:
    word = "".join(f"{number}{unit}" for number, unit in parts)
    total = sum(number * UNITS[unit] for number, unit in parts)
    if 1 <= total <= DURATION_MAX:
        assert parse_duration(word) == total
    else:
        with pytest.raises(DurationError):
            parse_duration(word)


@given(st.text(max_size=20))
def test_any_text_is_a_duration_in_range_or_a_duration_error(word: str) -> None:
    try:
        seconds = parse_duration(word)
    except DurationError as exc:
        assert str(exc) and "Traceback" not in str(exc)
    else:
        assert 1 <= seconds <= DURATION_MAX
        assert looks_like_duration(word)


@given(st.text(max_size=12))
def test_a_ban_line_never_sends_a_bad_duration(word: str) -> None:
    """Whatever follows the name: a valid duration, a refusal (nothing sent), or the reason's first word."""
    action = parse(f"/ban bob {word} flooding")
    if isinstance(action, ModerateUser):
        assert action.duration is None or 1 <= action.duration <= DURATION_MAX
    else:
        assert isinstance(action, BadUsage)
