"""Moderation and administration as sentences and aligned lists. Pure functions, no I/O.

What a ``room_event`` says ("bob was kicked from #dev by alice: spam"), a
deleted room, the answers of ``sanctions``, ``users``, ``address_bans``,
``audit`` and ``admin``, and the time a sanction ends ("until 14:05" today,
"until 2026-12-07 14:05" otherwise, in the client's zone). Everything quoted
from the server is sanitised.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from chatapp.protocol.moderation_frames import (
    AddressBanList,
    AdminDone,
    AuditPage,
    RoomDeleted,
    RoomEvent,
    SanctionList,
    UserList,
)

from .lines import parse_timestamp, room_label
from .sanitize import sanitize
from .width import width


def when_text(ts: str, tz: tzinfo | None, now: datetime) -> str:
    """``14:05`` today, ``2026-12-07 14:05`` on another day (in the given zone)."""
    when = parse_timestamp(ts)
    if when is None:
        return sanitize(ts)
    local = when.astimezone(tz)
    if local.date() == now.astimezone(tz).date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def until_phrase(until: str | None, tz: tzinfo | None, now: datetime) -> str:
    """`` until 14:05``, or nothing for a sanction that lasts until it is lifted."""
    return f" until {when_text(until, tz, now)}" if until else ""


def _reason(reason: str | None) -> str:
    text = sanitize(reason or "").strip()
    return f": {text}" if text else ""


def room_event_text(event: RoomEvent, me: str, *, tz: tzinfo | None, now: datetime) -> str:
    """A moderator's action in a room as one sentence, told from where ``me`` stands."""
    mine = event.user is not None and event.user.casefold() == me.casefold()
    by = "you" if event.by.casefold() == me.casefold() else sanitize(event.by)
    user = sanitize(event.user or "?")
    room = room_label(event.room)
    until = until_phrase(event.until, tz, now)
    why = _reason(event.reason)
    action = event.action
    if action == "kick":
        if mine:
            return f"You were kicked from {room} by {by}{why}. /join {sanitize(event.room)} to go back."
        return f"{user} was kicked from {room} by {by}{why}"
    if action == "ban":
        return f"{'You are' if mine else user + ' is'} banned from {room} by {by}{until}{why}"
    if action == "unban":
        return f"{'Your' if mine else user + chr(39) + 's'} ban from {room} was lifted by {by}"
    if action == "mute":
        return f"{'You are' if mine else user + ' is'} muted in {room} by {by}{until}{why}"
    if action == "unmute":
        return f"{'You' if mine else user} can talk in {room} again (unmuted by {by})"
    if action == "op":
        return f"{'You are' if mine else user + ' is'} now an operator of {room} (by {by})"
    if action == "deop":
        return f"{'You are' if mine else user + ' is'} no longer an operator of {room} (by {by})"
    if action == "transfer":
        return f"{'You now own' if mine else user + ' now owns'} {room} (handed over by {by})"
    if action == "invite":
        if mine:
            return f"{by} invited you to {room}: /join {sanitize(event.room)} to go in"
        return f"{user} is invited to {room} (by {by})"
    if action == "uninvite":
        return f"{'Your' if mine else user + chr(39) + 's'} invitation to {room} was withdrawn by {by}"
    if action == "private":
        return f"{room} is now private: only invited users may join (by {by})"
    if action == "public":
        return f"{room} is public again: anyone may join (by {by})"
    return f"{room}: {sanitize(str(action))} {user} by {by}{until}{why}"


def room_deleted_text(event: RoomDeleted, me: str) -> str:
    by = "you" if event.by.casefold() == me.casefold() else sanitize(event.by)
    return f"{room_label(event.room)} was deleted by {by}{_reason(event.reason)}, with its history."


def table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Rows of (already sanitised) cells as lines with aligned columns (display widths); the last unpadded."""
    if not rows:
        return []
    columns = max(len(row) for row in rows)
    widths = [max((width(row[i]) for row in rows if i < len(row)), default=0) for i in range(columns)]
    lines = []
    for row in rows:
        cells = [cell + " " * (widths[i] - width(cell)) for i, cell in enumerate(row[:-1])]
        lines.append((indent + "  ".join([*cells, row[-1]])).rstrip())
    return lines


def sanction_list_text(event: SanctionList, *, tz: tzinfo | None, now: datetime) -> str:
    room = room_label(event.room)
    if not event.sanctions:
        return f"Nobody is banned or muted in {room}."
    rows = [
        [
            sanction.kind,
            sanitize(sanction.user),
            f"by {sanitize(sanction.by)}" if sanction.by else "",
            f"since {when_text(sanction.since, tz, now)}",
            f"until {when_text(sanction.until, tz, now)}" if sanction.until else "until lifted",
            sanitize(sanction.reason or ""),
        ]
        for sanction in event.sanctions
    ]
    return "\n".join([f"Bans and mutes in {room} ({len(rows)}):", *table(rows)])


def user_list_text(event: UserList, *, tz: tzinfo | None, now: datetime) -> str:
    if not event.users:
        return "No accounts match."
    rows = []
    for user in event.users:
        if user.suspended_until is None:
            state = ""
        elif user.suspended_until:
            state = f"suspended until {when_text(user.suspended_until, tz, now)}"
        else:
            state = "suspended"
        rows.append([
            sanitize(user.username),
            user.role,
            "online" if user.online else "offline",
            f"since {when_text(user.created, tz, now)}",
            f"\u201c{sanitize(user.display_name)}\u201d" if user.display_name else "",
            state,
        ])
    more = "; /users more: the next page" if event.has_more else ""
    return "\n".join([f"Accounts ({len(rows)}{more}):", *table(rows)])


def address_ban_list_text(event: AddressBanList, *, tz: tzinfo | None, now: datetime) -> str:
    if not event.bans:
        return "No address is banned."
    rows = [
        [
            sanitize(ban.address),
            f"by {sanitize(ban.by)}" if ban.by else "",
            f"since {when_text(ban.since, tz, now)}",
            f"until {when_text(ban.until, tz, now)}" if ban.until else "until lifted",
            sanitize(ban.reason or ""),
        ]
        for ban in event.bans
    ]
    return "\n".join([f"Address bans ({len(rows)}; /unbanip ADDRESS lifts one):", *table(rows)])


def audit_page_text(event: AuditPage, *, tz: tzinfo | None, now: datetime) -> str:
    if not event.events:
        return "No more events in the audit log."
    rows = [
        [
            str(entry.id),
            when_text(entry.at, tz, now),
            sanitize(entry.actor),
            sanitize(entry.action),
            sanitize(entry.target or ""),
            room_label(entry.room) if entry.room else "",
            sanitize(entry.address or ""),
            sanitize(entry.reason or ""),
        ]
        for entry in event.events
    ]
    more = "; /audit more: older ones" if event.has_more else ""
    return "\n".join([f"Audit log, newest first ({len(rows)}{more}):", *table(rows)])


def _ended(count: int | None, what: str) -> str:
    if not count:
        return ""
    return f" ({count} {what}{'' if count == 1 else 's'} ended)"


def admin_done_text(event: AdminDone, *, tz: tzinfo | None, now: datetime, role: str | None = None) -> str:
    """What a staff action did (a reset's new password included: it is shown here once).

    ``role`` is the one a ``promote`` asked for (the answer does not repeat it).
    """
    user = sanitize(event.user or "?")
    address = sanitize(event.address or "?")
    until = until_phrase(event.until, tz, now)
    action = event.action
    if action == "suspend":
        return f"{user} is suspended{until or ' until lifted'}{_ended(event.count, 'session')}."
    if action == "unsuspend":
        return f"{user} may sign in again." if event.count != 0 else f"{user} was not suspended."
    if action == "mute":
        return f"{user} is muted everywhere{until or ' until lifted'}."
    if action == "unmute":
        return f"{user} may talk again." if event.count != 0 else f"{user} was not muted server-wide."
    if action == "disconnect":
        return f"Disconnected {user}{_ended(event.count, 'connection')}."
    if action == "promote":
        if role == "user":
            return f"{user} is an ordinary user now."
        return f"{user} is now {'an admin' if role == 'admin' else 'a ' + sanitize(role or 'new role')}."
    if action == "reset_password":
        password = sanitize(event.password or "")
        return (
            f"{user}'s password is reset{_ended(event.count, 'session')}. New password: {password}\n"
            "Give it to them privately: it is shown only this once."
        )
    if action == "ban_address":
        return f"{address} is banned{until or ' until lifted'}{_ended(event.count, 'connection')}."
    if action == "unban_address":
        return f"{address} is no longer banned." if event.count != 0 else f"{address} was not banned."
    if action == "reload_filters":
        rules = f": {event.count} rule{'' if event.count == 1 else 's'}" if event.count is not None else ""
        return f"The server read its filter file again{rules}."
    return f"Done: {sanitize(str(action))} {user}."
