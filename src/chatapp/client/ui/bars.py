"""The chat screen's bars and colours: the title bar, the status bar, the input prompt, the style sheet.

Read from the chat's state and the session at every redraw; nothing here
changes either.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from datetime import tzinfo

from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.styles import Style
from prompt_toolkit.utils import get_cwidth

from ..clock import Clock
from ..net.events import ConnectionState
from ..net.session import ChatSession
from .lines import NICK_COLOURS
from .model import ChatModel
from .sanitize import sanitize
from .targets import Kind

NICK_PALETTE = (
    "ansired", "ansigreen", "ansiyellow", "ansiblue", "ansimagenta", "ansicyan",
    "ansibrightred", "ansibrightgreen", "#d78700", "ansibrightblue", "ansibrightmagenta", "ansibrightcyan",
)
assert len(NICK_PALETTE) == NICK_COLOURS

STYLE = Style.from_dict(
    {
        "title": "reverse",
        "title.room": "bold",
        "status": "reverse",
        "status.ok": "",
        "status.bad": "bold",
        "status.more": "bold",
        "status.unread": "",
        "status.secure": "",
        "status.plain": "bold ansired",
        "status.mention": "bold ansiyellow",
        "timestamp": "ansibrightblack",
        "nick.bracket": "ansibrightblack",
        "nick.own": "bold",
        "text.own": "",
        "text.mention": "bold",
        "gutter": "ansibrightblack",
        "system": "ansibrightblack italic",
        "system.prefix": "ansicyan noitalic",
        "system.join": "",
        "system.leave": "",
        "system.ok": "ansigreen noitalic",
        "system.error": "ansired noitalic",
        "system.day": "ansibrightblack",
        "pending": "ansibrightblack",
        "removed": "ansibrightblack italic",
        "e2e.lock": "ansigreen",
        "file": "bold",
        "file.details": "ansibrightblack",
        "transfers": "reverse",
        "e2e.plain": "ansiyellow",
        "e2e.notice": "ansired italic",
        "system.warning": "reverse bold ansired",
        "pending.marker": "ansibrightblack italic",
        "prompt": "bold",
        "room": "ansibrightblack",
        "marker": "ansired",
        "url": "underline",
        "nicklist": "",
        "nicklist.head": "bold",
        "nicklist.name": "",
        "nicklist.away": "ansibrightblack italic",
        **{f"nick.{index}": colour for index, colour in enumerate(NICK_PALETTE)},
    }
)


STATUS_LEVELS = 5
"""How many ever shorter forms the status bar has (see :meth:`Bars.status`)."""


class Bars:
    """What the title bar, the status bar and the prompt say, for the chat ``chat`` over ``session``.

    ``columns()`` is the terminal's width (None: no limit): a bar that would be
    longer is shortened, never cut off in the middle of a part.
    """

    def __init__(self, chat: ChatModel, session: ChatSession, clock: Clock, tz: tzinfo | None,
                 columns: Callable[[], int | None] = lambda: None) -> None:
        self.chat = chat
        self.session = session
        self.clock = clock
        self.tz = tz
        self.columns = columns

    def prompt(self) -> StyleAndTextTuples:
        if self.chat.dialogue is not None:
            return [("class:prompt", self.chat.dialogue.prompt)]
        return [("class:prompt", f"{self.chat.room}> ")]

    def input_prefix(self, lineno: int, wrap_count: int) -> StyleAndTextTuples:
        """Rows after the first of the input line start under the text, not under the prompt."""
        if lineno == 0 and wrap_count == 0:
            return []
        return [("", " " * get_cwidth(self.prompt()[0][1]))]

    def title(self) -> StyleAndTextTuples:
        welcome = self.session.welcome
        server = sanitize(welcome.server) if welcome else "chatapp"
        target = self.chat.active
        if target.is_room:
            about = f" \u2014 {sanitize(target.topic)}" if target.topic else ""
            marks = [mark for mark in ("private" if target.private else "", target.role or "") if mark]
            if marks:
                about = f" ({', '.join(marks)}){about}"
            if not target.member:
                about = " \u2014 (you left this room)"
        elif target.kind is Kind.VIEW:
            about = " \u2014 mentions of you and your highlight words, direct messages"
        else:
            about = " \u2014 direct messages"
        return fit([
            ("", " "),
            ("class:title.room", target.label),
            ("", f"{about} \u2014 {server} at {self.session.address}"),
        ], self.columns())

    def connection_text(self, short: bool = False) -> tuple[str, bool]:
        """The connection part of the status bar, and whether it is good news (``short``: narrow bar)."""
        session = self.session
        state = session.state
        if state is ConnectionState.ONLINE:
            if short:
                return "on", True
            latency = f", {session.latency * 1000:.0f} ms" if session.latency is not None else ""
            return f"connected{latency}", True
        if state is ConnectionState.WAITING:
            deadline = session.reconnect_deadline
            left = max(0.0, deadline - self.clock.monotonic()) if deadline is not None else 0.0
            attempt = session.reconnect_attempt
            if short:
                return f"off {math.ceil(left)}s", False
            return f"offline, reconnecting in {math.ceil(left)} s (try {attempt})", False
        if state in (ConnectionState.CONNECTING, ConnectionState.CONNECTED, ConnectionState.DISCONNECTED):
            return ("connecting" if short else f"connecting (try {session.reconnect_attempt})"), False
        return ("out" if short else "signed out"), False

    def unread_parts(self, short: bool = False) -> StyleAndTextTuples:
        """``[2:#rust 3] [3:@bob 1] ``: the other windows with unread messages, by number (mentions
        highlighted); ``short``: ``[2:3] [3:1] ``."""
        parts: StyleAndTextTuples = []
        for target in self.chat.targets:
            if target is self.chat.active or not target.unread:
                continue
            style = "class:status.mention" if target.mentions else "class:status.unread"
            number = self.chat.targets.number(target)
            name = "" if short else f"{target.label} "
            parts.append((style, f"[{number}:{name}{target.unread}]"))
            parts.append(("", " "))
        return parts

    def conversation_security(self) -> StyleAndTextTuples:
        """``[e2e]``, ``[e2e verified]`` or ``[plain]`` for a direct conversation, where encryption is on."""
        target = self.chat.active
        if target.kind is not Kind.DM or (self.chat.e2e is None and self.chat.e2e_off is None):
            return []
        text = self.chat.e2e.status(target.name) if self.chat.e2e is not None else "plain"
        style = "class:status.plain" if text == "plain" else "class:status.secure"
        return [(style, f"[{text}]"), ("", " ")]

    def status(self) -> StyleAndTextTuples:
        """The status bar, in the longest of its forms that fits the terminal.

        Narrower forms shorten the connection state and the "more below" note,
        then drop the clock and your name, then the active window (the prompt
        names it) and the link's security, then the names of the windows with
        unread messages (their numbers and counts stay); the unread counts are
        the last thing to go.
        """
        columns = self.columns()
        parts: StyleAndTextTuples = []
        for level in range(STATUS_LEVELS):
            parts = self.status_parts(level)
            if columns is None or fragments_width(parts) <= columns:
                return parts
        return fit(parts, columns)

    def status_parts(self, level: int = 0) -> StyleAndTextTuples:
        """The status bar's form number ``level`` (0: the full one; see :meth:`status`)."""
        now = self.clock.now().astimezone(self.tz).strftime("%H:%M")
        user = sanitize(self.chat.me)
        away = ", away" if self.chat.away else ""
        connection, good = self.connection_text(short=level >= 1)
        number = self.chat.targets.number(self.chat.active)
        parts: StyleAndTextTuples = []
        if level < 2:
            parts += [("", f" {now} "), ("", f"[{user}{away}] ")]
        if level < 3:
            parts += [("", f"[{number}:{self.chat.room}] "), *self.conversation_security()]
        if level >= 4:
            parts += self.unread_parts(short=True)  # first, so that a cut keeps them
        parts += [
            ("", "["),
            ("class:status.ok" if good else "class:status.bad", connection),
            ("", "] "),
        ]
        security = link_security(self.session)
        if security is not None and (level < 3 or not security[1]):  # a plain link is always said
            text, secure = security
            parts.append(("class:status.secure" if secure else "class:status.plain", f"[{text}]"))
            parts.append(("", " "))
        if level < 4:
            parts.extend(self.unread_parts(short=level >= 3))
        unsent = len(self.session.outbox)
        if unsent:
            parts.append(("class:status.bad", f"[{unsent} unsent] " if level < 1 else f"[{unsent}!] "))
        log = self.chat.log
        if not log.follow:
            if level < 1:
                more = f"{log.unseen} new below" if log.unseen else "scrolled up"
                parts.append(("class:status.more", f"[{more} \u2014 PgDn] "))
            else:
                parts.append(("class:status.more", f"[+{log.unseen}\u2193] " if log.unseen else "[\u2191] "))
        return parts


def fragments_width(parts: StyleAndTextTuples) -> int:
    return sum(get_cwidth(text) for _, text, *_ in parts)


def fit(parts: StyleAndTextTuples, columns: int | None) -> StyleAndTextTuples:
    """``parts`` cut to ``columns`` with an ellipsis at the end, when they are wider."""
    if columns is None or fragments_width(parts) <= columns:
        return parts
    room = max(0, columns - 1)
    out: StyleAndTextTuples = []
    for style, text, *_ in parts:
        kept = ""
        for char in text:
            char_columns = get_cwidth(char)
            if char_columns > room:
                room = 0
                break
            kept += char
            room -= char_columns
        if kept:
            out.append((style, kept))
        if room == 0:
            break
    out.append(("", "\u2026"))
    return out


def link_security(session: ChatSession) -> tuple[str, bool] | None:
    """``tls``, ``tls, pinned``, or ``plain`` (said only when the server is not on this machine),
    and whether that is good news."""
    if session.tls:
        trust = session.trust
        return ("tls, pinned" if trust is not None and trust.pinned else "tls"), True
    if is_loopback(session.host):
        return None
    return "plain", False


def is_loopback(host: str) -> bool:
    """This machine: ``localhost`` or a loopback address (where a plain link crosses no network)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
