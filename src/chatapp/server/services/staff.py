"""What the administration service works with: who acts (:class:`Actor`), what a running server
does at once (:class:`Live`), the content filter it reloads (:class:`FilterReloader`), and the
checks of the values staff give (reasons, durations, page sizes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from chatapp.clock import wire_timestamp
from chatapp.protocol import ByeReason, ErrorCode, ProtocolError
from chatapp.protocol.limits import ADMIN_PAGE_DEFAULT, ADMIN_PAGE_MAX, DURATION_MAX, REASON_MAX
from chatapp.server.policy import Role
from chatapp.server.services.audit import CONSOLE
from chatapp.server.session import Session
from chatapp.server.store import AccountSanctionRecord, AddressBanRecord


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a signed-in moderator or admin, or the console (chatapp-admin)."""

    name: str
    """The username, or ``console``: what the audit log records."""
    roles: frozenset[Role]
    address: str | None = None
    """Where the actor is connected from (the audit log's ``address``)."""
    user_id: int | None = None
    """The actor's account (None for the console): nobody acts on themselves."""

    @classmethod
    def of(cls, session: Session) -> Actor:
        return cls(session.username, session.roles(), session.peer.address, session.user_id)

    @classmethod
    def console(cls, address: str | None = None) -> Actor:
        return cls(CONSOLE, frozenset({Role.CONSOLE}), address)


class Live(Protocol):
    """What a running server changes at once when the administration acts (:mod:`chatapp.server.live`)."""

    def online_session(self, user_id: int) -> int | None:
        """The id of the session through which the user is online, if any."""
        ...

    def end_sessions(
        self, user_id: int, reason: ByeReason, message: str | None, *, session_id: int | None = None
    ) -> int:
        """Close the user's live connection (only if it holds ``session_id``, when given), saying
        ``bye`` with ``reason`` and ``message``, its token revoked; how many were closed."""
        ...

    def set_role(self, user_id: int, role: str) -> None: ...
    def suspended(self, sanction: AccountSanctionRecord | None, user_id: int) -> None:
        """The account's suspension is now ``sanction`` (None: lifted)."""
        ...

    def muted(self, sanction: AccountSanctionRecord | None, user_id: int) -> None:
        """The account's server-wide mute is now ``sanction`` (None: lifted)."""
        ...

    def address_banned(self, ban: AddressBanRecord, message: str) -> int:
        """Refuse the range from now on and close its connections (``bye`` with ``message``); how
        many were closed."""
        ...

    def address_unbanned(self, network: str) -> None: ...


class FilterReloader(Protocol):
    """The server's content filter, as far as ``reload_filters`` needs it."""

    def reload(self) -> int:
        """Read the filter file again; the number of rules. Raises with a sentence if it is wrong."""
        ...


def reason_of(reason: str | None) -> str | None:
    if reason is None:
        return None
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise ProtocolError(ErrorCode.TEXT_TOO_LONG, f"a reason is at most {REASON_MAX} characters")
    if "\x00" in reason:
        raise ProtocolError(ErrorCode.BAD_FRAME, "a reason must not contain NUL (U+0000)")
    return reason or None


def until_after(duration: int | None, now: datetime) -> datetime | None:
    if duration is None:
        return None
    if not 1 <= duration <= DURATION_MAX:
        raise ProtocolError(
            ErrorCode.BAD_FRAME, f"a duration is 1 to {DURATION_MAX} seconds (absent: until lifted)"
        )
    return now + timedelta(seconds=duration)


def page_limit(limit: int | None) -> int:
    if limit is None:
        return ADMIN_PAGE_DEFAULT
    if not 1 <= limit <= ADMIN_PAGE_MAX:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"limit must be between 1 and {ADMIN_PAGE_MAX}")
    return limit


def stamp(moment: datetime | None) -> str | None:
    return wire_timestamp(moment) if moment is not None else None
