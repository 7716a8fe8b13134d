"""The chat's state in memory: frames through the session's protocol part, then assertions on what to show.

No socket, no event loop, no terminal: a :class:`SessionCore` signed in by
hand is the outlet, so what the state sends is read back as frames, and
what the server answers goes in through the same core the real client uses.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from chatapp.client import LinkDown, LinkUp, SendFailed, SessionEnded
from chatapp.client.net.core import SessionCore, SignInAnswer
from chatapp.client.net.link import frame_size
from chatapp.client.ui import actions
from chatapp.client.ui.commands import parse
from chatapp.client.ui.perform import perform
from chatapp.client.ui.state import ChatState
from chatapp.client.ui.targets import Target
from chatapp.protocol import (
    AuthOk,
    Away,
    ByeReason,
    ClientFrame,
    Direct,
    Error,
    ErrorCode,
    History,
    HistoryPage,
    Join,
    Joined,
    Left,
    ListRooms,
    Login,
    Message,
    OnlineUser,
    Presence,
    RoomInfo,
    RoomList,
    Send,
    SendDirect,
    ServerFrame,
    Synced,
    TopicChanged,
    Welcome,
    Who,
    WhoList,
)

NOW = datetime(2026, 11, 26, 9, 12, tzinfo=UTC)
TS = "2026-11-26T09:10:00.000Z"


class Chat:
    """A signed-in ``ChatState`` over an in-memory ``SessionCore``."""

    def __init__(self) -> None:
        self.core = SessionCore(frame_size=frame_size, rng=random.Random(2))
        self.core.receive(Welcome(server="test", version=1, max_frame=65536, max_text=4000), now=0.0)
        login = self.core.sign_in(lambda ref: Login(username="alice", password="secret words", ref=ref))
        self.core.receive(AuthOk(username="alice", token="t", ref=login.ref), now=0.0)
        self.core.events_received()
        self.state = ChatState(self.core, "alice", address="chat.example:7777", now=lambda: NOW, tz=UTC)
        self.ids = 100

    def feed(self, *frames: ServerFrame) -> None:
        """What the server sends, through the core (acknowledgments, ids seen), into the state."""
        for frame in frames:
            self.core.receive(frame, now=0.0)
            for event in self.core.events_received():
                assert not isinstance(event, SignInAnswer | Welcome)
                self.state.handle(event)

    def sent(self) -> list[ClientFrame]:
        return self.core.frames_to_send()

    def type(self, line: str) -> bool:
        """A line typed on the screen; True when it stays in the input line."""
        action = parse(line)
        assert not isinstance(action, actions.QuitChat | actions.ReconnectNow)
        return perform(self.state, action)

    def message(self, sender: str, text: str, room: str = "general") -> Message:
        self.ids += 1
        return Message(id=self.ids, room=room, sender=sender, text=text, ts=TS)

    def target(self, label: str) -> Target:
        target = self.state.targets.resolve(label)
        assert target is not None, label
        return target

    def shown(self, label: str | None = None) -> list[str]:
        """The lines of a target (default: the active one), as plain text."""
        target = self.state.active if label is None else self.target(label)
        return [line.plain for line in target.log.lines]


def test_messages_go_to_their_room_and_count_as_unread_elsewhere() -> None:
    chat = Chat()
    chat.feed(
        chat.message("bob", "hello all"),
        chat.message("bob", "in rust", room="rust"),
        chat.message("carol", "alice: look", room="rust"),
        chat.message("alice", "mine", room="rust"),
    )
    assert chat.shown() == ["09:10 <bob> hello all"]
    rust = chat.target("#rust")
    assert rust.member and (rust.unread, rust.mentions) == (2, 1)  # not one's own
    assert chat.state.active.unread == 0
    assert chat.state.roster.names() == ["carol", "bob"]  # most recently active first, never oneself
    chat.state.activate(rust)
    assert rust.unread == rust.mentions == 0
    assert chat.shown() == ["09:10 <bob> in rust", "09:10 <carol> alice: look", "09:10 <alice> mine"]


def test_a_message_arriving_twice_is_shown_once_and_in_id_order() -> None:
    chat = Chat()
    late, early = chat.message("bob", "second"), chat.message("bob", "third")
    first = Message(id=50, room="general", sender="bob", text="first", ts=TS)
    chat.state.handle(late)
    chat.state.handle(early)
    chat.state.handle(late)  # a replay overlapping what is shown
    chat.state.handle(first)  # an older id, late: goes to its place
    assert chat.shown() == ["09:10 <bob> first", "09:10 <bob> second", "09:10 <bob> third"]


def test_a_direct_message_opens_the_conversation_and_always_counts() -> None:
    chat = Chat()
    chat.feed(Direct(id=7, sender="Bob", to="alice", text="psst", ts=TS))
    bob = chat.target("@bob")
    assert (bob.unread, bob.mentions) == (1, 1) and bob.name == "Bob"
    assert chat.shown("@bob") == ["09:10 <Bob> psst"]
    chat.feed(Direct(id=8, sender="alice", to="Bob", text="my answer", ts=TS))  # one's own, sent elsewhere
    assert chat.shown("@bob")[-1] == "09:10 <alice> my answer" and bob.unread == 1


def test_typing_sends_to_the_active_target_and_shows_it_until_the_echo() -> None:
    chat = Chat()
    assert not chat.type("hello there")
    [sent] = chat.sent()
    assert isinstance(sent, Send) and sent.room == "general" and sent.text == "hello there"
    assert [line.plain for line in chat.state.pending_lines()] == ["--:-- <alice> hello there  (sending)"]
    chat.feed(Message(id=9, room="general", sender="alice", text="hello there", ts=TS, nonce=sent.nonce))
    assert chat.state.pending_lines() == [] and chat.shown()[-1] == "09:10 <alice> hello there"


def test_a_refused_message_is_explained_with_what_it_was() -> None:
    chat = Chat()
    chat.type("spam")
    [sent] = chat.sent()
    chat.feed(Error(code=ErrorCode.MUTED, message="muted", ref=sent.ref))
    assert chat.shown()[-1] == (
        "09:12 -!- Not sent ('spam'): You are muted in #general: you can read but not send."
    )
    assert chat.core.outbox == ()
    chat.type("again")
    [again] = chat.sent()
    refusal = Error(code=ErrorCode.MUTED, message="muted", ref=again.ref)
    chat.core.receive(refusal, now=0.0)
    [failed] = chat.core.events_received()
    assert isinstance(failed, SendFailed)
    chat.state.send_failed(failed, restored=True)  # the screen put the text back in the input line
    assert chat.shown()[-1].endswith("you can read but not send. The text is back in the input line.")


def test_text_the_rules_refuse_stays_in_the_input_line() -> None:
    chat = Chat()
    assert chat.type("x" * 4001)
    assert chat.shown()[-1].startswith("09:12 -!- Not sent: That message is too long: ")
    assert chat.sent() == []
    assert chat.type("/qiut")
    assert chat.shown()[-1].startswith("09:12 -!- Unknown command /qiut. Did you mean /quit?")


def test_coming_online_in_a_room_asks_who_is_there_once() -> None:
    chat = Chat()
    chat.feed(Presence(event="online", room="rust", username="alice"))
    assert chat.shown("#rust") == ["09:12 -!- You are online in #rust."]
    [who] = chat.sent()
    assert who == Who(room="rust", ref=who.ref)
    users = [OnlineUser(username="alice"), OnlineUser(username="bob", away="lunch")]
    chat.feed(WhoList(room="rust", users=users, ref=who.ref))
    rust = chat.target("#rust")
    assert rust.online_names() == ["alice", "bob"] and rust.online["bob"].away == "lunch"
    assert chat.shown("#rust") == ["09:12 -!- You are online in #rust."]  # the client's own question: no note
    assert "bob" in chat.state.roster.online() and len(chat.state.requests) == 0
    chat.feed(Presence(event="online", room="rust", username="alice"))
    assert chat.sent() == []  # asked once per connection


def test_others_coming_and_going_are_noted_in_their_room() -> None:
    chat = Chat()
    chat.feed(
        Presence(event="join", room="general", username="bob"),
        Presence(event="away", room="general", username="bob", text="lunch"),
        Presence(event="offline", room="general", username="bob"),
    )
    assert chat.shown() == [
        "09:12 -!- bob joined #general", "09:12 -!- bob is away: lunch", "09:12 -!- bob went offline",
    ]
    assert chat.state.active.online == {} and chat.state.roster.online() == []


def test_joining_a_room_shows_it_with_its_topic_and_recent_messages() -> None:
    chat = Chat()
    assert not chat.type("/join -create #Rust")
    [join] = chat.sent()
    assert join == Join(room="rust", ref=join.ref)
    recent = Message(id=3, room="rust", sender="carol", text="earlier", ts=TS)
    chat.feed(
        Joined(room="rust", topic="Rust talk", ref=join.ref),
        HistoryPage(messages=[recent], has_more=True, room="rust"),
    )
    assert chat.state.room == "#rust"
    assert chat.shown() == ["09:12 -!- You joined #rust. Topic: Rust talk", "09:10 <carol> earlier"]
    assert chat.target("#rust").topic == "Rust talk"
    assert [type(frame) for frame in chat.sent()] == [Who]  # who is online there, for the roster


def test_a_refused_request_names_what_it_was_about() -> None:
    chat = Chat()
    chat.type("/who #nope")
    [who] = chat.sent()
    chat.feed(Error(code=ErrorCode.NO_SUCH_ROOM, message="no", ref=who.ref))
    assert chat.shown()[-1] == (
        "09:12 -!- There is no room #nope; /rooms lists them, /join -create nope creates it."
    )
    chat.type("/topic #ops mine")
    [topic] = chat.sent()
    chat.feed(Error(code=ErrorCode.FORBIDDEN, message="owner only", ref=topic.ref))
    assert chat.shown()[-1] == "09:12 -!- Only the owner and operators of #ops can set its topic."
    chat.feed(Error(code=ErrorCode.SERVER_ERROR, message="oops"))  # about nothing asked
    assert chat.shown()[-1] == "09:12 -!- The server could not handle that request; please try again."


def test_history_is_put_on_top_until_the_beginning() -> None:
    chat = Chat()
    chat.feed(Message(id=40, room="general", sender="bob", text="latest", ts=TS))
    chat.state.fetch_older(chat.state.active, 2)
    [ask] = chat.sent()
    assert ask == History(room="general", before=40, limit=2, ref=ask.ref)
    chat.state.fetch_older(chat.state.active)
    assert chat.sent() == []  # one page at a time
    older = [Message(id=n, room="general", sender="carol", text=f"old {n}", ts=TS) for n in (38, 39)]
    chat.feed(HistoryPage(messages=older, has_more=False, room="general", ref=ask.ref))
    assert chat.shown() == [
        "-- Beginning of the history of #general --",
        "09:10 <carol> old 38", "09:10 <carol> old 39", "09:10 <bob> latest",
    ]
    chat.type("/history")
    assert chat.sent() == []
    assert chat.shown()[-1] == "09:12 -!- That is the beginning of the history of #general."


def test_a_lost_link_forgets_the_questions_and_refuses_new_ones() -> None:
    chat = Chat()
    chat.state.fetch_older(chat.state.active)
    chat.sent()
    assert chat.state.active.history_pending
    chat.core.link_lost()
    chat.state.handle(LinkDown(bye=ByeReason.SHUTDOWN, error=None))
    assert not chat.state.active.history_pending and len(chat.state.requests) == 0
    assert chat.shown()[-1] == (
        "09:12 -!- The server is shutting down. Reconnecting by itself; what you type is kept."
    )
    assert chat.type("/who")  # kept, to try again
    assert chat.shown()[-1] == "09:12 -!- Not done: not connected. Try again once the client is connected."
    assert not chat.type("typed while down")  # messages wait in the outbox
    [waiting] = chat.state.pending_lines()
    assert waiting.plain == "--:-- <alice> typed while down  (queued: not connected)"


def test_after_resuming_the_rosters_and_the_away_message_are_restored() -> None:
    chat = Chat()
    chat.feed(Presence(event="online", room="general", username="alice"))
    chat.type("/away lunch")
    [_, away] = chat.sent()
    chat.feed(Presence(event="away", room="general", username="alice", text="lunch", ref=away.ref))
    assert chat.state.away == "lunch"
    assert chat.shown()[-1] == "09:12 -!- You are marked as away: lunch. /away alone brings you back."
    chat.core.link_lost()
    chat.state.handle(LinkDown(bye=None, error="connection reset by the server"))
    resume = chat.core.resume()
    chat.core.receive(AuthOk(username="alice", token="", ref=resume.ref), now=0.0)
    chat.core.events_received()
    chat.state.handle(LinkUp(Welcome(server="test", version=1, max_frame=65536, max_text=4000), attempt=2))
    assert chat.shown()[-1] == "09:12 -!- Reconnected to chat.example:7777; session resumed."
    [who] = chat.sent()
    assert who == Who(room="general", ref=who.ref)
    # The server restarted and signed us in afresh: it forgot the away message, so the client says it again.
    chat.feed(Presence(event="online", room="general", username="alice"))
    [again] = chat.sent()
    assert again == Away(text="lunch", ref=again.ref)
    chat.feed(Presence(event="online", room="general", username="alice"))
    assert chat.sent() == []  # once


def test_after_signing_in_the_room_list_and_recent_history_are_asked_for() -> None:
    chat = Chat()
    chat.feed(Synced(last_id=0))
    rooms, history = chat.sent()
    assert rooms == ListRooms(ref=rooms.ref)
    assert history == History(room="general", before=None, limit=history.limit, ref=history.ref)
    listing = [RoomInfo(name="general", topic="", members=3, online=2, joined=True),
               RoomInfo(name="rust", topic="Rust talk", members=2, online=1, joined=True),
               RoomInfo(name="ops", topic="", members=1, online=0, joined=False)]
    chat.feed(RoomList(rooms=listing, ref=rooms.ref))
    assert set(chat.state.known_rooms) == {"general", "rust", "ops"}
    assert chat.target("#rust").topic == "Rust talk" and chat.state.targets.resolve("#ops") is None
    assert chat.shown() == []  # asked by the client itself: nothing to say


def test_a_topic_change_is_noted_in_its_room() -> None:
    chat = Chat()
    chat.feed(TopicChanged(room="general", text="be \x1b[31mkind", by="bob"))
    assert chat.shown() == ["09:12 -!- bob set the topic of #general to: be \u241b[31mkind"]
    assert chat.state.active.topic == "be \x1b[31mkind"  # kept as given, sanitised when shown


def test_a_conversation_with_nobody_closes_again() -> None:
    chat = Chat()
    assert not chat.type("/msg nobody hello?")
    assert chat.state.room == "@nobody"
    history, message = chat.sent()
    assert isinstance(history, History) and history.with_ == "nobody"
    assert isinstance(message, SendDirect) and message.to == "nobody"
    chat.feed(Error(code=ErrorCode.NO_SUCH_USER, message="no", ref=message.ref))
    assert chat.state.room == "#general" and chat.state.targets.resolve("@nobody") is None
    assert chat.shown()[-1] == "09:12 -!- Not sent ('hello?'): There is no user named nobody."


def test_leaving_the_last_room_keeps_it_on_screen() -> None:
    chat = Chat()
    chat.type("/leave")
    [leave] = chat.sent()
    chat.feed(Left(room="general", ref=leave.ref))
    assert chat.shown()[-1] == "09:12 -!- You left #general. /join a room to talk again (/rooms lists them)."
    assert not chat.state.active.member
    assert chat.type("anyone?")
    assert chat.shown()[-1] == (
        "09:12 -!- You are not in #general; /join general to go back. The text is kept."
    )
    assert chat.sent() == []


def test_the_end_of_the_session_is_explained_unless_one_is_leaving() -> None:
    chat = Chat()
    chat.state.handle(SessionEnded(bye=ByeReason.REPLACED))
    why = "You signed in from somewhere else, so this session was closed."
    assert chat.state.farewell == why
    assert chat.shown()[-1] == f"09:12 -!- {why} Not reconnecting. Press Ctrl-D or type /quit to leave."
    leaving = Chat()
    leaving.state.quitting = True
    leaving.state.handle(SessionEnded(bye=ByeReason.QUIT))
    assert leaving.state.farewell is None and leaving.shown() == []
