"""The chat screen: a full-screen prompt_toolkit ``Application``.

Layout, top to bottom::

    title bar       active room (and topic) or conversation, and server
    message pane    ChatLogControl of the active target (scroll-back, wrapped lines, unsent at the end)
    status bar      time, user (away?), target, connection state / countdown, latency,
                    unread counts of the other targets, unsent, "more below"
    input line      prompt with the target's name + Buffer (history, completion menu, Alt-Enter)

Every room and direct conversation is a :class:`~chatapp.client.targets.Target`
with its own buffer; Ctrl-N / Ctrl-P and ``/switch`` change the active one.
What the server sends goes to the buffer it belongs to (a room's messages and
presence to the room, a direct message to the conversation with the other
person); answers to commands and errors go to the active buffer.

Two tasks share one event loop: prompt_toolkit reads keys and redraws, and
:meth:`ChatScreen._pump` turns session events into lines. Neither can garble
the other: incoming lines go into the pane's model and the screen is redrawn
as a whole; the input buffer is never touched by the network side (except to
give back the text of a message the server refused, when the line is empty).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer
from prompt_toolkit.filters import Condition, has_completions
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.history import History as InputHistory
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.layout import Float, FloatContainer, HSplit, Layout, Window
from prompt_toolkit.layout.controls import BufferControl, FormattedTextControl
from prompt_toolkit.layout.dimension import Dimension
from prompt_toolkit.layout.menus import CompletionsMenu
from prompt_toolkit.layout.processors import BeforeInput
from prompt_toolkit.styles import Style
from prompt_toolkit.utils import get_cwidth

from chatapp.protocol import (
    DEFAULT_ROOM,
    Away,
    ByeReason,
    ClientFrame,
    Direct,
    EndSession,
    Error,
    ErrorCode,
    History,
    HistoryPage,
    Join,
    Joined,
    Leave,
    Left,
    ListRooms,
    ListSessions,
    Message,
    Presence,
    ProtocolError,
    RoomInfo,
    RoomList,
    SessionClosed,
    SessionList,
    SetTopic,
    Synced,
    TopicChanged,
    UserInfo,
    Who,
    Whois,
    WhoList,
)
from chatapp.protocol.limits import HISTORY_PAGE_DEFAULT, JOIN_CONTEXT

from . import commands, render
from .clock import Clock, SystemClock
from .completion import ChatCompleter, Roster
from .net.errors import SendRefused
from .net.events import (
    ConnectionState,
    LinkDown,
    LinkUp,
    ReconnectFailed,
    Reconnecting,
    SendFailed,
    SessionEnded,
    SessionEvent,
)
from .net.session import ChatSession
from .targets import Kind, Target, Targets
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
        "status.unread": "",
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
        "pending.marker": "ansibrightblack italic",
        "prompt": "bold",
        "room": "ansibrightblack",
        **{f"nick.{index}": colour for index, colour in enumerate(NICK_PALETTE)},
    }
)


@dataclasses.dataclass(frozen=True, slots=True)
class _Request:
    """A request waiting for its answer (by ``ref``), and what to say if it is refused."""

    action: str
    room: str | None = None
    user: str | None = None
    target: Target | None = None
    silent: bool = False
    """Asked by the client itself (a roster refresh, recent history): refusals are only logged."""
    scroll: bool = False
    """History asked for with PageUp or /history: scroll up into the page when it comes."""
    fresh: bool = False
    """A join of a room the client was not in."""


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
    ) -> None:
        self.session = session
        self.clock = clock or SystemClock()
        self.tz = tz
        self.error_log = error_log
        self.handle_sigint = handle_sigint
        self.quit_timeout = quit_timeout
        self.targets = Targets(room, max_lines=max_lines, tz=tz)
        self.roster = Roster(session.username)
        self.known_rooms: dict[str, RoomInfo] = {}
        """Every room from the last ``/rooms`` answer (asked for after each sign-in), for completion."""
        self.away: str | None = None
        """Your own away message, as the server last said (None: not away)."""
        self.farewell: str | None = None
        """What to print on the terminal after the screen closes (set when the session ended)."""
        self._leaving = False
        self._requests: dict[int, _Request] = {}
        self._who_asked: set[str] = set()
        self._away_restored = True

        self.buffer = Buffer(
            name="input",
            multiline=False,
            history=history or InMemoryHistory(),
            completer=ChatCompleter(
                self._completion_names, users=self._completion_users, rooms=self._completion_rooms,
                targets=lambda: [target.label for target in self.targets],
            ),
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

    # -- the active target -----------------------------------------------------------------------------

    @property
    def active(self) -> Target:
        return self.targets.active

    @property
    def log(self) -> ChatLog:
        """The buffer on screen (the active target's)."""
        return self.targets.active.log

    @property
    def room(self) -> str:
        """The label of the active target (``#general``, ``@bob``)."""
        return self.targets.active.label

    def activate(self, target: Target) -> None:
        """Show ``target``: its buffer in the pane, its name in the prompt and bars."""
        self.targets.activate(target)
        self.log_control.log = target.log
        self._fetch_recent(target)
        self.app.invalidate()

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

    def system(self, text: str, *, level: str = "info", target: Target | None = None) -> None:
        """A note from the client, in ``target``'s buffer (default: the active one)."""
        where = target or self.targets.active
        where.log.append(render.system_lines(text, self.clock.now(), tz=self.tz, level=level))

    def _welcome_lines(self) -> None:
        welcome = self.session.welcome
        server = f"{render.sanitize(welcome.server)}, protocol v{welcome.version}" if welcome else "chatapp"
        me = render.sanitize(self.session.username or "?")
        self.system(f"Connected to {self.session.address} ({server}) as {me}.", level="ok")
        self.system(
            "Type a message and press Enter to send it. /help lists the commands; /quit or Ctrl-D leaves."
        )

    def pending_lines(self) -> list[render.Line]:
        """Messages to the active target not acknowledged yet, shown after its log (dim, marked)."""
        me = self.session.username or "?"
        target = self.targets.active
        lines: list[render.Line] = []
        for outgoing in self.session.outbox:
            if self._outgoing_target(outgoing.room, outgoing.to) is target:
                lines.extend(render.pending_lines(outgoing.text, me, queued=outgoing.queued))
        return lines

    def _outgoing_target(self, room: str | None, to: str | None) -> Target | None:
        if to is not None:
            return self.targets.find(Kind.DM, to)
        return self.targets.find(Kind.ROOM, room or DEFAULT_ROOM)

    def _is_me(self, name: str) -> bool:
        me = self.session.username
        return me is not None and name.casefold() == me.casefold()

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
            target = self.targets.room(event.room)
            target.member = True
            if self._show_message(target, event, live=True) and not event.replayed:
                if target.online.get(event.sender.casefold()) is None:
                    target.set_online(event.sender)
        elif isinstance(event, Direct):
            peer = render.dm_peer(event, self.session.username)
            self._show_message(self.targets.dm(peer), event, live=True)
        elif isinstance(event, Presence):
            self._presence(event)
        elif isinstance(event, Joined):
            self._joined(event)
        elif isinstance(event, Left):
            self._left(event)
        elif isinstance(event, HistoryPage):
            self._history_page(event)
        elif isinstance(event, Synced):
            self._synced(event)
        elif isinstance(event, WhoList):
            self._who_list(event)
        elif isinstance(event, RoomList):
            self._room_list(event)
        elif isinstance(event, TopicChanged):
            self._topic_changed(event)
        elif isinstance(event, UserInfo):
            request = self._answered(event.ref)
            self.roster.saw(event.username)
            if request is None or not request.silent:
                self.system(render.user_info_text(event, tz=self.tz, now=self.clock.now()))
        elif isinstance(event, SessionList):
            self._answered(event.ref)
            self.system(render.session_list_text(event.sessions, tz=self.tz, now=self.clock.now()))
        elif isinstance(event, SessionClosed):
            self._answered(event.ref)
            self.system(f"Session {event.id} is signed out; its saved login no longer works.", level="ok")
        elif isinstance(event, Error):
            self._error(event)
        elif isinstance(event, SendFailed):
            self._send_failed(event)
        elif isinstance(event, LinkDown):
            self._link_down(event)
        elif isinstance(event, Reconnecting):
            pass  # the status bar shows the countdown
        elif isinstance(event, ReconnectFailed):
            if event.code:
                why = render.describe_error(event.code, event.reason, event.retry_after)
            else:
                why = render.sanitize(event.reason).rstrip(".") + "."
            self.system(f"Reconnect attempt {event.attempt} failed: {why}", level="error")
        elif isinstance(event, LinkUp):
            self._link_up()
        elif isinstance(event, SessionEnded):
            self._session_ended(event)
        else:
            log.debug("not shown: %r", event)

    def _answered(self, ref: object) -> _Request | None:
        return self._requests.pop(ref, None) if isinstance(ref, int) else None

    def _show_message(self, target: Target, message: Message | Direct, *, live: bool) -> bool:
        """Put a message in its target's buffer (in id order, once); count it as unread if it is new news."""
        me = self.session.username
        when = render.parse_timestamp(message.ts) or self.clock.now()
        lines = render.message_lines(message, me, tz=self.tz, received=when)
        if not target.log.add_message(message.id, lines, when):
            return False
        if live and not message.replayed:
            self.roster.spoke(message.sender)
        else:
            self.roster.saw(message.sender)
        if live and target is not self.targets.active and not self._is_me(message.sender):
            target.unread += 1
            if target.kind is Kind.DM or render.mentions(message.text, me):
                target.mentions += 1
        return True

    def _presence(self, event: Presence) -> None:
        self._answered(event.ref)  # our own away/back carries the ref of the request it answers
        target = self.targets.room(event.room)  # presence only comes for one's own rooms
        name = event.username
        if self._is_me(name):
            if event.event in ("online", "join"):
                target.member = True
                target.set_online(name, self.away)
                if event.event == "online":
                    self.system(f"You are online in {target.label}.", level="join", target=target)
                    if self.away and not self._away_restored:
                        # A fresh sign-in on the server forgot it: say it again.
                        self._away_restored = True
                        self._ask(_Request("away", silent=True), lambda ref: Away(text=self.away, ref=ref))
                self._ask_who(target)
            elif event.event == "leave":
                target.set_offline(name)
            elif event.event in ("away", "back"):
                self._own_away(event.text if event.event == "away" else None)
                target.set_online(name, self.away)
            return
        if event.event in ("join", "online", "back"):
            target.set_online(name)
            self.roster.joined(name)
        elif event.event == "away":
            target.set_online(name, event.text)
            self.roster.joined(name)
        elif event.event == "leave":
            target.set_offline(name)
        elif event.event == "offline":
            target.set_offline(name)
            if not any(name.casefold() in room.online for room in self.targets.rooms()):
                self.roster.left(name)
        text, level = render.presence_text(event)
        self.system(text, level=level, target=target)

    def _own_away(self, text: str | None) -> None:
        if text == self.away:
            return
        self.away = text
        if text:
            self.system(f"You are marked as away: {render.sanitize(text)}. /away alone brings you back.")
        else:
            self.system("You are back.")

    def _joined(self, event: Joined) -> None:
        request = self._answered(event.ref)
        target = self.targets.room(event.room)
        fresh = request.fresh if request is not None else not target.member
        target.member = True
        target.topic = event.topic
        target.fetched = True  # the join brings the room's recent messages
        self.activate(target)
        topic = f" Topic: {render.sanitize(event.topic)}" if event.topic else ""
        if event.created:
            self.system(
                f"You created {target.label} and own it: /topic TEXT sets its topic.", level="join"
            )
        elif fresh:
            self.system(f"You joined {target.label}.{topic}", level="join")
        self._ask_who(target)

    def _left(self, event: Left) -> None:
        self._answered(event.ref)
        target = self.targets.find(Kind.ROOM, event.room)
        if target is None:
            return
        target.member = False
        target.online.clear()
        self._who_asked.discard(target.name)
        label = target.label
        if self.targets.remove(target):
            self.activate(self.targets.active)
            self.system(f"You left {label}.", level="leave")
        else:
            note = f"You left {label}. /join a room to talk again (/rooms lists them)."
            self.system(note, level="leave", target=target)

    def _history_page(self, page: HistoryPage) -> None:
        request = self._answered(page.ref)
        if page.room is not None:
            target = self.targets.room(page.room)
        elif page.with_ is not None:
            target = self.targets.dm(page.with_)
        else:
            return
        if request is None or request.action != "history":
            for message in page.messages:  # a join's (or a new account's) recent messages
                self._show_message(target, message, live=False)
            return
        target.history_pending = False
        me = self.session.username
        items = []
        for message in page.messages:
            when = render.parse_timestamp(message.ts) or self.clock.now()
            items.append((message.id, render.message_lines(message, me, tz=self.tz, received=when), when))
            self.roster.saw(message.sender)
        added = target.log.prepend(items)
        if not page.has_more and not target.history_done:
            target.history_done = True
            target.log.note_at_top([render.history_start_line(target.label)])
            added += 1
        if request.scroll and added and target is self.targets.active:
            target.log.page_up_pending = True  # into what was asked for, as PageUp would

    def _synced(self, event: Synced) -> None:
        if event.has_more:
            self.system(
                "You missed more messages than the server replays at once; only the newest are shown."
            )
        self._ask(_Request("rooms", silent=True), lambda ref: ListRooms(ref=ref))
        self._fetch_recent(self.targets.active)

    def _who_list(self, event: WhoList) -> None:
        request = self._answered(event.ref)
        target = self.targets.find(Kind.ROOM, event.room)
        if target is not None:
            target.online = {user.username.casefold(): user for user in event.users}
        for user in event.users:
            if not self._is_me(user.username):  # one's own away state comes from presence
                self.roster.joined(user.username)
        if request is None or not request.silent:
            self.system(render.who_text(event.room, event.users))

    def _room_list(self, event: RoomList) -> None:
        request = self._answered(event.ref)
        self.known_rooms = {room.name: room for room in event.rooms}
        for room in event.rooms:
            if room.joined:
                target = self.targets.room(room.name)
                target.member = True
                target.topic = room.topic
        if request is None or not request.silent:
            self.system(render.room_list_text(event.rooms))

    def _topic_changed(self, event: TopicChanged) -> None:
        self._answered(event.ref)
        target = self.targets.find(Kind.ROOM, event.room)
        if target is not None:
            target.topic = event.text
        known = self.known_rooms.get(event.room)
        if known is not None:
            self.known_rooms[event.room] = RoomInfo(
                name=known.name, topic=event.text, members=known.members, online=known.online,
                joined=known.joined,
            )
        who = "You" if self._is_me(event.by) else render.sanitize(event.by)
        label = render.room_label(event.room)
        if event.text:
            text = f"{who} set the topic of {label} to: {render.sanitize(event.text)}"
        else:
            text = f"{who} cleared the topic of {label}."
        self.system(text, target=target if target is not None and target.member else None)

    def _error(self, event: Error) -> None:
        request = self._answered(event.ref)
        if request is None:
            self.system(render.describe_error(event.code, event.message, event.retry_after), level="error")
            return
        if request.action == "history" and request.target is not None:
            request.target.history_pending = False
        if request.silent:
            log.info("a request of the client was refused (%s): %s", request.action, event.code)
            return
        if request.action == "history" and request.target is not None and request.target.kind is Kind.DM:
            self._drop_empty_dm(request.target)
        text = render.describe_refusal(
            event.code, event.message, event.retry_after,
            action=request.action, room=request.room, user=request.user,
        )
        self.system(text, level="error")

    def _drop_empty_dm(self, target: Target) -> None:
        """A conversation with someone who does not exist: close it again (unless it has messages)."""
        if target.kind is Kind.DM and target.log.message_count == 0 and self.targets.remove(target):
            self.activate(self.targets.active)

    def _send_failed(self, event: SendFailed) -> None:
        error = event.error
        outgoing = event.outgoing
        why = render.describe_refusal(
            error.code, error.message, error.retry_after,
            action="dm" if outgoing.to else "send", room=outgoing.room, user=outgoing.to,
        )
        preview = render.split_text(outgoing.text)[0]
        if len(preview) > 40:
            preview = preview[:39] + "\u2026"
        restored = ""
        if not self.buffer.text:
            self.buffer.text = outgoing.text
            self.buffer.cursor_position = len(self.buffer.text)
            restored = " The text is back in the input line."
        if error.code == ErrorCode.NO_SUCH_USER and outgoing.to:
            target = self.targets.find(Kind.DM, outgoing.to)
            if target is not None:
                self._drop_empty_dm(target)
        self.system(f"Not sent ({preview!r}): {why}{restored}", level="error")

    def _link_down(self, event: LinkDown) -> None:
        for request in self._requests.values():
            if request.target is not None:
                request.target.history_pending = False
        self._requests.clear()
        self._who_asked.clear()
        why = render.describe_link_down(event.bye, event.error)
        if event.reconnect:
            self.system(f"{why} Reconnecting by itself; what you type is kept.", level="error")
        else:
            self.system(why, level="error")

    def _link_up(self) -> None:
        self._away_restored = False
        waiting = len(self.session.outbox)
        plural = "s" if waiting != 1 else ""
        sending = f" Sending {waiting} message{plural} typed meanwhile." if waiting else ""
        self.system(f"Reconnected to {self.session.address}; session resumed.{sending}", level="ok")
        for target in self.targets.rooms():
            self._ask_who(target)

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

    # -- requests to the server ------------------------------------------------------------------------

    def _ask(self, request: _Request, build: Callable[[int], ClientFrame]) -> bool:
        """Send a request; False (and a note, unless silent) when not connected."""
        try:
            ref = self.session.request(build)
        except SendRefused as exc:
            if not request.silent:
                self.system(f"Not done: {exc}. Try again once the client is connected.", level="error")
            return False
        self._requests[ref] = request
        return True

    def _ask_who(self, target: Target) -> None:
        """Learn who is online in a room (once per connection), for the roster and completion."""
        if target.name in self._who_asked or not target.member or not self.session.online:
            return
        self._who_asked.add(target.name)
        name = target.name
        self._ask(_Request("who", room=name, silent=True), lambda ref: Who(room=name, ref=ref))

    def _fetch_recent(self, target: Target) -> None:
        """The first time a room or conversation with few messages is shown: fetch the ones before."""
        if target.fetched or target.log.message_count >= JOIN_CONTEXT or not self.session.online:
            return
        if target.is_room and not target.member:
            return
        target.fetched = True
        self.fetch_older(target, JOIN_CONTEXT, silent=True, scroll=False)

    def fetch_older(self, target: Target, limit: int = HISTORY_PAGE_DEFAULT, *, silent: bool = False,
                    scroll: bool = True) -> None:
        """Ask for the page of messages before the oldest one in ``target``'s buffer."""
        if target.history_pending:
            return
        if target.history_done:
            if not silent:
                self.system(f"That is the beginning of the history of {target.label}.")
            return
        if target.is_room and not target.member:
            if not silent:
                self.system(f"You are not in {target.label} any more.", level="error")
            return
        before = target.log.oldest_id
        if target.is_room:
            request = _Request("history", room=target.name, target=target, silent=silent, scroll=scroll)
            room = target.name

            def build(ref: int) -> ClientFrame:
                return History(room=room, before=before, limit=limit, ref=ref)
        else:
            request = _Request("history", user=target.name, target=target, silent=silent, scroll=scroll)
            peer = target.name

            def build(ref: int) -> ClientFrame:
                return History(with_=peer, before=before, limit=limit, ref=ref)

        if self._ask(request, build):
            target.history_pending = True

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
            target = self.targets.active
            target.log.clear()
            target.history_done = target.history_pending = False
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
        return self._command(action)

    def _command(self, action: commands.Action) -> bool:
        """The commands that talk to the server or change the active target. True keeps the text."""
        if isinstance(action, commands.DirectMessage):
            return self._direct(action)
        if isinstance(action, commands.JoinRoom):
            return not self._join(action.room)
        if isinstance(action, commands.LeaveTarget):
            return self._leave(action.label)
        if isinstance(action, commands.SwitchTarget):
            return self._switch(action.name)
        if isinstance(action, commands.ListRooms):
            return not self._ask(_Request("rooms"), lambda ref: ListRooms(ref=ref))
        if isinstance(action, commands.ShowTopic):
            return self._show_topic(action.room)
        if isinstance(action, commands.SetTopic):
            topic_room = action.room or self._active_room("/topic")
            if topic_room is None:
                return True
            topic = action.text
            return not self._ask(
                _Request("topic", room=topic_room),
                lambda ref: SetTopic(room=topic_room, text=topic, ref=ref),
            )
        if isinstance(action, commands.WhoIsOnline):
            who_room = action.room or self._active_room("/who")
            if who_room is None:
                return True
            return not self._ask(_Request("who", room=who_room), lambda ref: Who(room=who_room, ref=ref))
        if isinstance(action, commands.WhoIs):
            name = action.username
            return not self._ask(_Request("whois", user=name), lambda ref: Whois(username=name, ref=ref))
        if isinstance(action, commands.SetAway):
            away = action.text
            return not self._ask(_Request("away"), lambda ref: Away(text=away, ref=ref))
        if isinstance(action, commands.FetchHistory):
            self.fetch_older(self.targets.active, action.limit)
            return False
        if isinstance(action, commands.ListSessions):
            return not self._ask(_Request("sessions"), lambda ref: ListSessions(ref=ref))
        if isinstance(action, commands.EndSession):
            session_id = action.session_id
            return not self._ask(_Request("end_session"), lambda ref: EndSession(id=session_id, ref=ref))
        raise AssertionError(f"unhandled action {action!r}")

    def _active_room(self, command: str) -> str | None:
        target = self.targets.active
        if target.is_room:
            return target.name
        self.system(f"{target.label} is a conversation, not a room: {command} #ROOM names one.",
                    level="error")
        return None

    def _send(self, text: str) -> bool:
        target = self.targets.active
        try:
            if target.is_room:
                if not target.member:
                    self.system(
                        f"You are not in {target.label}; /join {target.name} to go back. The text is kept.",
                        level="error",
                    )
                    return True
                self.session.send_text(text, target.name)
            else:
                self.session.send_direct(text, target.name)
        except ProtocolError as exc:
            why = render.describe_error(exc.code, exc.message)
            self.system(f"Not sent: {why} The text is kept.", level="error")
            return True
        except SendRefused as exc:
            self.system(f"Not sent: {exc}. The text is kept.", level="error")
            return True
        self.log.scroll_to_end()
        return False

    def _direct(self, action: commands.DirectMessage) -> bool:
        existing = self.targets.find(Kind.DM, action.to)
        target = existing or self.targets.dm(action.to)
        if existing is None:
            # The conversation so far; without a message to send, this is what says "no such user".
            target.fetched = True
            self.fetch_older(target, JOIN_CONTEXT, silent=bool(action.text), scroll=False)
        self.activate(target)
        if action.text:
            return self._send(action.text)
        return False

    def _join(self, room: str) -> bool:
        target = self.targets.find(Kind.ROOM, room)
        fresh = target is None or not target.member
        last_id = target.log.newest_id if target is not None else None
        return self._ask(
            _Request("join", room=room, fresh=fresh), lambda ref: Join(room=room, last_id=last_id, ref=ref)
        )

    def _leave(self, label: str | None) -> bool:
        target = self.targets.active if label is None else self.targets.resolve(label)
        if target is None:
            self.system(f"You are not in {render.sanitize(label or '')}.", level="error")
            return True
        if target.is_room:
            if not target.member:
                self.system(f"You are not in {target.label} any more.", level="error")
                return False
            name = target.name
            return not self._ask(_Request("leave", room=name), lambda ref: Leave(room=name, ref=ref))
        if not self.targets.remove(target):
            self.system("This is the only conversation open; /join a room first.", level="error")
            return False
        self.activate(self.targets.active)
        self.system(f"Closed the conversation with {target.label}; /msg {target.name} opens it again.")
        return False

    def _switch(self, word: str) -> bool:
        target = self.targets.resolve(word)
        if target is None:
            if word.startswith("@"):
                try:
                    name = commands.username(word)
                except ProtocolError as exc:
                    self.system(f"{render.sanitize(word)!r} is not a username: {exc.message}.", level="error")
                    return True
                return self._direct(commands.DirectMessage(name))
            shown = render.sanitize(word)
            self.system(
                f"There is no room or conversation {shown} open: /join a room, /msg someone.", level="error"
            )
            return True
        self.activate(target)
        return False

    def _show_topic(self, room: str | None) -> bool:
        name = room or self._active_room("/topic")
        if name is None:
            return True
        target = self.targets.find(Kind.ROOM, name)
        known = self.known_rooms.get(name)
        topic = target.topic if target is not None and target.member else (known.topic if known else None)
        label = render.room_label(name)
        if topic is None:
            self.system(f"The topic of {label} is not known here: /rooms lists the rooms with their topics.")
        elif topic:
            self.system(f"The topic of {label} is: {render.sanitize(topic)}")
        else:
            self.system(f"{label} has no topic.")
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
            if not self.log_control.at_top():
                self.log_control.page_up()
            elif not self.targets.active.history_done:  # else "beginning of history" is in sight
                self.fetch_older(self.targets.active)

        @kb.add("pagedown")
        def _page_down(event: KeyPressEvent) -> None:
            self.log_control.page_down()

        @kb.add("c-end")
        def _to_end(event: KeyPressEvent) -> None:
            self.log.scroll_to_end()

        @kb.add("c-n", filter=~has_completions)
        def _next(event: KeyPressEvent) -> None:
            self.activate(self.targets.step(1))

        @kb.add("c-p", filter=~has_completions)
        def _previous(event: KeyPressEvent) -> None:
            self.activate(self.targets.step(-1))

        return kb

    # -- completion --------------------------------------------------------------------------------------

    def _completion_names(self) -> list[str]:
        """People in the active room (or the other person of the conversation) first, then everyone seen."""
        target = self.targets.active
        first = target.online_names() if target.is_room else [target.name]
        names: dict[str, str] = {}
        for name in (*first, *self.roster.names()):
            if not self._is_me(name):
                names.setdefault(name.casefold(), name)
        return list(names.values())

    def _completion_users(self) -> list[str]:
        names: dict[str, str] = {}
        peers = [target.name for target in self.targets if target.kind is Kind.DM]
        for name in (*peers, *self.roster.names()):
            names.setdefault(name.casefold(), name)
        return list(names.values())

    def _completion_rooms(self) -> list[str]:
        mine = [target.name for target in self.targets.rooms()]
        return [*mine, *sorted(room for room in self.known_rooms if room not in mine)]

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
        target = self.targets.active
        if target.is_room:
            about = f" \u2014 {render.sanitize(target.topic)}" if target.topic else ""
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
        for target in self.targets:
            if target is self.targets.active or not target.unread:
                continue
            style = "class:status.mention" if target.mentions else "class:status.unread"
            parts.append((style, f"[{target.label} {target.unread}]"))
            parts.append(("", " "))
        return parts

    def _status(self) -> StyleAndTextTuples:
        now = self.clock.now().astimezone(self.tz).strftime("%H:%M")
        user = render.sanitize(self.session.username or "?")
        away = ", away" if self.away else ""
        connection, good = self.connection_text()
        parts: StyleAndTextTuples = [
            ("", f" {now} "),
            ("", f"[{user}{away}] "),
            ("", f"[{self.room}] "),
            ("", "["),
            ("class:status.ok" if good else "class:status.bad", connection),
            ("", "] "),
        ]
        parts.extend(self.unread_parts())
        unsent = len(self.session.outbox)
        if unsent:
            parts.append(("class:status.bad", f"[{unsent} unsent] "))
        if not self.log.follow:
            more = f"{self.log.unseen} new below" if self.log.unseen else "scrolled up"
            parts.append(("class:status.more", f"[{more} \u2014 PgDn] "))
        return parts
