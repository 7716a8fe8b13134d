"""Formatting and sanitising what the client shows. Pure functions, no I/O.

Everything that came from the network passes through :func:`sanitize` before it
reaches the terminal: message texts, usernames, error messages, bye reasons,
the server's name. The rules (also in docs/client.md):

- C0 controls (U+0000-U+001F) and DEL become their Unicode *control pictures*
  (ESC shows as ``␛``, BEL as ``␇``, CR as ``␍``, BS as ``␈``), so an escape
  sequence arrives inert but visible. TAB becomes spaces. A newline never
  reaches :func:`sanitize`: :func:`message_lines` splits the text on it first
  and shows the rest as indented continuation lines.
- C1 controls (U+0080-U+009F, e.g. the 8-bit CSI U+009B) are shown the way vim
  shows them, ``<9b>``.
- Unicode format characters (category Cf: bidi embeddings, overrides,
  isolates and marks, invisible tag characters, soft hyphens, ...) are removed,
  except the zero-width joiner and non-joiner that emoji and many scripts need.
  Line and paragraph separators become spaces; lone surrogates become U+FFFD.
- Runs of combining marks are capped, so "zalgo" text cannot paint over the
  lines above and below.

Formatted text is built from ``(style, text)`` tuples, never from ``HTML(...)``
or ``ANSI(...)`` on user text, so a name like ``<evil`` is just text.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo

from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.utils import get_cwidth

from chatapp.protocol import (
    ByeReason,
    Direct,
    ErrorCode,
    Message,
    OnlineUser,
    Presence,
    RoomInfo,
    SessionInfo,
    UserInfo,
)

TAB = "    "
MAX_COMBINING = 4
"""Combining marks kept after one base character (more are dropped)."""

NICK_COLOURS = 12
"""Number of ``class:nick.N`` styles usernames are spread over."""

_KEEP_FORMAT = frozenset({"\u200c", "\u200d"})  # ZWNJ, ZWJ


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        table[code] = chr(0x2400 + code)  # control pictures: ␀ .. ␟
    table[0x09] = TAB
    table[0x7F] = "\u2421"  # ␡
    for code in range(0x80, 0xA0):
        table[code] = f"<{code:02x}>"
    return table


_TABLE = _build_table()


def sanitize(text: str) -> str:
    """Make one line of untrusted text safe to show: nothing in it can control the terminal.

    The result contains no C0 or C1 control character (no ESC, CR, BS, BEL,
    CSI, ...), no bidi control or other invisible format character except
    ZWJ/ZWNJ, no line separator and no lone surrogate.
    """
    if text.isascii():
        if text.isprintable():
            return text
        return text.translate(_TABLE)
    out: list[str] = []
    combining = 0
    for char in text:
        code = ord(char)
        mapped = _TABLE.get(code)
        if mapped is not None:
            out.append(mapped)
            combining = 0
            continue
        category = unicodedata.category(char)
        if category == "Cf":
            if char in _KEEP_FORMAT:
                out.append(char)
            continue
        if category == "Cs":
            out.append("\ufffd")
            combining = 0
        elif category in ("Zl", "Zp"):
            out.append(" ")
            combining = 0
        elif category in ("Mn", "Me"):
            combining += 1
            if combining <= MAX_COMBINING:
                out.append(char)
        else:
            out.append(char)
            combining = 0
    return "".join(out)


def split_text(text: str) -> list[str]:
    """The lines of a message text, each sanitised.

    Only ``\\n`` (or ``\\r\\n``) separates lines; a bare CR stays visible as
    ``␍``. Trailing empty lines are dropped; an empty text gives one empty line.
    """
    parts = text.replace("\r\n", "\n").split("\n")
    while len(parts) > 1 and not parts[-1].strip():
        parts.pop()
    return [sanitize(part) for part in parts]


# -- lines ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Line:
    """One logical line of the message pane.

    ``indent`` is the column where the text starts; wrapped rows and
    continuation lines of the same message start there too, so they can never
    pass for a new message (those always start with a time in column 0).
    """

    fragments: tuple[tuple[str, str], ...]
    indent: int = 0
    kind: str = "system"

    @property
    def plain(self) -> str:
        return "".join(text for _, text in self.fragments)

    def as_formatted(self) -> StyleAndTextTuples:
        return list(self.fragments)


def plain_lines(lines: Sequence[Line]) -> list[str]:
    return [line.plain for line in lines]


def nick_colour(username: str) -> int:
    """A stable colour index for a username (same across runs and machines).

    CRC-32 of the case-folded name: Python's ``hash()`` is randomised per process.
    """
    return zlib.crc32(username.casefold().encode("utf-8", "replace")) % NICK_COLOURS


def nick_style(username: str, me: str | None) -> str:
    if me is not None and username.casefold() == me.casefold():
        return "class:nick.own"
    return f"class:nick.{nick_colour(username)}"


def parse_timestamp(ts: str) -> datetime | None:
    """An ISO-8601 timestamp as an aware datetime (naive ones are taken as UTC), or None."""
    try:
        when = datetime.fromisoformat(ts)
    except (ValueError, TypeError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


def clock_time(when: datetime, tz: tzinfo | None) -> str:
    """``HH:MM`` in the given zone (None: the machine's local zone)."""
    return when.astimezone(tz).strftime("%H:%M")


def _continuation(indent: int, text: str, style: str, kind: str) -> Line:
    if indent < 2:
        return Line(((style, text),), indent=indent, kind=kind)
    return Line((("class:gutter", _gutter_text(indent)), (style, text)), indent=indent, kind=kind)


def mentions(text: str, me: str | None) -> bool:
    """True when ``me`` appears in ``text`` as a whole word (case-insensitive)."""
    if not me:
        return False
    lowered = text.casefold()
    name = me.casefold()
    start = lowered.find(name)
    while start >= 0:
        before = lowered[start - 1] if start > 0 else " "
        end = start + len(name)
        after = lowered[end] if end < len(lowered) else " "
        if not _name_char(before) and not _name_char(after):
            return True
        start = lowered.find(name, start + 1)
    return False


def _name_char(char: str) -> bool:
    return char.isalnum() or char in "_-"


def plural(count: int, noun: str) -> str:
    """``1 message``, ``3 messages``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def room_label(room: str) -> str:
    """How a room is shown: ``#rust`` (sanitised, although the server only allows plain names)."""
    return "#" + sanitize(room)


def dm_label(username: str) -> str:
    """How a direct conversation is shown: ``@bob``."""
    return "@" + sanitize(username)


def dm_peer(message: Direct, me: str | None) -> str:
    """The other person of a direct message (yourself, for a note to self)."""
    if me is not None and message.sender.casefold() == me.casefold():
        return message.to
    return message.sender


def message_lines(
    message: Message | Direct,
    me: str | None,
    *,
    tz: tzinfo | None = None,
    received: datetime | None = None,
    show_room: bool = False,
) -> list[Line]:
    """The lines showing one chat message: ``HH:MM <sender> text`` and continuation lines.

    ``received`` is used for the time when the message's own timestamp is
    unreadable; ``show_room`` puts ``[#room]`` (or ``[@name]`` for a direct
    message) before the sender, for a view that mixes conversations.
    """
    when = parse_timestamp(message.ts) or received or datetime.now(UTC)
    stamp = clock_time(when, tz)
    sender = sanitize(message.sender) or "?"
    own = me is not None and message.sender.casefold() == me.casefold()
    kind = "own" if own else "message"
    text_style = "class:text.own" if own else "class:text"
    if not own and mentions(message.text, me):
        text_style = "class:text.mention"
    head: list[tuple[str, str]] = [("class:timestamp", stamp + " ")]
    if show_room:
        where = room_label(message.room) if isinstance(message, Message) else dm_label(dm_peer(message, me))
        head.append(("class:room", f"[{where}] "))
    head += [
        ("class:nick.bracket", "<"),
        (nick_style(message.sender, me), sender),
        ("class:nick.bracket", ">"),
        ("", " "),
    ]
    indent = sum(get_cwidth(text) for _, text in head)
    texts = split_text(message.text)
    lines = [Line((*head, (text_style, texts[0])), indent=indent, kind=kind)]
    lines.extend(_continuation(indent, text, text_style, kind) for text in texts[1:])
    return lines


def pending_lines(text: str, me: str, *, queued: bool) -> list[Line]:
    """How a message not yet confirmed by the server looks (dim, with a marker)."""
    head: list[tuple[str, str]] = [
        ("class:pending", "--:-- <"),
        ("class:pending", sanitize(me)),
        ("class:pending", "> "),
    ]
    indent = sum(get_cwidth(text) for _, text in head)
    texts = split_text(text)
    marker = ("class:pending.marker", "  (queued: not connected)" if queued else "  (sending)")
    first = (*head, ("class:pending", texts[0])) + ((marker,) if len(texts) == 1 else ())
    lines = [Line(first, indent=indent, kind="pending")]
    lines.extend(_continuation(indent, part, "class:pending", "pending") for part in texts[1:])
    if len(texts) > 1:
        last = lines[-1]
        lines[-1] = dataclasses.replace(last, fragments=(*last.fragments, marker))
    return lines


def system_lines(text: str, when: datetime, *, tz: tzinfo | None = None, level: str = "info") -> list[Line]:
    """A note from the client itself (joins, leaves, errors, connection state).

    ``level`` is ``info``, ``join``, ``leave``, ``error`` or ``ok``; the style is
    ``class:system.<level>``. The text is sanitised, so it may quote the server.
    """
    head: list[tuple[str, str]] = [
        ("class:timestamp", clock_time(when, tz) + " "),
        (f"class:system.prefix class:system.{level}", "-!-"),
        ("", " "),
    ]
    indent = sum(get_cwidth(text) for _, text in head)
    texts = split_text(text)
    style = f"class:system class:system.{level}"
    lines = [Line((*head, (style, texts[0])), indent=indent, kind="system")]
    lines.extend(_continuation(indent, part, style, "system") for part in texts[1:])
    return lines


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


def day_change_line(day: datetime, tz: tzinfo | None = None) -> Line:
    label = day.astimezone(tz).strftime("%A, %d %B %Y")
    return Line((("class:system.day", f"-- Day changed to {label} --"),), indent=0, kind="day")


def history_start_line(label: str) -> Line:
    """The line at the top of a conversation whose whole stored history is shown."""
    return Line((("class:system.day", f"-- Beginning of the history of {label} --"),), indent=0, kind="day")


def local_time(when: datetime, tz: tzinfo | None, now: datetime) -> str:
    """``today at 14:02``, ``yesterday at 09:30`` or ``2026-11-20 14:02``, in the given zone."""
    local, today = when.astimezone(tz), now.astimezone(tz).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"today at {clock}"
    if (today - local.date()).days == 1:
        return f"yesterday at {clock}"
    return local.strftime("%Y-%m-%d %H:%M")


def user_info_text(info: UserInfo, *, tz: tzinfo | None, now: datetime) -> str:
    """The answer to ``/whois`` as lines of text."""
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
    if since is not None:
        lines.append(f"Member since {since.astimezone(tz).strftime('%Y-%m-%d')}.")
    if info.rooms_in_common:
        lines.append("Rooms in common: " + ", ".join(room_label(r) for r in info.rooms_in_common) + ".")
    else:
        lines.append("No rooms in common.")
    return "\n".join(lines)


def who_text(room: str, users: Sequence[OnlineUser]) -> str:
    """The answer to ``/who``: one line, everyone online in the room, away messages included."""
    if not users:
        return f"Nobody is online in {room_label(room)}."
    names = [
        sanitize(user.username) + (f" (away: {sanitize(user.away)})" if user.away else "") for user in users
    ]
    return f"Online in {room_label(room)} ({len(users)}): " + ", ".join(names)


def room_list_text(rooms: Sequence[RoomInfo]) -> str:
    """The answer to ``/rooms``: a line per room with its counts and topic (yours marked ``*``)."""
    if not rooms:
        return "There are no rooms yet; /join NAME creates one."
    labels = [room_label(room.name) for room in rooms]
    counts = [f"{plural(room.members, 'member')}, {room.online} online" for room in rooms]
    label_width = max(get_cwidth(label) for label in labels)
    count_width = max(len(count) for count in counts)
    lines = [f"Rooms ({len(rooms)}; * = you are in it):"]
    for room, label, count in zip(rooms, labels, counts, strict=True):
        mark = "*" if room.joined else " "
        topic = f"  {sanitize(room.topic)}" if room.topic else ""
        pad = " " * (label_width - get_cwidth(label))
        lines.append(f"{mark} {label}{pad}  {count:<{count_width}}{topic}".rstrip())
    return "\n".join(lines)


def session_list_text(sessions: Sequence[SessionInfo], *, tz: tzinfo | None, now: datetime) -> str:
    """The answer to ``/sessions``: a line per session, with what ``/endsession`` needs."""
    if not sessions:
        return "You have no sessions that can still be used."
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


def describe_error(code: str, message: str, retry_after: float | None = None) -> str:
    """A refusal from the server as a sentence for the user (server text sanitised)."""
    detail = sanitize(message).strip().rstrip(".")
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
        return f"This account is already signed in somewhere else{_signed_in_where(detail)}; " \
            "sign out there, or take that session over."
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
        return f"There is no room {where}; /rooms lists them, /join {sanitize(room or '')} creates it."
    if code == ErrorCode.NO_SUCH_USER and name:
        return f"There is no user named {name}."
    if code == ErrorCode.FORBIDDEN and action == "topic" and where:
        return f"Only the owner of {where} can set its topic."
    if code == ErrorCode.RATE_LIMITED and action == "join":
        when = wait_phrase(retry_after) if retry_after else "later"
        return f"You have created many rooms lately; try again {when}."
    if code == ErrorCode.RATE_LIMITED and action in ("send", "dm"):
        when = wait_phrase(retry_after) if retry_after else "in a moment"
        return f"You are sending too fast; try again {when}."
    return describe_error(code, message, retry_after)


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
}


def describe_bye(reason: str) -> str:
    """Why the server closed the connection, as a sentence."""
    known = _BYE_SENTENCES.get(reason)
    if known is not None:
        return known
    return f"The server closed the connection ({sanitize(reason)})."


def describe_link_down(bye: str | None, error: str | None) -> str:
    """Why the connection was lost: the server's reason, or the network error."""
    if bye:
        return describe_bye(bye)
    return f"Connection lost: {sanitize(error or 'closed by the server')}."


# -- wrapping ------------------------------------------------------------------------------


def _gutter_text(indent: int) -> str:
    return " " * (indent - 2) + "\u2502 "


def gutter(indent: int) -> StyleAndTextTuples:
    """What starts a wrapped row or a continuation line: blanks up to the text column, and a bar."""
    if indent < 2:
        return []
    return [("class:gutter", _gutter_text(indent))]


def wrap(line: Line, width: int) -> list[StyleAndTextTuples]:
    """Split a line into rows of at most ``width`` columns, breaking between words where possible.

    Rows after the first start with the :func:`gutter` of the line's indent,
    so wrapped text stays in the text column and can never look like a new
    message. When the terminal is too narrow for that, rows are not indented.
    The first row only breaks at spaces inside the text (never between the
    time, the name and the text).
    """
    if width <= 0:
        return [line.as_formatted()]
    indent = line.indent if 2 <= line.indent <= width // 2 else 0
    prefix = gutter(indent)
    cells = [(style, char, get_cwidth(char)) for style, text in line.fragments for char in text]
    rows: list[StyleAndTextTuples] = []
    start = 0
    first = True
    while first or start < len(cells):
        capacity = width - (0 if first else indent)
        used = 0
        index = start
        space = -1
        while index < len(cells):
            cell_width = cells[index][2]
            if used + cell_width > capacity:
                break
            if cells[index][1] == " " and (not first or used >= line.indent) and index > start:
                space = index
            used += cell_width
            index += 1
        if index < len(cells) and cells[index][1] == " " and (not first or used >= line.indent):
            end, resume = index, index + 1  # the row is full right before a space
        elif index < len(cells) and space > start:
            end, resume = space, space + 1  # break at the space; it disappears
        else:
            end = resume = index
        if end == start and start < len(cells):
            end = resume = start + 1  # a character wider than the row: show it anyway
        row: StyleAndTextTuples = [] if first else list(prefix)
        rows.append(row + _merge(cells[start:end]))
        start = resume
        first = False
    return rows


def _merge(cells: Sequence[tuple[str, str, int]]) -> StyleAndTextTuples:
    out: StyleAndTextTuples = []
    for style, char, _ in cells:
        if out and out[-1][0] == style:
            out[-1] = (style, out[-1][1] + char)
        else:
            out.append((style, char))
    return out
