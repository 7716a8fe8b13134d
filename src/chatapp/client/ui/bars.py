"""The chat screen's bars and colours: the title bar, the status bar, the input prompt, the style sheet.

Read from the chat's state and the session at every redraw; nothing here
changes either.
"""

from __future__ import annotations

import ipaddress
import math
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
        **{f"nick.{index}": colour for index, colour in enumerate(NICK_PALETTE)},
    }
)


class Bars:
    """What the title bar, the status bar and the prompt say, for the chat ``chat`` over ``session``."""

    def __init__(self, chat: ChatModel, session: ChatSession, clock: Clock, tz: tzinfo | None) -> None:
        self.chat = chat
        self.session = session
        self.clock = clock
        self.tz = tz

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
        else:
            about = " \u2014 direct messages"
        return [
            ("", " "),
            ("class:title.room", target.label),
            ("", f"{about} \u2014 {server} at {self.session.address}"),
        ]

    def connection_text(self) -> tuple[str, bool]:
        """The connection part of the status bar, and whether it is good news."""
        session = self.session
        state = session.state
        if state is ConnectionState.ONLINE:
            latency = f", {session.latency * 1000:.0f} ms" if session.latency is not None else ""
            return f"connected{latency}", True
        if state is ConnectionState.WAITING:
            deadline = session.reconnect_deadline
            left = max(0.0, deadline - self.clock.monotonic()) if deadline is not None else 0.0
            attempt = session.reconnect_attempt
            return f"offline, reconnecting in {math.ceil(left)} s (try {attempt})", False
        if state in (ConnectionState.CONNECTING, ConnectionState.CONNECTED, ConnectionState.DISCONNECTED):
            return f"connecting (try {session.reconnect_attempt})", False
        return "signed out", False

    def unread_parts(self) -> StyleAndTextTuples:
        """``[#rust 3] [@bob 1] ``: the other targets with unread messages (mentions highlighted)."""
        parts: StyleAndTextTuples = []
        for target in self.chat.targets:
            if target is self.chat.active or not target.unread:
                continue
            style = "class:status.mention" if target.mentions else "class:status.unread"
            parts.append((style, f"[{target.label} {target.unread}]"))
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
        now = self.clock.now().astimezone(self.tz).strftime("%H:%M")
        user = sanitize(self.chat.me)
        away = ", away" if self.chat.away else ""
        connection, good = self.connection_text()
        parts: StyleAndTextTuples = [
            ("", f" {now} "),
            ("", f"[{user}{away}] "),
            ("", f"[{self.chat.room}] "),
            *self.conversation_security(),
            ("", "["),
            ("class:status.ok" if good else "class:status.bad", connection),
            ("", "] "),
        ]
        security = link_security(self.session)
        if security is not None:
            text, secure = security
            parts.append(("class:status.secure" if secure else "class:status.plain", f"[{text}]"))
            parts.append(("", " "))
        parts.extend(self.unread_parts())
        unsent = len(self.session.outbox)
        if unsent:
            parts.append(("class:status.bad", f"[{unsent} unsent] "))
        log = self.chat.log
        if not log.follow:
            more = f"{log.unseen} new below" if log.unseen else "scrolled up"
            parts.append(("class:status.more", f"[{more} \u2014 PgDn] "))
        return parts


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
