"""Download tickets: a short-lived right for one user to GET one file from the web port.

A ticket is ``USER.EXPIRES.MAC``: the user's id, the expiry (Unix seconds) and an HMAC-SHA256
of the file id, the user id and the expiry, under a key kept in the database
(``server_secrets``), so that any server process sharing the database checks a ticket another
made. It names no session token and is useless for any other file or after it expires; the GET
still checks that the user may read the file then.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

TICKET_SECONDS = 60
SECRET_NAME = "download_tickets"

_TICKET = re.compile(r"([0-9]{1,19})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")


def new_key() -> str:
    """A fresh key, as stored: 32 random bytes in URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Tickets:
    key: bytes

    @classmethod
    def from_stored(cls, value: str) -> Tickets:
        return cls(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))

    def _mac(self, file_id: str, user_id: int, expires: int) -> str:
        message = f"{file_id}\n{user_id}\n{expires}".encode()
        digest = hmac.new(self.key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def issue(self, file_id: str, user_id: int, now: float) -> tuple[str, int]:
        """A ticket for the user and file, and when it expires (Unix seconds)."""
        expires = int(now) + TICKET_SECONDS
        return f"{user_id}.{expires}.{self._mac(file_id, user_id, expires)}", expires

    def check(self, ticket: str, file_id: str, now: float) -> int | None:
        """The user a valid, unexpired ticket for this file was issued to; None otherwise."""
        match = _TICKET.fullmatch(ticket)
        if match is None:
            return None
        user_id, expires = int(match.group(1)), int(match.group(2))
        if expires < now:
            return None
        if not hmac.compare_digest(match.group(3), self._mac(file_id, user_id, expires)):
            return None
        return user_id
