"""The activity log's line format: one line per event whatever a peer puts in a value."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from chatapp.server.activity import format_event

BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
FORGERIES = [
    "bob\nevent=login user=admin",
    "bob\r\nevent=login",
    "bob\x85event=login",  # NEL: a line break for str.splitlines and many viewers
    "bob\u2028event=login",
    "bob\u2029event=login",
    "bob\x1c\x1d\x1eevent=login",
    "bob\x9b2J",  # C1 CSI
    "bob\u202eredaeh",
    "\x1b]0;title\x07",
]
_VALUE = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')


def unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        escape = match.group(0)
        if escape[1] in "xu":
            return chr(int(escape[2:], 16))
        return escape[1]

    return re.sub(r"\\x[0-9a-f]{2}|\\u[0-9a-f]{4}|\\.", one, text)


def parse_user(line: str) -> str:
    """The ``user`` value of a line, read back as a log reader would."""
    assert line.startswith("event=failed user=")
    match = _VALUE.match(line, len("event=failed user="))
    assert match is not None
    value = match.group(1) if match.group(1) is not None else match.group(2)
    assert line[match.end() :] == " addr=1.2.3.4:5"
    return unescape(value)


def check_one_line(value: str) -> None:
    line = format_event("failed", {"user": value, "addr": "1.2.3.4:5"})
    assert len(line.splitlines()) == 1
    for char in line:
        assert unicodedata.category(char) not in ("Cc", "Zl", "Zp"), repr(char)
        assert ord(char) not in BIDI, repr(char)
    assert parse_user(line) == value


def test_forged_lines_stay_one_line_and_read_back_exactly() -> None:
    for value in FORGERIES:
        check_one_line(value)


@given(st.text(max_size=80))
def test_any_value_is_one_line_and_reads_back_exactly(value: str) -> None:
    check_one_line(value)
