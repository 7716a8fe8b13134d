"""An answer of the server as lines for the operator, and the exit code it makes.

What users wrote (display names, reasons) is printed inert: a control
character is shown as its escape, never sent to the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from chatapp.protocol import ClientFrame, Error, Pong, ServerFrame, SessionList
from chatapp.protocol.moderation_frames import (
    AddressBanList,
    Admin,
    AdminDone,
    AuditPage,
    UserList,
)

DONE = 0
REFUSED = 1


@dataclass(frozen=True, slots=True)
class Shown:
    lines: list[str]
    """For stdout when done, for stderr when refused."""
    code: int


def inert(text: str) -> str:
    """``text`` safe for a terminal: control and other unprintable characters as escapes."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def when(stamp: str | None) -> str:
    """A wire timestamp as ``2026-12-05 00:06:01 UTC`` (as it came, if it is not one)."""
    if not stamp:
        return "until lifted"
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return inert(stamp)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def show(request: ClientFrame, answer: ServerFrame) -> Shown:
    if isinstance(answer, Error):
        return Shown([f"refused ({answer.code}): {inert(answer.message)}"], REFUSED)
    if isinstance(answer, AdminDone):
        assert isinstance(request, Admin)
        return Shown(_done(request, answer), DONE)
    if isinstance(answer, UserList):
        return Shown(_users(answer), DONE)
    if isinstance(answer, SessionList):
        return Shown(_sessions(answer), DONE)
    if isinstance(answer, AddressBanList):
        return Shown(_address_bans(answer), DONE)
    if isinstance(answer, AuditPage):
        return Shown(_audit(answer), DONE)
    if isinstance(answer, Pong):
        return Shown(["the server answers"], DONE)
    return Shown([f"unexpected answer from the server: {answer.__struct_config__.tag!r}"], REFUSED)


_ROLES = {"admin": "an admin", "moderator": "a moderator", "user": "an ordinary user"}


def _count(n: int | None, one: str, many: str) -> str:
    n = n or 0
    return f"{n} {one if n == 1 else many}"


def _done(request: Admin, done: AdminDone) -> list[str]:
    user = inert(done.user or request.user or "")
    address = inert(done.address or request.address or "")
    action = done.action
    if action == "promote":
        return [f"{user} is now {_ROLES.get(request.role or 'user', request.role)}"]
    if action == "suspend":
        return [
            f"{user} is suspended {_until(done.until)}; "
            f"{_count(done.count, 'session', 'sessions')} ended"
        ]
    if action == "unsuspend":
        return [f"{user}'s suspension is lifted" if done.count else f"{user} was not suspended"]
    if action == "mute":
        return [f"{user} is muted server-wide {_until(done.until)}"]
    if action == "unmute":
        return [f"{user}'s server-wide mute is lifted" if done.count else f"{user} was not muted"]
    if action == "disconnect":
        return [f"{user}: {_count(done.count, 'session', 'sessions')} ended"]
    if action == "ban_address":
        return [
            f"{address} is banned {_until(done.until)}; "
            f"{_count(done.count, 'connection', 'connections')} closed"
        ]
    if action == "unban_address":
        return [f"the ban of {address} is lifted" if done.count else f"{address} was not banned"]
    if action == "reset_password":
        return [
            f"new password for {user}: {done.password}",
            f"(shown this once: hand it to them; {_count(done.count, 'session', 'sessions')} ended)",
        ]
    if action == "reload_filters":
        return [f"filters reloaded: {_count(done.count, 'rule', 'rules')}"]
    return [f"done: {action} {user or address}".rstrip()]


def _until(stamp: str | None) -> str:
    return "until lifted" if not stamp else f"until {when(stamp)}"


def _users(answer: UserList) -> list[str]:
    if not answer.users:
        return ["no users"]
    lines = []
    for user in answer.users:
        notes = [user.role, f"since {when(user.created)[:10]}"]
        if user.online:
            notes.append("online")
        if user.suspended_until is not None:
            notes.append(f"suspended {_until(user.suspended_until)}")
        name = inert(user.username)
        if user.display_name:
            name += f" ({inert(user.display_name)})"
        lines.append(f"{name}: {', '.join(notes)}")
    if answer.has_more:
        lines.append(f"more: --after {inert(answer.users[-1].username)}")
    return lines


def _sessions(answer: SessionList) -> list[str]:
    user = inert(answer.user or "")
    if not answer.sessions:
        return [f"{user} has no sessions that can be used"]
    lines = []
    for session in answer.sessions:
        state = " (connected)" if session.connected else ""
        lines.append(
            f"session {session.id}{state}: from {inert(session.address)}, "
            f"since {when(session.created)}, last seen {when(session.last_seen)}"
        )
    return lines


def _address_bans(answer: AddressBanList) -> list[str]:
    if not answer.bans:
        return ["no address bans"]
    lines = []
    for ban in answer.bans:
        by = f" by {inert(ban.by)}" if ban.by else ""
        reason = f": {inert(ban.reason)}" if ban.reason else ""
        lines.append(f"{inert(ban.address)} {_until(ban.until)} (since {when(ban.since)}{by}){reason}")
    return lines


def _audit(answer: AuditPage) -> list[str]:
    if not answer.events:
        return ["no audit events"]
    lines = []
    for event in answer.events:
        parts = [f"#{event.id}", when(event.at), inert(event.actor), inert(event.action)]
        if event.target:
            parts.append(inert(event.target))
        if event.room:
            parts.append(f"in #{inert(event.room)}")
        if event.address:
            parts.append(f"from {inert(event.address)}")
        line = " ".join(parts)
        if event.reason:
            line += f": {inert(event.reason)}"
        lines.append(line)
    if answer.has_more:
        lines.append(f"more: --before {answer.events[-1].id}")
    return lines
