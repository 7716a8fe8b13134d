"""The chat screen: the full-screen prompt_toolkit ``Application`` over the chat's state.

Layout, top to bottom (:mod:`.bars` says what the bars say)::

    title bar       active room (and topic) or conversation, and server
    message pane    the active target's lines (scroll-back, wrapped lines, unsent at the end),
                    and the room's nick list on the right when it is shown (Alt-N)
    status bar      time, user (away?), target, connection state / countdown, latency,
                    unread counts of the other targets, unsent, "more below"
    input line      prompt with the target's name + Buffer (history, completion menu, Alt-Enter)

The screen owns the terminal side only: keys, the input line, redraws. What
is shown lives in a :class:`~chatapp.client.ui.state.ChatState`: session events
go to :meth:`ChatState.handle`, typed lines to :func:`~chatapp.client.ui.perform.perform`.

Two tasks share one event loop: prompt_toolkit reads keys and redraws, and
:meth:`ChatScreen._pump` hands session events to the state. Neither can garble
the other: incoming lines go into the state and the screen is redrawn as a
whole; the input buffer is never touched by the network side (except to give
back the text of a message the server refused, when the line is empty).

The terminal bell rings (BEL) for each highlight the state counted (a
mention, a highlight word, a direct message), so tmux and terminals can flag
the window; the ignore list is read from and written to its file in an
executor.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import tzinfo
from pathlib import Path
from typing import Any

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.completion import DynamicCompleter
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import History as InputHistory
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent, merge_key_bindings
from prompt_toolkit.keys import Keys
from prompt_toolkit.layout import ConditionalContainer, Float, FloatContainer, HSplit, Layout, VSplit, Window
from prompt_toolkit.layout.controls import BufferControl, FormattedTextControl
from prompt_toolkit.layout.dimension import Dimension
from prompt_toolkit.layout.menus import CompletionsMenu
from prompt_toolkit.layout.processors import BeforeInput, ConditionalProcessor, PasswordProcessor
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.styles import DynamicStyle
from prompt_toolkit.widgets import SearchToolbar

from chatapp.protocol import DEFAULT_ROOM, RoomList

from ..clock import Clock, SystemClock
from ..e2e.agent import E2eSession
from ..net.events import ConnectionState, SendFailed, SessionEnded
from ..net.session import ChatSession
from ..settings import Settings
from ..settings_store import SettingsStore
from . import actions, commands, dialogue, sentences
from .bars import Bars
from .completion import chat_completer
from .editkeys import edit_keys
from .ignores import read_ignores, write_ignores
from .logfiles import LogFiles
from .pane import ChatLogControl
from .paste import PastedLines, pasted
from .perform import perform
from .state import ChatState
from .themes import theme_depth, theme_style
from .welcome import welcome
from .winkeys import nick_list_pane, window_keys

log = logging.getLogger("chatapp.client.screen")


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
        history: InputHistory | None = None,
        max_lines: int = 5000,
        error_log: str | None = None,
        handle_sigint: bool = False,
        quit_timeout: float = 3.0,
        e2e_off: str | None = None,
        settings: SettingsStore | None = None,
        ignore_file: Path | None = None,
    ) -> None:
        self.session = session
        self.nick_list = False
        """Show the nick list pane of rooms (the ``nick_list`` setting; Alt-N toggles it for this run)."""
        self.ignore_file = ignore_file
        """Where the ignore list is kept (None: only for this run)."""
        self.clock = clock or SystemClock()
        self.error_log = error_log
        self.handle_sigint = handle_sigint
        self.quit_timeout = quit_timeout
        self._saving: set[asyncio.Task[None]] = set()
        self.state = ChatState(
            session, session.username or "?", address=session.address, now=self.clock.now, tz=tz, room=room,
            max_lines=max_lines,
        )
        if isinstance(session, E2eSession) and session.encrypting:
            self.state.e2e = session
        self.state.e2e_off = e2e_off
        if settings is not None:
            self.state.settings = settings
        self.log_files = LogFiles(lambda: self.state.settings.current, session.address, self.state.me, tz)
        self.state.log_files = self.log_files
        self._style = theme_style("dark")
        self._depth: ColorDepth | None = None
        self.state.files = session.files
        self.bars = Bars(self.state, session, self.clock, tz, columns=self._columns)

        completer = chat_completer(self.state)
        secret = Condition(lambda: self.state.dialogue is not None and self.state.dialogue.secret)
        self.buffer = Buffer(
            name="input",
            multiline=False,
            history=history or InMemoryHistory(),
            completer=DynamicCompleter(lambda: None if self.state.dialogue else completer),
            complete_while_typing=False,
            accept_handler=self._accept,
        )
        self.log_control = ChatLogControl(lambda: self.state.log, self.state.pending_lines,
                                          at_top=self._older)
        self.log_window = Window(
            self.log_control, get_vertical_scroll=self.log_control.vertical_scroll, style="class:log"
        )
        nick_pane = nick_list_pane(self.state, lambda: self.nick_list)
        prompt = BeforeInput(self.bars.prompt, style="class:prompt")
        hidden = ConditionalProcessor(PasswordProcessor(), secret)  # a password shows as "*"
        search = SearchToolbar(text_if_not_searching="", ignore_case=True)  # Ctrl-R: the input history
        input_window = Window(
            BufferControl(
                self.buffer, input_processors=[hidden, prompt], search_buffer_control=search.control
            ),
            height=Dimension(min=1, max=8),
            dont_extend_height=True,
            wrap_lines=True,
            get_line_prefix=self.bars.input_prefix,
        )
        body = HSplit(
            [
                Window(FormattedTextControl(self.bars.title), height=1, style="class:title"),
                VSplit([self.log_window, nick_pane]),
                ConditionalContainer(
                    Window(FormattedTextControl(self._transfer_lines), style="class:transfers",
                           height=lambda: Dimension.exact(len(self.state.transfers))),
                    filter=Condition(lambda: bool(self.state.transfers)),
                ),
                Window(FormattedTextControl(self.bars.status), height=1, style="class:status"),
                input_window,
                search,
            ]
        )
        menu = CompletionsMenu(max_height=8, scroll_offset=1)
        root = FloatContainer(body, floats=[Float(xcursor=True, ycursor=True, content=menu)])
        self.app: Application[None] = Application(
            layout=Layout(root, focused_element=input_window),
            key_bindings=merge_key_bindings(
                [edit_keys(self.buffer, self.leave), self._key_bindings(),
                 window_keys(self.state, self._toggle_nick_list)]
            ),
            style=DynamicStyle(lambda: self._style),
            color_depth=lambda: self._depth,
            full_screen=True,
            mouse_support=Condition(lambda: self.state.settings.current.mouse),
            enable_page_navigation_bindings=False,
            refresh_interval=0.5,
        )
        self.state.settings.follow(self._apply_settings)

    def _apply_settings(self, settings: Settings) -> None:
        """What the screen itself does with a setting, at start and after ``/set``."""
        self.state.time_format = settings.time_format()
        self.nick_list = settings.nick_list
        self._style = theme_style(settings.theme)
        self._depth = theme_depth(settings.theme)
        self.app.invalidate()

    def _transfer_lines(self) -> str:
        """One line per transfer going on: its progress (above the status bar)."""
        return "\n".join(self.state.transfers.values())

    # -- running ---------------------------------------------------------------------------------------

    async def run(self) -> str | None:
        loop = asyncio.get_running_loop()
        previous_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._loop_exception)
        if self.ignore_file is not None:
            try:
                names = await loop.run_in_executor(None, read_ignores, self.ignore_file)
            except OSError as exc:
                log.warning("cannot read the ignore list %s: %s", self.ignore_file, exc)
                names = []
            for name in names:
                self.state.ignores.add(name)
        pump = asyncio.create_task(self._pump(), name="chatapp-client-events")
        welcome(self.state, self.session)
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
                await asyncio.to_thread(self.log_files.close)  # what was shown last is in the logs
        farewell = self.state.farewell
        unsent = len(self.session.outbox)
        if unsent:
            note = sentences.not_sent(unsent) + "."
            farewell = f"{farewell} {note}" if farewell else note
        return farewell

    def leave(self) -> None:
        """Close the screen (the session says ``quit`` afterwards)."""
        if self.state.quitting:
            return
        self.state.quitting = True
        if self.app.is_running and not self.app.is_done:
            self.app.exit()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        log.error("unexpected error: %s", context.get("message"), exc_info=exc)
        self._note_error_logged()

    def _note_error_logged(self) -> None:
        where = f" (details in {self.error_log})" if self.error_log else ""
        self.state.note(f"Something unexpected went wrong{where}; the client goes on.", level="error")
        self.app.invalidate()

    # -- events from the session ---------------------------------------------------------------------

    async def _pump(self) -> None:
        while True:
            event = await self.session.next_event()
            try:
                if isinstance(event, SendFailed):
                    self.state.send_failed(event, restored=self._restore(event.outgoing.text))
                else:
                    self.state.handle(event)
            except Exception:
                log.exception("failed to show %r", event)
                self._note_error_logged()
            self._ring()
            if isinstance(event, RoomList) and self.state.complete_rooms_again:
                self.state.complete_rooms_again = False
                if self.buffer.text.startswith("/") and self.state.dialogue is None:
                    self.buffer.start_completion(insert_common_part=True)  # as Tab does
            self.app.invalidate()
            if isinstance(event, SessionEnded):
                return

    def _ring(self) -> None:
        """The terminal bell (BEL) once for the highlights just shown, when the setting allows it."""
        if self.state.bells:
            self.state.bells = 0
            if self.state.settings.current.bell:
                self.app.output.bell()

    def _columns(self) -> int | None:
        try:
            return self.app.output.get_size().columns
        except (AttributeError, OSError):  # before the application exists, or no terminal any more
            return None

    def _toggle_nick_list(self) -> None:
        self.nick_list = not self.nick_list

    def _older(self) -> None:
        """At the top of the pane (PageUp, the wheel): fetch older messages, unless all are here."""
        if not self.state.active.history_done:  # else "beginning of history" is in sight
            self.state.fetch_older(self.state.active)

    async def _save_ignores(self) -> None:
        if self.ignore_file is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(
                None, write_ignores, self.ignore_file, list(self.state.ignores)
            )
        except OSError as exc:
            log.warning("cannot write the ignore list %s: %s", self.ignore_file, exc)
            self.state.note(f"The ignore list could not be saved ({exc.strerror}); it holds for this run.",
                            level="error")
            self.app.invalidate()

    def _restore(self, text: str) -> bool:
        """Give a refused message's text back to an empty input line; False when something is typed."""
        if self.buffer.text or self.state.dialogue is not None:
            return False
        self.buffer.text = text
        self.buffer.cursor_position = len(text)
        return True

    # -- input -----------------------------------------------------------------------------------------

    def _accept(self, buffer: Buffer) -> bool:
        """Enter: run a command or send a message. True keeps the text in the input line.

        An answer to a dialogue (a password) is taken out of the buffer first, so
        that prompt_toolkit, which keeps accepted lines in the input history, finds
        nothing to keep.
        """
        if (current := self.state.dialogue) is not None:
            text = buffer.text
            buffer.reset()
            try:
                keep = dialogue.answer(self.state, text)
                if isinstance(current, PastedLines) and current.edit is not None:
                    buffer.text = current.edit  # "Enter = edit": the paste, to edit and send as one
                    buffer.cursor_position = len(current.edit)
                    return True
                return keep
            except Exception:
                log.exception("failed to handle an answer")  # (the answer itself is not logged)
                self.state.dialogue = None
                self._note_error_logged()
                return False
        try:
            return self.submit(buffer.text)
        except Exception:
            log.exception("failed to handle input")
            self._note_error_logged()
            return True
        finally:
            if self.state.ignores_changed:
                self.state.ignores_changed = False
                task = asyncio.get_running_loop().create_task(self._save_ignores())
                self._saving.add(task)
                task.add_done_callback(self._saving.discard)

    def submit(self, text: str) -> bool:
        action = commands.parse(text)
        if isinstance(action, actions.QuitChat):
            self.leave()
            return False
        if isinstance(action, actions.ReconnectNow):
            if not self.session.reconnect_now():
                state = self.session.state
                why = "already connected" if state is ConnectionState.ONLINE else "not waiting to reconnect"
                self.state.note(f"Nothing to do: {why}.")
            return False
        return perform(self.state, action)

    def _key_bindings(self) -> KeyBindings:
        kb = KeyBindings()

        @kb.add("escape", "enter")
        def _newline(event: KeyPressEvent) -> None:
            self.buffer.insert_text("\n")

        @kb.add(Keys.BracketedPaste)
        def _paste(event: KeyPressEvent) -> None:
            # Several lines into an empty input line: ask once whether they are messages or one.
            text = pasted(self.state, event.data, input_empty=not self.buffer.text)
            if text is not None:
                self.buffer.insert_text(text)

        @kb.add("pageup")
        def _page_up(event: KeyPressEvent) -> None:
            if not self.log_control.at_top():
                self.log_control.page_up()
            else:
                self._older()

        @kb.add("pagedown")
        def _page_down(event: KeyPressEvent) -> None:
            self.log_control.page_down()

        @kb.add("c-end")
        def _to_end(event: KeyPressEvent) -> None:
            self.state.log.scroll_to_end()

        return kb
