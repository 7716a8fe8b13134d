"""The chat screen: a full-screen prompt_toolkit ``Application``.

Layout, top to bottom::

    title bar       room and server
    message pane    ChatLogControl (scroll-back, wrapped lines, unsent messages at the end)
    status bar      time, user, room, connection state / countdown, latency, unsent, "more below"
    input line      prompt + Buffer (history, completion menu, Alt-Enter for a new line)

Two tasks share one event loop: prompt_toolkit reads keys and redraws, and
:meth:`ChatScreen._pump` turns session events into lines. Neither can garble
the other: incoming lines go into the pane's model and the screen is redrawn
as a whole; the input buffer is never touched by the network side (except to
give back the text of a message the server refused, when the line is empty).
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import tzinfo
from typing import Any

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.layout import Float, FloatContainer, HSplit, Layout, Window
from prompt_toolkit.layout.controls import BufferControl, FormattedTextControl
from prompt_toolkit.layout.dimension import Dimension
from prompt_toolkit.layout.menus import CompletionsMenu
from prompt_toolkit.layout.processors import BeforeInput
from prompt_toolkit.styles import Style
from prompt_toolkit.utils import get_cwidth

from chatapp.protocol import DEFAULT_ROOM, ByeReason, Error, Message, Presence, ProtocolError

from . import commands, render
from .clock import Clock, SystemClock
from .completion import ChatCompleter, Roster
from .session import (
    ChatSession,
    ConnectionState,
    LinkDown,
    LinkUp,
    ReconnectFailed,
    Reconnecting,
    SendFailed,
    SendRefused,
    SessionEnded,
    SessionEvent,
)
from .view import ChatLog, ChatLogControl

log = logging.getLogger("chatapp.client.tui")

NICK_PALETTE = (
    "ansired", "ansigreen", "ansiyellow", "ansiblue", "ansimagenta", "ansicyan",
    "ansibrightred", "ansibrightgreen", "#d78700", "ansibrightblue", "ansibrightmagenta", "ansibrightcyan",
)
assert len(NICK_PALETTE) == render.NICK_COLOURS

STYLE = Style.from_dict(
    {
        "title": "reverse",
        "title.room": "bold",
        "status": "reverse",
        "status.ok": "",
        "status.bad": "bold",
        "status.more": "bold",
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
        "pending.marker": "ansibrightblack italic",
        "prompt": "bold",
        "room": "ansibrightblack",
        **{f"nick.{index}": colour for index, colour in enumerate(NICK_PALETTE)},
    }
)


class ChatScreen:
    """The chat screen for a signed-in :class:`ChatSession`.

    ``await screen.run()`` shows it until the user leaves, then says ``quit``
    to the server; it returns a sentence for the terminal when the session
    ended for another reason (replaced, kicked, expired), else None.
    """

    def __init__(
        self,
        session: ChatSession,
        *,
        clock: Clock | None = None,
        tz: tzinfo | None = None,
        room: str = DEFAULT_ROOM,
        history: History | None = None,
        max_lines: int = 5000,
        error_log: str | None = None,
        handle_sigint: bool = False,
        quit_timeout: float = 3.0,
    ) -> None:
        self.session = session
        self.clock = clock or SystemClock()
        self.tz = tz
        self.room = room
        self.error_log = error_log
        self.handle_sigint = handle_sigint
        self.quit_timeout = quit_timeout
        self.log = ChatLog(max_lines=max_lines, tz=tz)
        self.roster = Roster(session.username)
        self.farewell: str | None = None
        """What to print on the terminal after the screen closes (set when the session ended)."""
        self._leaving = False

        self.buffer = Buffer(
            name="input",
            multiline=False,
            history=history or InMemoryHistory(),
            completer=ChatCompleter(self.roster.names),
            complete_while_typing=False,
            accept_handler=self._accept,
        )
        self.log_control = ChatLogControl(self.log, self.pending_lines)
        self.log_window = Window(
            self.log_control, get_vertical_scroll=self.log_control.vertical_scroll, style="class:log"
        )
        input_window = Window(
            BufferControl(self.buffer, input_processors=[BeforeInput(self._prompt, style="class:prompt")]),
            height=Dimension(min=1, max=8),
            dont_extend_height=True,
            wrap_lines=True,
            get_line_prefix=self._input_prefix,
        )
        body = HSplit(
            [
                Window(FormattedTextControl(self._title), height=1, style="class:title"),
                self.log_window,
                Window(FormattedTextControl(self._status), height=1, style="class:status"),
                input_window,
            ]
        )
        menu = CompletionsMenu(max_height=8, scroll_offset=1)
        root = FloatContainer(body, floats=[Float(xcursor=True, ycursor=True, content=menu)])
        self.app: Application[None] = Application(
            layout=Layout(root, focused_element=input_window),
            key_bindings=self._key_bindings(),
            style=STYLE,
            full_screen=True,
            mouse_support=False,
            enable_page_navigation_bindings=False,
            refresh_interval=0.5,
        )

    # -- running ---------------------------------------------------------------------------------------

    async def run(self) -> str | None:
        loop = asyncio.get_running_loop()
        previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._loop_exception)
        pump = asyncio.create_task(self._pump(), name="chatapp-client-events")
        self._welcome_lines()
        try:
            await self.app.run_async(set_exception_handler=False, handle_sigint=self.handle_sigint)
        finally:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
            try:
                if self.session.state is ConnectionState.ONLINE and self.session.outbox:
                    await self.session.flush(self.quit_timeout)
                await self.session.quit(self.quit_timeout)
            finally:
                loop.set_exception_handler(previous_handler)
        unsent = len(self.session.outbox)
        if unsent:
            note = f"{unsent} message{'s were' if unsent != 1 else ' was'} not sent."
            self.farewell = f"{self.farewell} {note}" if self.farewell else note
        return self.farewell

    def leave(self) -> None:
        """Close the screen (the session says ``quit`` afterwards)."""
        if self._leaving:
            return
        self._leaving = True
        if self.app.is_running and not self.app.is_done:
            self.app.exit()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        log.error("unexpected error: %s", context.get("message"), exc_info=exc)
        self._note_error_logged()

    def _note_error_logged(self) -> None:
        where = f" (details in {self.error_log})" if self.error_log else ""
        self.system(f"Something unexpected went wrong{where}; the client goes on.", level="error")
        self.app.invalidate()

    # -- lines -----------------------------------------------------------------------------------------

    def system(self, text: str, *, level: str = "info") -> None:
        self.log.append(render.system_lines(text, self.clock.now(), tz=self.tz, level=level))

    def _welcome_lines(self) -> None:
        welcome = self.session.welcome
        server = f"{render.sanitize(welcome.server)}, protocol v{welcome.version}" if welcome else "chatapp"
        me = render.sanitize(self.session.username or "?")
        self.system(f"Connected to {self.session.address} ({server}) as {me}.", level="ok")
        self.system(
            "Type a message and press Enter to send it. /help lists the commands; /quit or Ctrl-D leaves."
        )

    def pending_lines(self) -> list[render.Line]:
        """Messages not acknowledged yet, shown after the log (dim, marked sending or queued)."""
        me = self.session.username or "?"
        lines: list[render.Line] = []
        for outgoing in self.session.outbox:
            lines.extend(render.pending_lines(outgoing.text, me, queued=outgoing.queued))
        return lines

    # -- events from the session ---------------------------------------------------------------------

    async def _pump(self) -> None:
        while True:
            event = await self.session.next_event()
            try:
                self.handle_event(event)
            except Exception:
                log.exception("failed to show %r", event)
                self._note_error_logged()
            self.app.invalidate()
            if isinstance(event, SessionEnded):
                return

    def handle_event(self, event: SessionEvent) -> None:
        if isinstance(event, Message):
            self.roster.spoke(event.sender)
            when = render.parse_timestamp(event.ts) or self.clock.now()
            lines = render.message_lines(
                event, self.session.username, tz=self.tz, received=when, show_room=event.room != self.room
            )
            self.log.append(lines, when)
        elif isinstance(event, Presence):
            if event.event in ("join", "online", "back", "away"):
                self.roster.joined(event.username)
            elif event.event in ("leave", "offline"):
                self.roster.left(event.username)
            text, level = render.presence_text(event)
            self.system(text, level=level)
        elif isinstance(event, Error):
            self.system(render.describe_error(event.code, event.message, event.retry_after), level="error")
        elif isinstance(event, SendFailed):
            self._send_failed(event)
        elif isinstance(event, LinkDown):
            why = render.describe_link_down(event.bye, event.error)
            if event.reconnect:
                self.system(f"{why} Reconnecting by itself; what you type is kept.", level="error")
            else:
                self.system(why, level="error")
        elif isinstance(event, Reconnecting):
            pass  # the status bar shows the countdown
        elif isinstance(event, ReconnectFailed):
            if event.code:
                why = render.describe_error(event.code, event.reason, event.retry_after)
            else:
                why = render.sanitize(event.reason).rstrip(".") + "."
            self.system(f"Reconnect attempt {event.attempt} failed: {why}", level="error")
        elif isinstance(event, LinkUp):
            waiting = len(self.session.outbox)
            plural = "s" if waiting != 1 else ""
            sending = f" Sending {waiting} message{plural} typed meanwhile." if waiting else ""
            self.system(f"Reconnected to {self.session.address}; session resumed.{sending}", level="ok")
        elif isinstance(event, SessionEnded):
            self._session_ended(event)
        else:
            log.debug("not shown: %r", event)  # frames of features this screen does not have yet

    def _send_failed(self, event: SendFailed) -> None:
        error = event.error
        why = render.describe_error(error.code, error.message, error.retry_after)
        preview = render.split_text(event.outgoing.text)[0]
        if len(preview) > 40:
            preview = preview[:39] + "\u2026"
        restored = ""
        if not self.buffer.text:
            self.buffer.text = event.outgoing.text
            self.buffer.cursor_position = len(self.buffer.text)
            restored = " The text is back in the input line."
        self.system(f"Not sent ({preview!r}): {why}{restored}", level="error")

    def _session_ended(self, event: SessionEnded) -> None:
        if event.bye == ByeReason.QUIT and self._leaving:
            return
        if event.error is not None:
            why = render.describe_error(event.error.code, event.error.message, event.error.retry_after)
        elif event.bye is not None:
            why = render.describe_bye(event.bye)
        else:
            why = "The session is closed."
        self.farewell = why
        self.system(f"{why} Not reconnecting. Press Ctrl-D or type /quit to leave.", level="error")

    # -- input -----------------------------------------------------------------------------------------

    def _accept(self, buffer: Buffer) -> bool:
        """Enter: run a command or send a message. True keeps the text in the input line."""
        try:
            return self.submit(buffer.text)
        except Exception:
            log.exception("failed to handle input")
            self._note_error_logged()
            return True

    def submit(self, text: str) -> bool:
        action = commands.parse(text)
        if isinstance(action, commands.SendText):
            return self._send(action.text)
        if isinstance(action, commands.Nothing):
            return False
        if isinstance(action, commands.QuitChat):
            self.leave()
            return False
        if isinstance(action, commands.ShowHelp):
            self.system(commands.help_text(action.topic))
            self.log.scroll_to_end()
            return False
        if isinstance(action, commands.ClearScreen):
            self.log.clear()
            return False
        if isinstance(action, commands.ReconnectNow):
            if not self.session.reconnect_now():
                state = self.session.state
                why = "already connected" if state is ConnectionState.ONLINE else "not waiting to reconnect"
                self.system(f"Nothing to do: {why}.")
            return False
        if isinstance(action, commands.UnknownCommand):
            self.system(commands.unknown_hint(action), level="error")
            return True
        if isinstance(action, commands.BadUsage):
            self.system(f"{action.problem}. Usage: {action.usage}", level="error")
            return True
        raise AssertionError(f"unhandled action {action!r}")

    def _send(self, text: str) -> bool:
        try:
            self.session.send_text(text, self.room)
        except ProtocolError as exc:
            why = render.describe_error(exc.code, exc.message)
            self.system(f"Not sent: {why} The text is kept.", level="error")
            return True
        except SendRefused as exc:
            self.system(f"Not sent: {exc}. The text is kept.", level="error")
            return True
        self.log.scroll_to_end()
        return False

    def _key_bindings(self) -> KeyBindings:
        kb = KeyBindings()
        empty = Condition(lambda: not self.buffer.text)

        @kb.add("c-c")
        @kb.add("<sigint>")
        def _leave(event: KeyPressEvent) -> None:
            self.leave()

        @kb.add("c-d", filter=empty)
        def _leave_on_eof(event: KeyPressEvent) -> None:
            self.leave()

        @kb.add("escape", "enter")
        def _newline(event: KeyPressEvent) -> None:
            self.buffer.insert_text("\n")

        @kb.add("pageup")
        def _page_up(event: KeyPressEvent) -> None:
            self.log_control.page_up()

        @kb.add("pagedown")
        def _page_down(event: KeyPressEvent) -> None:
            self.log_control.page_down()

        @kb.add("c-end")
        def _to_end(event: KeyPressEvent) -> None:
            self.log.scroll_to_end()

        return kb

    # -- bars --------------------------------------------------------------------------------------------

    def _prompt(self) -> StyleAndTextTuples:
        return [("class:prompt", f"{self.room}> ")]

    def _input_prefix(self, lineno: int, wrap_count: int) -> StyleAndTextTuples:
        if lineno == 0 and wrap_count == 0:
            return []
        return [("", " " * get_cwidth(f"{self.room}> "))]

    def _title(self) -> StyleAndTextTuples:
        welcome = self.session.welcome
        server = render.sanitize(welcome.server) if welcome else "chatapp"
        return [
            ("", " "),
            ("class:title.room", self.room),
            ("", f" \u2014 {server} at {self.session.address}"),
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

    def _status(self) -> StyleAndTextTuples:
        now = self.clock.now().astimezone(self.tz).strftime("%H:%M")
        user = render.sanitize(self.session.username or "?")
        connection, good = self.connection_text()
        parts: StyleAndTextTuples = [
            ("", f" {now} "),
            ("", f"[{user}] "),
            ("", f"[{self.room}] "),
            ("", "["),
            ("class:status.ok" if good else "class:status.bad", connection),
            ("", "] "),
        ]
        unsent = len(self.session.outbox)
        if unsent:
            parts.append(("class:status.bad", f"[{unsent} unsent] "))
        if not self.log.follow:
            more = f"{self.log.unseen} new below" if self.log.unseen else "scrolled up"
            parts.append(("class:status.more", f"[{more} \u2014 PgDn] "))
        return parts

