"""The sentences the client says: answers to requests, refusals, goodbyes. Pure functions, no I/O.

Codes from the server become sentences for a person (``rate_limited`` with
``retry_after`` 42.2 reads "Too many attempts; please try again in 43
seconds."); everything quoted from the server is sanitised. The chat screen
and line mode say the same thing the same way through these.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

from chatapp.protocol import (
    ByeReason,
    ErrorCode,
    OnlineUser,
    Presence,
    RoomInfo,
    SessionInfo,
    UserInfo,
)

from ..net.events import SendFailed, SessionEnded
from .lines import parse_timestamp, room_label
from .modsentences import until_phrase
from .sanitize import sanitize, split_text
from .width import width


def plural(count: int, noun: str) -> str:
    """``1 message``, ``3 messages``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


_PRESENCE: dict[str, tuple[str, str]] = {
    "join": ("{name} joined #{room}", "join"),
    "leave": ("{name} left #{room}", "leave"),
    "online": ("{name} is online", "join"),
    "offline": ("{name} went offline", "leave"),
    "away": ("{name} is away", "leave"),
    "back": ("{name} is back", "join"),
}


def presence_text(event: Presence) -> tuple[str, str]:
    """A presence event as a sentence and the level of its system line (``join`` or ``leave``)."""
    template, level = _PRESENCE.get(event.event, ("{name}: " + sanitize(str(event.event)), "info"))
    text = template.format(name=sanitize(event.username), room=sanitize(event.room))
    if event.event == "away" and event.text:
        text += f": {sanitize(event.text)}"
    return text, level


def local_time(when: datetime, tz: tzinfo | None, now: datetime) -> str:
    """``today at 14:02``, ``yesterday at 09:30`` or ``2026-11-20 14:02``, in the given zone."""
    local, today = when.astimezone(tz), now.astimezone(tz).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"today at {clock}"
    if (today - local.date()).days == 1:
        return f"yesterday at {clock}"
    return local.strftime("%Y-%m-%d %H:%M")


def user_info_text(info: UserInfo, *, tz: tzinfo | None, now: datetime, me: str | None = None) -> str:
    """The answer to ``/whois`` (or ``/profile``: ``me``'s own, without rooms in common) as lines of text."""
    name = sanitize(info.username)
    if info.online:
        state = "online"
        if info.away:
            state += f", away: {sanitize(info.away)}"
    else:
        seen = parse_timestamp(info.last_seen) if info.last_seen else None
        state = f"offline, last seen {local_time(seen, tz, now)}" if seen else "offline, never seen online"
    since = parse_timestamp(info.member_since)
    lines = [f"{name} is {state}."]
    if info.display_name:
        lines.append(f"Display name: {sanitize(info.display_name)}")
    if info.role:
        lines.append(f"Server role: {sanitize(info.role)}.")
    if info.bio:  # a bio may have a few lines: each its own continuation line
        lines.append("Bio: " + "\n".join(split_text(info.bio)))
    if since is not None:
        lines.append(f"Member since {since.astimezone(tz).strftime('%Y-%m-%d')}.")
    if me is not None and info.username.casefold() == me.casefold():
        pass
    elif info.rooms_in_common:
        lines.append("Rooms in common: " + ", ".join(room_label(r) for r in info.rooms_in_common) + ".")
    else:
        lines.append("No rooms in common.")
    return "\n".join(lines)


def who_text(room: str, users: Sequence[OnlineUser]) -> str:
    """The answer to ``/who``: one line, everyone online in the room, away messages included."""
    if not users:
        return f"Nobody is online in {room_label(room)}."
    names = [
        role_mark(user.role) + sanitize(user.username) + (" (owner)" if user.role == "owner" else "")
        + (f" (away: {sanitize(user.away)})" if user.away else "")
        for user in users
    ]
    legend = "; @ = owner or operator" if any(user.role for user in users) else ""
    return f"Online in {room_label(room)} ({len(users)}{legend}): " + ", ".join(names)


def role_mark(role: str | None) -> str:
    """``@`` before the name of a room's owner or operator, as IRC clients show channel operators."""
    return "@" if role in ("owner", "operator") else ""


def room_list_text(rooms: Sequence[RoomInfo]) -> str:
    """The answer to ``/rooms``: a line per room with its counts and topic (yours marked ``*``)."""
    if not rooms:
        return "There are no rooms yet; /join NAME creates one."
    labels = [room_label(room.name) for room in rooms]
    counts = [f"{plural(room.members, 'member')}, {room.online} online" for room in rooms]
    label_width = max(width(label) for label in labels)
    count_width = max(len(count) for count in counts)
    private = "; (private) = invited users only" if any(room.private for room in rooms) else ""
    lines = [f"Rooms ({len(rooms)}; * = you are in it{private}):"]
    for room, label, count in zip(rooms, labels, counts, strict=True):
        mark = "*" if room.joined else " "
        topic = ("  (private)" if room.private else "") + (f"  {sanitize(room.topic)}" if room.topic else "")
        pad = " " * (label_width - width(label))
        lines.append(f"{mark} {label}{pad}  {count:<{count_width}}{topic}".rstrip())
    return "\n".join(lines)


def session_list_text(
    sessions: Sequence[SessionInfo], *, tz: tzinfo | None, now: datetime, user: str | None = None
) -> str:
    """The answer to ``/sessions`` (or, with ``user``, ``/sessions NAME``): a line per session."""
    if user is not None:
        whose = sanitize(user)
        if not sessions:
            return f"{whose} has no sessions that can still be used."
        lines = [f"Sessions of {whose} ({len(sessions)}; /disconnect {whose} ID closes one):"]
    elif not sessions:
        return "You have no sessions that can still be used."
    else:
        lines = [f"Your sessions ({len(sessions)}; /endsession ID signs one out):"]
    width = max(len(str(info.id)) for info in sessions)
    for info in sessions:
        created = parse_timestamp(info.created)
        seen = parse_timestamp(info.last_seen)
        since = local_time(created, tz, now) if created else sanitize(info.created)
        last = local_time(seen, tz, now) if seen else sanitize(info.last_seen)
        if info.current:
            state = "this one"
        elif info.connected:
            state = "connected"
        else:
            state = f"last seen {last}"
        lines.append(f"  {info.id:>{width}}  {sanitize(info.address)}, signed in {since}; {state}")
    return "\n".join(lines)


# -- sentences for codes ----------------------------------------------------------


def wait_phrase(seconds: float) -> str:
    """``"in 5 seconds"``, ``"in 1 minute"``, ``"in 3 minutes"``."""
    whole = max(1, math.ceil(seconds))
    if whole < 90:
        return f"in {whole} second{'s' if whole != 1 else ''}"
    minutes = math.ceil(whole / 60)
    return f"in {minutes} minute{'s' if minutes != 1 else ''}"


def describe_error(
    code: str, message: str, retry_after: float | None = None, *, until: str | None = None,
    tz: tzinfo | None = None, now: datetime | None = None,
) -> str:
    """A refusal from the server as a sentence for the user (server text sanitised).

    ``until`` (with ``banned``, ``muted``, ``suspended``) is when it ends, told
    in the zone ``tz`` ("until 14:05" when that is today, ``now``'s day).
    """
    detail = sanitize(message).strip().rstrip(".")
    moderated = _moderation_error(code, detail, until_phrase(until, tz, now or datetime.now(UTC)))
    if moderated is not None:
        return moderated
    if code == ErrorCode.AUTH_FAILED:
        return "Wrong username or password."
    if code == ErrorCode.USERNAME_TAKEN:
        return "That username is already taken; please choose another one."
    if code == ErrorCode.WEAK_PASSWORD:
        return f"That password is not accepted: {detail}." if detail else "That password is not accepted."
    if code == ErrorCode.INVALID_USERNAME:
        return f"That username is not valid: {detail}." if detail else "That username is not valid."
    if code == ErrorCode.RATE_LIMITED:
        if retry_after is not None and retry_after > 0:
            return f"Too many attempts; please try again {wait_phrase(retry_after)}."
        return "Too many attempts; please wait a little and try again."
    if code == ErrorCode.ALREADY_LOGGED_IN:
        frozen = ""
        if retry_after is not None and retry_after > 0:  # how long the server keeps a silent session
            frozen = f" (if it is frozen, the server ends it by itself {wait_phrase(retry_after)})"
        return f"This account is already signed in somewhere else{_signed_in_where(detail)}; " \
            f"sign out there, or take that session over{frozen}."
    if code == ErrorCode.NO_SUCH_SESSION:
        return "You have no such session (or it is already over); /sessions lists them."
    if code == ErrorCode.INVALID_TOKEN:
        return "Your session has expired; please sign in again."
    if code == ErrorCode.TEXT_TOO_LONG:
        return f"That message is too long: {detail}." if detail else "That message is too long."
    if code == ErrorCode.SERVER_ERROR:
        return "The server could not handle that request; please try again."
    if code == ErrorCode.NOT_IN_ROOM:
        return "You are not in that room; /join it first."
    if code == ErrorCode.NO_SUCH_ROOM:
        return "There is no such room; /rooms lists them."
    if code == ErrorCode.NO_SUCH_USER:
        return "There is no such user."
    if code == ErrorCode.FORBIDDEN:
        return f"You are not allowed to do that: {detail}." if detail else "You are not allowed to do that."
    if code == ErrorCode.TOO_MANY_ROOMS:
        return "You are in too many rooms already; /leave one first."
    if code == ErrorCode.INVALID_ROOM:
        return f"That is not a room name: {detail}." if detail else "That is not a room name."
    if detail:
        return f"The server refused that: {detail} ({sanitize(code)})."
    return f"The server refused that ({sanitize(code)})."


def _moderation_error(code: str, detail: str, until: str) -> str | None:
    """The sentences of the moderation codes (None for any other code)."""
    if code == ErrorCode.BANNED:
        return f"You are banned from that room{until}."
    if code == ErrorCode.MUTED:
        return f"You are muted{until}: you can read but not send."
    if code == ErrorCode.SUSPENDED:
        why = f": {local_times(detail)}" if detail else ""
        return f"This account is suspended{until or ' until a moderator lifts it'}{why}."
    if code == ErrorCode.FILTERED:
        why = f" ({detail})" if detail else ""
        return f"The server's filter does not allow that text{why}."
    if code == ErrorCode.INVITE_ONLY:
        return "That room is private: only invited users may join; ask its owner or an operator."
    if code == ErrorCode.NO_SUCH_MESSAGE:
        return "There is no such message (or it is not yours to remove, or already removed)."
    if code == ErrorCode.INVALID_ADDRESS:
        why = f": {detail}" if detail else ""
        return f"That is not an IPv4 or IPv6 address or CIDR range{why}."
    return None


_TIMESTAMP = re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)")


def local_times(text: str) -> str:
    """The server's ISO 8601 UTC times in a sentence of its own, as local ``YYYY-MM-DD HH:MM``."""

    def local(match: re.Match[str]) -> str:
        when = parse_timestamp(match.group(0))
        return when.astimezone().strftime("%Y-%m-%d %H:%M") if when else match.group(0)

    return _TIMESTAMP.sub(local, text)


_WHERE = re.compile(r"\bfrom (\S+) since (\S+?)[;,.]?(?:\s|$)")


def _signed_in_where(detail: str) -> str:
    """`` (from ADDRESS since LOCAL TIME)`` as the server's refusal tells it, or nothing."""
    match = _WHERE.search(detail)
    if match is None:
        return ""
    since = parse_timestamp(match.group(2))
    when = since.astimezone().strftime("%Y-%m-%d %H:%M") if since else match.group(2)
    return f" (from {match.group(1)} since {when})"


def describe_refusal(
    code: str,
    message: str,
    retry_after: float | None = None,
    *,
    action: str | None = None,
    room: str | None = None,
    user: str | None = None,
    until: str | None = None,
    tz: tzinfo | None = None,
    now: datetime | None = None,
) -> str:
    """A refused request as a sentence that names what it was about.

    ``action`` is the request (``send``, ``join``, ``topic``, ``who``, ``history``,
    ``whois``, ``dm``, ...), ``room`` and ``user`` what it named. Without them
    this is :func:`describe_error`.
    """
    where = room_label(room) if room else None
    name = sanitize(user) if user else None
    if code == ErrorCode.NOT_IN_ROOM and where:
        return f"You are not in {where}; /join {sanitize(room or '')} first."
    if code == ErrorCode.NO_SUCH_ROOM and where:
        created = sanitize(room or "")
        return f"There is no room {where}; /rooms lists them, /join -create {created} creates it."
    if code == ErrorCode.NO_SUCH_USER and name:
        return f"There is no user named {name}."
    if code == ErrorCode.FORBIDDEN and action == "topic" and where:
        return f"Only the owner and operators of {where} can set its topic."
    ends = until_phrase(until, tz, now or datetime.now(UTC))
    if code == ErrorCode.BANNED and where:
        return f"You are banned from {where}{ends}."
    if code == ErrorCode.MUTED and where:
        return f"You are muted in {where}{ends}: you can read but not send."
    if code == ErrorCode.INVITE_ONLY and where:
        return f"{where} is private: only invited users may join; ask its owner or an operator for /invite."
    if code == ErrorCode.NO_SUCH_SESSION and action == "admin" and name:
        return f"{name} has no such session (or it is already over); /sessions {name} lists them."
    if code == ErrorCode.FORBIDDEN and action in MODERATION_REQUESTS:
        why = sanitize(message).strip().rstrip(".")
        return f"You may not do that{' in ' + where if where else ''}: {why}." if why else \
            f"You may not do that{' in ' + where if where else ''}."
    if action == "passwd" and code in (ErrorCode.AUTH_FAILED, ErrorCode.FORBIDDEN):
        return "The current password is not right; your password is unchanged. /passwd to try again."
    if code == ErrorCode.RATE_LIMITED and action == "join":
        when = wait_phrase(retry_after) if retry_after else "later"
        return f"You have created many rooms lately; try again {when}."
    if code == ErrorCode.RATE_LIMITED and action in ("send", "dm"):
        when = wait_phrase(retry_after) if retry_after else "in a moment"
        return f"You are sending too fast; try again {when}."
    return describe_error(code, message, retry_after, until=until, tz=tz, now=now)


MODERATION_REQUESTS = frozenset({
    "moderate", "room_mode", "delete_room", "delete_message", "sanctions", "admin", "user_sessions", "users",
    "address_bans", "audit",
})
"""Requests a ``forbidden`` answer is told for as "You may not do that" (with the server's reason)."""


_BYE_SENTENCES: dict[str, str] = {
    ByeReason.QUIT: "You left the chat.",
    ByeReason.SHUTDOWN: "The server is shutting down.",
    ByeReason.SEND_QUEUE_EXCEEDED: (
        "The server disconnected this client because it could not keep up with the messages."
    ),
    ByeReason.REPLACED: "You signed in from somewhere else, so this session was closed.",
    ByeReason.AUTH_TIMEOUT: "The server closed the connection because signing in took too long.",
    ByeReason.TOO_MANY_INVALID: "The server closed the connection after too many invalid requests.",
    ByeReason.TOO_MANY_UNAUTHENTICATED: (
        "The server closed the connection: too many requests before signing in."
    ),
    ByeReason.IDLE_TIMEOUT: "The server closed the connection because it was idle for too long.",
    ByeReason.TOO_MANY_CONNECTIONS: (
        "The server refused the connection: too many connections from your address."
    ),
    ByeReason.TOO_MANY_FROM_NETWORK: (
        "The server refused the connection: too many connections from your network."
    ),
    ByeReason.SERVER_FULL: "The server is full; try again later.",
    ByeReason.CLIENT_CLOSED: "The connection was closed from this side.",
    ByeReason.KICKED: "You were removed from the chat by the server's operator.",
    ByeReason.SESSION_ENDED: "This session was ended (/endsession), so it is signed out.",
    ByeReason.SUSPENDED: "Your account was suspended.",
    ByeReason.DISCONNECTED: "A moderator disconnected this session.",
    ByeReason.ADDRESS_BANNED: "The server refuses connections from your address.",
}


def describe_bye(reason: str, message: str | None = None) -> str:
    """Why the server closed the connection, as a sentence; ``message`` is the server's own sentence."""
    known = _BYE_SENTENCES.get(reason)
    said = local_times(sanitize(message or "").strip())
    if said:
        said = " " + said[0].upper() + said[1:] + ("" if said.endswith((".", "!", "?")) else ".")
    if known is not None:
        return known + said
    return f"The server closed the connection ({sanitize(reason)}).{said}"


def describe_link_down(bye: str | None, error: str | None, message: str | None = None) -> str:
    """Why the connection was lost: the server's reason (and its sentence), or the network error."""
    if bye:
        return describe_bye(bye, message)
    return f"Connection lost: {sanitize(error or 'closed by the server')}."


def send_refusal(event: SendFailed, *, tz: tzinfo | None = None, now: datetime | None = None) -> str:
    """Why the server refused a message, naming its room or recipient."""
    error, outgoing = event.error, event.outgoing
    return describe_refusal(
        error.code, error.message, error.retry_after,
        action="dm" if outgoing.to else "send", room=outgoing.room, user=outgoing.to, until=error.until,
        tz=tz, now=now,
    )


def why_ended(event: SessionEnded) -> str | None:
    """Why the session is over (a refusal, or the server's goodbye); None when the program closed it."""
    if event.refused is not None:
        return sanitize(event.refused).rstrip(".") + "."
    if event.error is not None:
        return describe_error(event.error.code, event.error.message, event.error.retry_after,
                              until=event.error.until)
    if event.bye is not None:
        return describe_bye(event.bye, event.bye_message)
    return None


def not_sent(count: int) -> str:
    """``3 messages were not sent`` (no full stop: line mode prints it as a note)."""
    return f"{count} message{'s were' if count != 1 else ' was'} not sent"
