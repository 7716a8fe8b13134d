"""Value rules shared by server (which enforces them) and client (which checks early).

Each check raises :class:`ProtocolError` with the code a peer would see, so a
client can refuse bad input locally with the same words the server would use.
"""

from __future__ import annotations

import re

from .errors import ErrorCode, ProtocolError
from .limits import (
    AWAY_MAX,
    HISTORY_PAGE_DEFAULT,
    HISTORY_PAGE_MAX,
    MAX_TEXT_CHARS,
    NONCE_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    REASON_MAX,
    ROOM_MAX,
    TOPIC_MAX,
    USERNAME_MAX,
    USERNAME_MIN,
)

_USERNAME = re.compile(rf"[A-Za-z0-9_.-]{{{USERNAME_MIN},{USERNAME_MAX}}}")
_ROOM = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{ROOM_MAX - 1}}}")


def username_key(username: str) -> str:
    """The form under which usernames are unique: ``Alice`` and ``alice`` are one account."""
    return username.lower()


def check_username(username: str) -> None:
    if _USERNAME.fullmatch(username) is None:
        raise ProtocolError(
            ErrorCode.INVALID_USERNAME,
            f"usernames are {USERNAME_MIN} to {USERNAME_MAX} characters of letters, digits, '_', '.' and '-'",
        )


def check_password(username: str, password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ProtocolError(
            ErrorCode.WEAK_PASSWORD,
            f"passwords are {PASSWORD_MIN} to {PASSWORD_MAX} characters long",
        )
    if password.lower() == username.lower():
        raise ProtocolError(ErrorCode.WEAK_PASSWORD, "the password must not be the username")


def check_room(room: str) -> None:
    if _ROOM.fullmatch(room) is None:
        raise ProtocolError(
            ErrorCode.INVALID_ROOM,
            f"room names are 1 to {ROOM_MAX} lowercase letters, digits, '_' and '-', "
            "starting with a letter or digit",
        )


# U+0000: PostgreSQL's text types cannot hold it, so no stored text may carry it (on every
# database alike: a server must not accept on SQLite what it would fail on PostgreSQL).
_NUL = "\x00"


def _check_no_nul(value: str, what: str) -> None:
    if _NUL in value:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"{what} must not contain the NUL character (U+0000)")


def check_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> None:
    if not text.strip():
        raise ProtocolError(ErrorCode.BAD_FRAME, "message text is empty")
    _check_no_nul(text, "message text")
    if len(text) > max_chars:
        raise ProtocolError(
            ErrorCode.TEXT_TOO_LONG,
            f"message is {len(text)} characters; the limit is {max_chars}",
        )


def check_nonce(nonce: str | None) -> None:
    if nonce is not None and not 0 < len(nonce) <= NONCE_MAX:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"nonce must be 1 to {NONCE_MAX} characters")
    if nonce is not None:
        _check_no_nul(nonce, "a nonce")


def check_topic(topic: str) -> None:
    if len(topic) > TOPIC_MAX:
        raise ProtocolError(ErrorCode.TEXT_TOO_LONG, f"a topic is at most {TOPIC_MAX} characters")
    _check_no_nul(topic, "a topic")


def check_away(text: str | None) -> None:
    if text is not None and len(text) > AWAY_MAX:
        raise ProtocolError(ErrorCode.TEXT_TOO_LONG, f"an away message is at most {AWAY_MAX} characters")
    if text is not None:
        _check_no_nul(text, "an away message")


def check_reason(reason: str | None) -> None:
    """A moderator's reason (a kick, a ban, a deleted room): at most ``REASON_MAX`` characters."""
    if reason is not None and len(reason) > REASON_MAX:
        raise ProtocolError(ErrorCode.TEXT_TOO_LONG, f"a reason is at most {REASON_MAX} characters")
    if reason is not None:
        _check_no_nul(reason, "a reason")


def check_history_limit(limit: int | None) -> int:
    """The page size to use: the default when absent; 1 to the maximum otherwise."""
    if limit is None:
        return HISTORY_PAGE_DEFAULT
    if not 1 <= limit <= HISTORY_PAGE_MAX:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"history pages hold 1 to {HISTORY_PAGE_MAX} messages")
    return limit


def check_caption(text: str, max_chars: int = MAX_TEXT_CHARS) -> None:
    """The text of a message that shares a file: like :func:`check_text`, but it may be empty."""
    if text.strip():
        check_text(text, max_chars)


def check_file_name(name: str) -> None:
    """An uploaded file's name: anything but NUL (a receiving client makes it safe to save)."""
    _check_no_nul(name, "a file name")


def check_upload_target(room: str | None, to: str | None) -> None:
    """``upload_start`` names exactly one of a room and a person."""
    if (room is None) == (to is None):
        raise ProtocolError(ErrorCode.BAD_FRAME, "give one of room and to: an upload is for one")
