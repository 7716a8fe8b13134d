"""The chat's state: events in, what to show out. No prompt_toolkit, no asyncio.

:class:`ChatState` is the :class:`~chatapp.client.ui.model.ChatModel` that takes
what the network session reports in :meth:`ChatState.handle`: server frames
(messages, presence, topics, who and room lists, history pages, answers and
refusals) and the session's own events (link down and up, reconnect attempts,
refused messages, the end). What the user typed comes in through
:mod:`.perform`. The chat screen (:mod:`.screen`) draws the state and feeds
it; tests feed it in memory through the session's protocol part.

What goes where: a room's messages and presence to the room, a direct message
to the conversation with the other person, answers to commands and errors to
the active target.
"""

from __future__ import annotations

import logging

from chatapp.protocol import (
    Away,
    ByeReason,
    Direct,
    Error,
    ErrorCode,
    HistoryPage,
    Joined,
    Left,
    ListRooms,
    Message,
    Presence,
    RoomInfo,
    RoomList,
    SessionClosed,
    SessionList,
    Synced,
    TopicChanged,
    UserInfo,
    WhoList,
)

from ..net.events import (
    E2eNote,
    LinkDown,
    LinkUp,
    ReconnectFailed,
    Reconnecting,
    SendFailed,
    SessionEnded,
    SessionEvent,
    TransferNote,
    TransferProgress,
    Unreadable,
)
from . import sentences
from .lines import dm_peer, history_start_line, parse_timestamp, room_label
from .model import ChatModel
from .modevents import handle_moderation
from .requests import Request
from .sanitize import sanitize, split_text
from .targets import Kind, Target
from .windows import show_lastlog

log = logging.getLogger("chatapp.client.state")


class ChatState(ChatModel):
    """The state of one signed-in chat: see the module docstring."""

    # -- events in --------------------------------------------------------------------------------------

    def handle(self, event: SessionEvent) -> None:
        """Take one event from the session; see the module docstring for what goes where."""
        if isinstance(event, Message):
            target = self.targets.room(event.room)
            target.member = True
            if self.show_message(target, event, live=True) and not event.replayed:
                if target.online.get(event.sender.casefold()) is None:
                    target.set_online(event.sender)
        elif isinstance(event, Direct):
            if not self.ignored(event):  # (an ignored person does not even open a conversation)
                self.show_message(self.targets.dm(dm_peer(event, self.me)), event, live=True)
        elif isinstance(event, SendFailed):
            self.send_failed(event, restored=False)
        elif isinstance(event, LinkDown | Reconnecting | ReconnectFailed | LinkUp | SessionEnded):
            self._link_event(event)
        elif isinstance(event, Unreadable):
            self.unreadable.update(event.notices)
        elif isinstance(event, TransferProgress):
            if event.line is None:
                self.transfers.pop(event.number, None)
            else:
                self.transfers[event.number] = event.line
        elif isinstance(event, TransferNote):
            where = (self.targets.find(Kind.ROOM, event.room) if event.room
                     else self.targets.dm(event.peer) if event.peer else None)
            self.note(event.text, level=event.level, target=where)
        elif isinstance(event, E2eNote):
            where = self.targets.dm(event.peer) if event.peer and not self.is_me(event.peer) else None
            self.note(event.text, level=event.level, target=where)
            if where is not None and where is not self.targets.active:
                where.unread += 1
                where.mentions += 1
        else:
            self._answer(event)

    def _answer(self, event: SessionEvent) -> None:
        """Presence, answers to requests and refusals."""
        if handle_moderation(self, event):
            return
        if isinstance(event, Presence):
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
            request = self.requests.answered(event.ref)
            self.roster.saw(event.username)
            saved = "Your profile is saved.\n" if request is not None and request.action == "profile" else ""
            if request is None or not request.silent:
                self.note(saved + sentences.user_info_text(event, tz=self.tz, now=self.now(), me=self.me))
        elif isinstance(event, SessionList):
            request = self.requests.answered(event.ref)
            whose = event.user or (request.user if request is not None and request.action == "user_sessions"
                                   else None)
            text = sentences.session_list_text(event.sessions, tz=self.tz, now=self.now(), user=whose)
            self.note(text)
        elif isinstance(event, SessionClosed):
            self.requests.answered(event.ref)
            self.note(f"Session {event.id} is signed out; its saved login no longer works.", level="ok")
        elif isinstance(event, Error):
            self._error(event)
        else:
            log.debug("not shown: %r", event)

    def send_failed(self, event: SendFailed, *, restored: bool) -> None:
        """The server refused a message; ``restored``: the screen put its text back in the input line."""
        outgoing = event.outgoing
        preview = split_text(outgoing.text)[0]
        if len(preview) > 40:
            preview = preview[:39] + "\u2026"
        if event.error.code == ErrorCode.NO_SUCH_USER and outgoing.to:
            target = self.targets.find(Kind.DM, outgoing.to)
            if target is not None:
                self.drop_empty_dm(target)
        back = " The text is back in the input line." if restored else ""
        why = sentences.send_refusal(event, tz=self.tz, now=self.now())
        self.note(f"Not sent ({preview!r}): {why}{back}", level="error")

    def _link_event(self, event: LinkDown | Reconnecting | ReconnectFailed | LinkUp | SessionEnded) -> None:
        if isinstance(event, LinkDown):
            for request in self.requests.clear():
                if request.target is not None:
                    request.target.history_pending = False
            self._who_asked.clear()
            self.dialogue = None  # a question asked on a link that is gone is not answered
            for target in self.targets:
                target.log.arm_marker()  # what is replayed after the reconnect is marked as unread
            why = sentences.describe_link_down(event.bye, event.error, event.bye_message)
            if event.reconnect:
                self.note(f"{why} Reconnecting by itself; what you type is kept.", level="error")
            else:
                self.note(why, level="error")
        elif isinstance(event, ReconnectFailed):
            if event.code:
                why = sentences.describe_error(event.code, event.reason, event.retry_after)
            else:
                why = sanitize(event.reason).rstrip(".") + "."
            self.note(f"Reconnect attempt {event.attempt} failed: {why}", level="error")
        elif isinstance(event, LinkUp):
            self._away_restored = False
            waiting = len(self.outlet.outbox)
            plural = "s" if waiting != 1 else ""
            sending = f" Sending {waiting} message{plural} typed meanwhile." if waiting else ""
            self.note(f"Reconnected to {self.address}; session resumed.{sending}", level="ok")
            for target in self.targets.rooms():
                self.ask_who(target)
        elif isinstance(event, SessionEnded):
            self.dialogue = None
            if event.bye == ByeReason.QUIT and self.quitting:
                return
            why = sentences.why_ended(event) or "The session is closed."
            self.farewell = why
            self.note(f"{why} Not reconnecting. Press Ctrl-D or type /quit to leave.", level="error")
        # Reconnecting: the status bar shows the countdown.

    def _presence(self, event: Presence) -> None:
        self.requests.answered(event.ref)  # our own away/back carries the ref of the request it answers
        name = event.username
        own_arrival = self.is_me(name) and event.event in ("online", "join")
        if not own_arrival and self.targets.find(Kind.ROOM, event.room) is None:
            return  # a room one was just put out of (a kick's "left" after its room_event): not reopened
        target = self.targets.room(event.room)  # presence only comes for one's own rooms
        if self.is_me(name):
            self._own_presence(target, event)
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
        text, level = sentences.presence_text(event)
        self.note(text, level=level, target=target)

    def _own_presence(self, target: Target, event: Presence) -> None:
        if event.event in ("online", "join"):
            target.member = True
            target.set_online(event.username, self.away)
            if event.event == "online":
                self.note(f"You are online in {target.label}.", level="join", target=target)
                if self.away and not self._away_restored:
                    # A fresh sign-in on the server forgot it: say it again.
                    self._away_restored = True
                    away = self.away
                    self.ask(Request("away", silent=True), lambda ref: Away(text=away, ref=ref))
            self.ask_who(target)
        elif event.event == "leave":
            target.set_offline(event.username)
        elif event.event in ("away", "back"):
            self._own_away(event.text if event.event == "away" else None)
            target.set_online(event.username, self.away)

    def _own_away(self, text: str | None) -> None:
        if text == self.away:
            return
        self.away = text
        if text:
            self.note(f"You are marked as away: {sanitize(text)}. /away alone brings you back.")
        else:
            self.note("You are back.")

    def _joined(self, event: Joined) -> None:
        request = self.requests.answered(event.ref)
        target = self.targets.room(event.room)
        fresh = request.fresh if request is not None else not target.member
        target.member = True
        target.topic = event.topic
        target.private = event.private
        target.role = event.role
        target.fetched = True  # the join brings the room's recent messages
        self.activate(target)
        topic = f" Topic: {sanitize(event.topic)}" if event.topic else ""
        if event.created:
            self.note(f"You created {target.label} and own it: /topic TEXT sets its topic.", level="join")
        elif fresh:
            self.note(f"You joined {target.label}.{topic}", level="join")
        self.ask_who(target)

    def _left(self, event: Left) -> None:
        self.requests.answered(event.ref)
        target = self.targets.find(Kind.ROOM, event.room)
        if target is None:
            return
        last = len(self.targets) <= 1
        again = " /join a room to talk again (/rooms lists them)." if last else ""
        self.drop_room(target, f"You left {target.label}.{again}")

    def _history_page(self, page: HistoryPage) -> None:
        request = self.requests.answered(page.ref)
        if page.room is not None:
            target = self.targets.room(page.room)
        elif page.with_ is not None:
            target = self.targets.dm(page.with_)
        else:
            return
        if request is None or request.action != "history":
            for message in page.messages:  # a join's (or a new account's) recent messages
                self.show_message(target, message, live=False)
            return
        sources = []
        target.history_pending = False
        items = []
        for message in page.messages:
            if self.ignored(message):
                continue
            when = parse_timestamp(message.ts) or self.now()
            items.append((message.id, self.lines_of(message, when), when))
            sources.append(message)
            self.roster.saw(message.sender)
        added = target.log.prepend(items)
        for message in sources:
            target.log.remember(message)
        if not page.has_more and not target.history_done:
            target.history_done = True
            target.log.note_at_top([history_start_line(target.label)])
            added += 1
        if request.scroll and added and target is self.targets.active:
            target.log.page_up_pending = True  # into what was asked for, as PageUp would
        if target.lastlog is not None:
            show_lastlog(self, target)

    def _synced(self, event: Synced) -> None:
        self.active.log.disarm_marker()  # what was missed is in; from now on you are looking
        if event.has_more:
            self.note("You missed more messages than the server replays at once; only the newest are shown.")
        self.ask(Request("rooms", silent=True), lambda ref: ListRooms(ref=ref))
        self.fetch_recent(self.targets.active)

    def _who_list(self, event: WhoList) -> None:
        request = self.requests.answered(event.ref)
        target = self.targets.find(Kind.ROOM, event.room)
        if target is not None:
            target.online = {user.username.casefold(): user for user in event.users}
            mine = target.online.get(self.me.casefold())
            if mine is not None:
                target.role = mine.role
        for user in event.users:
            if not self.is_me(user.username):  # one's own away state comes from presence
                self.roster.joined(user.username)
        if request is None or not request.silent:
            self.note(sentences.who_text(event.room, event.users))

    def _room_list(self, event: RoomList) -> None:
        request = self.requests.answered(event.ref)
        self.known_rooms = {room.name: room for room in event.rooms}
        for room in event.rooms:
            if room.joined:
                target = self.targets.room(room.name)
                target.member = True
                target.topic = room.topic
                target.private = room.private
        if request is None or not request.silent:
            self.note(sentences.room_list_text(event.rooms))

    def _topic_changed(self, event: TopicChanged) -> None:
        self.requests.answered(event.ref)
        target = self.targets.find(Kind.ROOM, event.room)
        if target is not None:
            target.topic = event.text
        known = self.known_rooms.get(event.room)
        if known is not None:
            self.known_rooms[event.room] = RoomInfo(
                name=known.name, topic=event.text, members=known.members, online=known.online,
                joined=known.joined, private=known.private,
            )
        who = "You" if self.is_me(event.by) else sanitize(event.by)
        label = room_label(event.room)
        if event.text:
            text = f"{who} set the topic of {label} to: {sanitize(event.text)}"
        else:
            text = f"{who} cleared the topic of {label}."
        self.note(text, target=target if target is not None and target.member else None)

    def _error(self, event: Error) -> None:
        request = self.requests.answered(event.ref)
        if request is None:
            text = sentences.describe_error(
                event.code, event.message, event.retry_after, until=event.until, tz=self.tz, now=self.now()
            )
            self.note(text, level="error")
            return
        if request.action == "history" and request.target is not None:
            request.target.history_pending = False
            if request.target.lastlog is not None:
                show_lastlog(self, request.target)  # in what is here, then
        if request.silent:
            log.info("a request of the client was refused (%s): %s", request.action, event.code)
            return
        if request.action == "history" and request.target is not None and request.target.kind is Kind.DM:
            self.drop_empty_dm(request.target)
        text = sentences.describe_refusal(
            event.code, event.message, event.retry_after,
            action=request.action, room=request.room, user=request.user, until=event.until, tz=self.tz,
            now=self.now(),
        )
        self.note(text, level="error")
