"""The lines the client shows: messages, notes, markers. Pure functions, no I/O.

A :class:`Line` is a tuple of ``(style, text)`` fragments, the style being a
``class:...`` name of the screen's style sheet; line mode prints its plain
text. Everything from the network is sanitised (:mod:`.sanitize`) on its way
into a line, and lines are built from tuples, never from ``HTML(...)`` or
``ANSI(...)`` on user text, so a name like ``<evil`` is just text.
"""

from __future__ import annotations

import dataclasses
import zlib
from datetime import UTC, datetime, tzinfo

from chatapp.protocol import Direct, FileInfo, Message

from ..files.progress import human_size
from .sanitize import sanitize, split_text
from .width import width

LOCK = "\N{LOCK} "
"""Before the text of an end-to-end encrypted direct message."""
PLAIN = "[plain] "
FILE_NAME_SHOWN = 80
"""A shared file's name is cut to this many characters on its line (the id names it for /download)."""
"""Before the text of a direct message sent in clear, where encryption is on."""

NICK_COLOURS = 12
"""Number of ``class:nick.N`` styles usernames are spread over."""

Fragments = list[tuple[str, str]]
"""Styled text, as prompt_toolkit's ``StyleAndTextTuples`` (without importing it)."""


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

    def as_formatted(self) -> Fragments:
        return list(self.fragments)


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


TIME_FORMAT = "%H:%M"
"""How the time before each line is shown, unless the settings ask for seconds or the date."""


def clock_time(when: datetime, tz: tzinfo | None, time_format: str = TIME_FORMAT) -> str:
    """``HH:MM`` (or ``time_format``) in the given zone (None: the machine's local zone)."""
    return when.astimezone(tz).strftime(time_format)


def _continuation(indent: int, text: str, style: str, kind: str) -> Line:
    if indent < 2:
        return Line(((style, text),), indent=indent, kind=kind)
    return Line((("class:gutter", gutter_text(indent)), (style, text)), indent=indent, kind=kind)


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
    notice: str | None = None,
    plain_mark: bool = False,
    highlights: tuple[str, ...] = (),
    time_format: str = TIME_FORMAT,
) -> list[Line]:
    """The lines showing one chat message: ``HH:MM <sender> text`` (an action: ``HH:MM * sender
    text``) and continuation lines.

    An end-to-end encrypted direct message (``e2e``) carries :data:`LOCK`
    before its text, or, when this device could not read it, ``notice`` (why)
    instead of the text; ``plain_mark`` puts ``[plain]`` before a direct
    message that was not encrypted (where encryption is on, so the two differ).

    ``received`` is used for the time when the message's own timestamp is
    unreadable; ``highlights`` are words that highlight the text as your name
    does; ``show_room`` puts ``[#room]`` (or ``[@name]`` for a direct
    message) before the sender, for a view that mixes conversations.
    """
    when = parse_timestamp(message.ts) or received or datetime.now(UTC)
    stamp = clock_time(when, tz, time_format)
    sender = sanitize(message.sender) or "?"
    own = me is not None and message.sender.casefold() == me.casefold()
    kind = "own" if own else "message"
    text_style = "class:text.own" if own else "class:text"
    if not own and any(mentions(message.text, word) for word in (me, *highlights)):
        text_style = "class:text.mention"
    head: list[tuple[str, str]] = [("class:timestamp", stamp + " ")]
    if show_room:
        where = room_label(message.room) if isinstance(message, Message) else dm_label(dm_peer(message, me))
        head.append(("class:room", f"[{where}] "))
    if message.action and message.removed_by is None:  # "/me waves": "* alice waves", as IRC clients
        head += [("class:nick.bracket", "* "), (nick_style(message.sender, me), sender), ("", " ")]
    else:
        head += [
            ("class:nick.bracket", "<"),
            (nick_style(message.sender, me), sender),
            ("class:nick.bracket", ">"),
            ("", " "),
        ]
    indent = sum(width(text) for _, text in head)
    if message.removed_by is not None:  # a tombstone: the text is gone, say who removed it
        removed = f"(message removed by {sanitize(message.removed_by)})"
        return [Line((*head, ("class:removed", removed)), indent=indent, kind=kind)]
    if isinstance(message, Direct) and message.e2e is not None:
        if not message.text:
            why = sanitize(notice or "cannot be read by this client (encryption is off here)")
            unread = ("class:e2e.notice", f"(encrypted message {why})")
            return [Line((*head, ("class:e2e.lock", LOCK), unread), indent=indent, kind=kind)]
        head.append(("class:e2e.lock", LOCK))
    elif isinstance(message, Direct) and plain_mark:
        head.append(("class:e2e.plain", PLAIN))
    if message.file is not None:
        return _file_lines(message.file, message.text, head, indent, text_style, kind)
    texts = split_text(message.text)
    lines = [Line((*head, (text_style, texts[0])), indent=indent, kind=kind)]
    lines.extend(_continuation(indent, text, text_style, kind) for text in texts[1:])
    return lines


def file_text(file: FileInfo) -> tuple[str, str]:
    """A shared file as the chat shows it: its name (sanitised, shortened), then size, type and id."""
    name = sanitize(file.name) or "file"
    if len(name) > FILE_NAME_SHOWN:
        name = name[:FILE_NAME_SHOWN - 1] + "\u2026"
    details = human_size(file.size) + (f", {sanitize(file.mime)}" if file.mime else "")
    return f"[file] {name}", f" ({details}) \u2014 /download {file.id}"


def _file_lines(file: FileInfo, caption: str, head: list[tuple[str, str]], indent: int, text_style: str,
                kind: str) -> list[Line]:
    """The file line (name, size, type, id) and the caption under it."""
    name, details = file_text(file)
    lines = [Line((*head, ("class:file", name), ("class:file.details", details)), indent=indent, kind=kind)]
    if caption.strip():
        lines.extend(_continuation(indent, text, text_style, kind) for text in split_text(caption))
    return lines


def pending_lines(text: str, me: str, *, queued: bool, action: bool = False) -> list[Line]:
    """How a message not yet confirmed by the server looks (dim, with a marker)."""
    head: list[tuple[str, str]] = [
        ("class:pending", "--:-- * " if action else "--:-- <"),
        ("class:pending", sanitize(me)),
        ("class:pending", " " if action else "> "),
    ]
    indent = sum(width(text) for _, text in head)
    texts = split_text(text)
    marker = ("class:pending.marker", "  (queued: not connected)" if queued else "  (sending)")
    first = (*head, ("class:pending", texts[0])) + ((marker,) if len(texts) == 1 else ())
    lines = [Line(first, indent=indent, kind="pending")]
    lines.extend(_continuation(indent, part, "class:pending", "pending") for part in texts[1:])
    if len(texts) > 1:
        last = lines[-1]
        lines[-1] = dataclasses.replace(last, fragments=(*last.fragments, marker))
    return lines


def system_lines(
    text: str, when: datetime, *, tz: tzinfo | None = None, level: str = "info",
    time_format: str = TIME_FORMAT,
) -> list[Line]:
    """A note from the client itself (joins, leaves, errors, connection state).

    ``level`` is ``info``, ``join``, ``leave``, ``error`` or ``ok``; the style is
    ``class:system.<level>``. The text is sanitised, so it may quote the server.
    """
    head: list[tuple[str, str]] = [
        ("class:timestamp", clock_time(when, tz, time_format) + " "),
        (f"class:system.prefix class:system.{level}", "-!-"),
        ("", " "),
    ]
    indent = sum(width(text) for _, text in head)
    texts = split_text(text)
    style = f"class:system class:system.{level}"
    lines = [Line((*head, (style, texts[0])), indent=indent, kind="system")]
    lines.extend(_continuation(indent, part, style, "system") for part in texts[1:])
    return lines


def day_change_line(day: datetime, tz: tzinfo | None = None) -> Line:
    label = day.astimezone(tz).strftime("%A, %d %B %Y")
    return Line((("class:system.day", f"-- Day changed to {label} --"),), indent=0, kind="day")


UNREAD_MARKER = "\u2500\u2500\u2500\u2500 unread from here \u2500\u2500\u2500\u2500"


def unread_marker_line() -> Line:
    """Where the messages that came while you looked elsewhere (or were offline) start."""
    return Line((("class:marker", UNREAD_MARKER),), indent=0, kind="marker")


def history_start_line(label: str) -> Line:
    """The line at the top of a conversation whose whole stored history is shown."""
    return Line((("class:system.day", f"-- Beginning of the history of {label} --"),), indent=0, kind="day")


def gutter_text(indent: int) -> str:
    """What starts a wrapped row or a continuation line: blanks up to the text column, and a bar."""
    return " " * (indent - 2) + "\u2502 "
