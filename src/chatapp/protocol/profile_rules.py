"""Profile values: a display name and a bio made safe to show, and the form that says two names are one.

Shared by the server (which enforces them) and a client (which may check
early). Sanitising never refuses what it can repair: it normalises to NFKC
(full-width and compatibility forms become plain ones), drops control, format
and bidi characters (so no name can reorder or hide text, or break a line),
drops private-use and unassigned code points, and collapses white space. Only
a result that is too long is refused.
"""

from __future__ import annotations

import unicodedata

from .errors import ErrorCode, ProtocolError
from .limits import BIO_MAX, DISPLAY_NAME_MAX

RAW_MAX = 4096
"""Longest value looked at: anything longer is refused before any Unicode work."""

_DROPPED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
"""Controls, format characters (bidi controls, zero-width joiners ...), surrogates, private use,
unassigned."""


def _clean_line(text: str) -> str:
    """NFKC, without dropped characters, white space runs made one space, stripped."""
    normal = unicodedata.normalize("NFKC", text)
    kept = "".join(
        " " if char.isspace() else char
        for char in normal
        if char.isspace() or unicodedata.category(char) not in _DROPPED
    )
    # Again: a dropped character may have stood between two that NFKC composes.
    return " ".join(unicodedata.normalize("NFKC", kept).split())


def _bounded(value: str, what: str) -> None:
    if len(value) > RAW_MAX:
        raise ProtocolError(ErrorCode.TEXT_TOO_LONG, f"{what} is far too long")


def clean_display_name(value: str) -> str:
    """The display name to store ("" clears it): sanitised, at most ``DISPLAY_NAME_MAX`` characters."""
    _bounded(value, "a display name")
    name = _clean_line(value)
    if len(name) > DISPLAY_NAME_MAX:
        raise ProtocolError(
            ErrorCode.TEXT_TOO_LONG, f"a display name is at most {DISPLAY_NAME_MAX} characters"
        )
    return name


def clean_bio(value: str) -> str:
    """The bio to store ("" clears it): sanitised line by line (its line breaks kept, at most one
    empty line in a row, none at either end), at most ``BIO_MAX`` characters."""
    _bounded(value, "a bio")
    lines: list[str] = []
    for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        clean = _clean_line(line)
        if clean or (lines and lines[-1]):
            lines.append(clean)
    bio = "\n".join(lines).strip("\n")
    if len(bio) > BIO_MAX:
        raise ProtocolError(ErrorCode.TEXT_TOO_LONG, f"a bio is at most {BIO_MAX} characters")
    return bio


def name_key(name: str) -> str:
    """The form in which two names are the same name: NFKC, case-folded (then NFKC again, as case
    folding can leave a form NFKC would change). Usernames are ASCII, so for one this is its key."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
