"""The model of the chat: rooms and conversations, people, pending requests. No prompt_toolkit, no asyncio.

:class:`ChatModel` holds what the chat screen shows:

- every room and direct conversation (:class:`~chatapp.client.ui.targets.Targets`)
  with its lines in id order, unread and mention counts, topic, who is online;
- the active one, and the messages to it still being sent (:meth:`ChatModel.pending_lines`);
- the people seen (:class:`~chatapp.client.ui.roster.Roster`), every room the
  server listed (for completion), your own away message;
- the requests waiting for an answer, by ref (:class:`~chatapp.client.ui.requests.Requests`);
- ``farewell``: what to tell the terminal when the session ended by itself.

and the moves the rest is made of: a note in a target's lines, a message put
in its place (once, in id order, counted as unread), a request sent, older
messages fetched. Events from the session come in through its subclass
:class:`~chatapp.client.ui.state.ChatState`; typed commands through
:mod:`.perform`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from chatapp.protocol import (
    DEFAULT_ROOM,
    ClientFrame,
    Direct,
    History,
    ListRooms,
    Message,
    ProtocolError,
    RoomInfo,
    Who,
)
from chatapp.protocol.limits import HISTORY_PAGE_DEFAULT, JOIN_CONTEXT

from ..net.errors import SendRefused
from ..settings_store import SettingsStore
from . import sentences
from .chatlog import ChatLog
from .ignores import IgnoreList
from .lines import (
    TIME_FORMAT,
    Line,
    mentions,
    message_lines,
    parse_timestamp,
    pending_lines,
    system_lines,
)
from .links import RecentLinks
from .requests import Outlet, Request, Requests
from .roster import Roster
from .targets import HIGHLIGHTS, Kind, Target, Targets

if TYPE_CHECKING:
    from .dialogue import Dialogue
    from .e2ecommands import E2eControl
    from .filecommands import FileControl
    from .logfiles import LogFiles


ROOMS_REFRESH = 3.0
"""Seconds between two room lists asked for by completion (Tab held down asks once)."""


class ChatModel:
    """What the chat holds, and the moves every part of it makes: see the module docstring.

    ``outlet`` sends messages and requests (the session); ``me`` is the signed-in
    username; ``address`` names the server in notes; ``now`` gives the time of notes.
    """

    def __init__(
        self,
        outlet: Outlet,
        me: str,
        *,
        address: str,
        now: Callable[[], datetime],
        tz: tzinfo | None = None,
        room: str = DEFAULT_ROOM,
        max_lines: int = 5000,
    ) -> None:
        self.outlet = outlet
        self.me = me
        self.address = address
        self.now = now
        self.tz = tz
        self.targets = Targets(room, max_lines=max_lines, tz=tz)
        self.roster = Roster(me)
        self.requests = Requests(outlet)
        self.known_rooms: dict[str, RoomInfo] = {}
        """Every room from the last ``/rooms`` answer (asked for after each sign-in), for completion."""
        self.away: str | None = None
        """Your own away message, as the server last said (None: not away)."""
        self.farewell: str | None = None
        """What to print on the terminal after the screen closes (set when the session ended)."""
        self.quitting = False
        """The user asked to leave: the session's end needs no explanation."""
        self.dialogue: Dialogue | None = None
        """A question the next line answers instead of being a message or command (``/passwd``)."""
        self.users_next: tuple[str | None, str] | None = None
        """After a ``/users`` page with more: its query and the last name, for ``/users more``."""
        self.audit_next: int | None = None
        """After an ``/audit`` page with more: the oldest event id shown, for ``/audit more``."""
        self.time_format = TIME_FORMAT
        """How message times are shown (the ``timestamp_seconds`` and ``timestamp_date`` settings)."""
        self.log_files: LogFiles | None = None
        """Where messages shown live are also written, when the ``logs`` setting is on (the screen's)."""
        self.settings = SettingsStore()
        """The settings of this run (``/set``); the screen gives the one read from the settings file."""
        self.e2e: E2eControl | None = None
        """The encrypting session, when a device is unlocked in this run (``/verify``, ``/plain``, ...)."""
        self.e2e_off: str | None = None
        """Why encryption is off in this run, for the commands that need it."""
        self.files: FileControl | None = None
        """The session's transfers (``/upload``, ``/download``)."""
        self.transfers: dict[int, str] = {}
        """The transfers going on, by number: their progress line (shown above the status bar)."""
        self.unreadable: dict[int, str] = {}
        """Encrypted messages this device cannot read, by id: the notice shown instead."""
        self.new_password: str | None = None
        """``/passwd``'s new password until the server took it (then the device key is wrapped under it)."""
        self.ignores = IgnoreList()
        """People whose messages are not shown (``/ignore``); the screen loads and saves the file."""
        self.ignores_changed = False
        """``/ignore`` or ``/unignore`` changed the list: the screen saves it and clears this."""
        self.links = RecentLinks()
        """The newest links in messages, for ``/url``."""
        self.bells = 0
        """Highlights (your name, a highlight word, a direct message) not rung yet: the screen rings the
        terminal bell and sets this back to 0."""
        self._who_asked: set[str] = set()
        self._rooms_asked: datetime | None = None
        self.complete_rooms_again = False
        """Tab found no room and asked for the list: the screen completes again when it comes."""
        self._away_restored = True

    # -- the active target ----------------------------------------------------------------------------

    @property
    def active(self) -> Target:
        return self.targets.active

    @property
    def log(self) -> ChatLog:
        """The lines on screen (the active target's)."""
        return self.targets.active.log

    @property
    def room(self) -> str:
        """The label of the active target (``#general``, ``@bob``)."""
        return self.targets.active.label

    def activate(self, target: Target) -> None:
        """Show ``target``; the first time, fetch what was said there before."""
        self.targets.activate(target)
        self.fetch_recent(target)

    def is_me(self, name: str) -> bool:
        return name.casefold() == self.me.casefold()

    # -- lines -----------------------------------------------------------------------------------------

    def note(self, text: str, *, level: str = "info", target: Target | None = None) -> None:
        """A note from the client, in ``target``'s lines (default: the active one's)."""
        where = target or self.targets.active
        lines = system_lines(text, self.now(), tz=self.tz, level=level, time_format=self.time_format)
        where.log.append(lines)


    def try_send(self, send: Callable[[], object]) -> bool:
        """Run ``send`` (a message handed to the session); True, with a note saying why, when it
        was refused, so that the typed text stays in the input line; else the pane follows it."""
        try:
            send()
        except ProtocolError as exc:
            why = sentences.describe_error(exc.code, exc.message)
            self.note(f"Not sent: {why} The text is kept.", level="error")
            return True
        except SendRefused as exc:
            self.note(f"Not sent: {exc}. The text is kept.", level="error")
            return True
        self.log.scroll_to_end()
        return False
    def pending_lines(self) -> list[Line]:
        """Messages to the active target not acknowledged yet, shown after its lines (dim, marked)."""
        target = self.targets.active
        lines: list[Line] = []
        # Online, a message waiting its turn (they go one at a time, paced) is "sending" too.
        offline = not self.outlet.online
        for outgoing in self.outlet.outbox:
            if self._outgoing_target(outgoing.room, outgoing.to) is target:
                lines.extend(pending_lines(outgoing.text, self.me, queued=outgoing.queued and offline,
                                           action=outgoing.action))
        return lines

    def _outgoing_target(self, room: str | None, to: str | None) -> Target | None:
        if to is not None:
            return self.targets.find(Kind.DM, to)
        return self.targets.find(Kind.ROOM, room or DEFAULT_ROOM)

    @property
    def highlight_words(self) -> tuple[str, ...]:
        """Words that highlight a message as your name does (the ``highlight_words`` setting)."""
        return self.settings.current.highlight_words

    def ignored(self, message: Message | Direct) -> bool:
        """From someone on the ``/ignore`` list (never your own)."""
        return message.sender in self.ignores and not self.is_me(message.sender)

    def is_highlight(self, message: Message | Direct) -> bool:
        """A message from someone else that names you or a highlight word, or is a direct message."""
        if self.is_me(message.sender) or message.removed_by is not None:
            return False
        if isinstance(message, Direct):
            return True
        return any(mentions(message.text, word) for word in (self.me, *self.highlight_words))

    def show_message(self, target: Target, message: Message | Direct, *, live: bool) -> bool:
        """Put a message in its target's lines (in id order, once); count it as unread if it is news.

        Messages from ignored people are dropped. A live highlight (your name, a
        highlight word, a direct message) is copied to the highlights window and,
        unless replayed after a reconnect, rings the bell.
        """
        if self.ignored(message):
            return False
        when = parse_timestamp(message.ts) or self.now()
        lines = self.lines_of(message, when)
        if live and not self.is_me(message.sender):
            target.log.mark_unread(message.id)
        if not target.log.add_message(message.id, lines, when):
            return False
        target.log.remember(message)
        self.links.saw(message.text, target.label, message.sender)
        if live and self.log_files is not None and message.text and message.id not in self.unreadable:
            encrypted = isinstance(message, Direct) and message.e2e is not None
            self.log_files.message("room" if target.is_room else "dm", target.name, when, message.sender,
                                   message.text, encrypted=encrypted)
        if live and not message.replayed:
            self.roster.spoke(message.sender)
        else:
            self.roster.saw(message.sender)
        highlight = live and self.is_highlight(message)
        if live and target is not self.targets.active and not self.is_me(message.sender):
            target.unread += 1
            if highlight:
                target.mentions += 1
        if highlight:
            self._highlighted(message, when)
        return True

    def _highlighted(self, message: Message | Direct, when: datetime) -> None:
        view = self.targets.view(HIGHLIGHTS)
        view.log.append(message_lines(message, self.me, tz=self.tz, received=when, show_room=True,
                                      notice=self.unreadable.get(message.id), time_format=self.time_format,
                                      highlights=self.highlight_words), when)
        if not message.replayed:  # (not counted as unread there: it is counted where it was said)
            self.bells += 1

    def lines_of(self, message: Message | Direct, when: datetime) -> list[Line]:
        """A message's lines, with the encryption marks where encryption is on (or the message encrypted)."""
        return message_lines(message, self.me, tz=self.tz, received=when, time_format=self.time_format,
                             notice=self.unreadable.get(message.id), plain_mark=self.e2e is not None,
                             highlights=self.highlight_words)

    # -- requests to the server ------------------------------------------------------------------------

    def ask(self, request: Request, build: Callable[[int], ClientFrame]) -> bool:
        """Send a request; False (and a note, unless silent) when not connected."""
        refused = self.requests.ask(request, build)
        if refused is not None and not request.silent:
            self.note(f"Not done: {refused}. Try again once the client is connected.", level="error")
        return refused is None

    def refresh_rooms(self) -> None:
        """Ask the server for its room list again (silently, for completion and ``/join``), unless asked
        within the last seconds."""
        now = self.now()
        if self._rooms_asked is not None and abs((now - self._rooms_asked).total_seconds()) < ROOMS_REFRESH:
            return
        if self.ask(Request("rooms", silent=True), lambda ref: ListRooms(ref=ref)):
            self._rooms_asked = now

    def ask_who(self, target: Target) -> None:
        """Learn who is online in a room (once per connection), for the roster and completion."""
        if target.name in self._who_asked or not target.member or not self.outlet.online:
            return
        self._who_asked.add(target.name)
        name = target.name
        self.ask(Request("who", room=name, silent=True), lambda ref: Who(room=name, ref=ref))

    def fetch_recent(self, target: Target) -> None:
        """The first time a room or conversation with few messages is shown: fetch the ones before."""
        if target.fetched or target.log.message_count >= JOIN_CONTEXT or not self.outlet.online:
            return
        if target.kind is Kind.VIEW:
            return
        if target.is_room and not target.member:
            return
        target.fetched = True
        self.fetch_older(target, JOIN_CONTEXT, silent=True, scroll=False)

    def fetch_older(self, target: Target, limit: int = HISTORY_PAGE_DEFAULT, *, silent: bool = False,
                    scroll: bool = True) -> None:
        """Ask for the page of messages before the oldest one in ``target``'s lines."""
        if target.history_pending or target.kind is Kind.VIEW:
            return
        if target.history_done:
            if not silent:
                self.note(f"That is the beginning of the history of {target.label}.")
            return
        if target.is_room and not target.member:
            if not silent:
                self.note(f"You are not in {target.label} any more.", level="error")
            return
        before = target.log.oldest_id
        if target.is_room:
            request = Request("history", room=target.name, target=target, silent=silent, scroll=scroll)
            room = target.name

            def build(ref: int) -> ClientFrame:
                return History(room=room, before=before, limit=limit, ref=ref)
        else:
            request = Request("history", user=target.name, target=target, silent=silent, scroll=scroll)
            peer = target.name

            def build(ref: int) -> ClientFrame:
                return History(with_=peer, before=before, limit=limit, ref=ref)

        if self.ask(request, build):
            target.history_pending = True

    def drop_room(self, target: Target, text: str, *, level: str = "leave") -> None:
        """You are no longer in a room (left, kicked, banned, deleted): close it and say ``text``.

        The last target stays on screen, marked as left; otherwise its neighbour is shown.
        """
        target.member = False
        target.online.clear()
        target.role = None
        self._who_asked.discard(target.name)
        if self.targets.remove(target):
            self.activate(self.targets.active)
            self.note(text, level=level)
        else:
            self.note(text, level=level, target=target)

    def drop_empty_dm(self, target: Target) -> None:
        """A conversation with someone who does not exist: close it again (unless it has messages)."""
        if target.kind is Kind.DM and target.log.message_count == 0 and self.targets.remove(target):
            self.activate(self.targets.active)
