"""The chat screen driven by keys through a pipe, against the scripted fake server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from chatapp.client import ChatSession, ConnectionState
from chatapp.protocol import (
    ByeReason,
    ClientFrame,
    EndSession,
    Error,
    History,
    HistoryPage,
    Join,
    Leave,
    Left,
    ListSessions,
    Message,
    Presence,
    Quit,
    Send,
    SessionClosed,
    SessionInfo,
    SessionList,
    SetTopic,
    Who,
    Whois,
)
from tests.client.fakeserver import PASSWORD, FakeConnection, FakeServer
from tests.client.harness import (
    ALT_ENTER,
    CTRL_C,
    CTRL_D,
    CTRL_N,
    CTRL_P,
    DOWN,
    ENTER,
    PAGE_DOWN,
    PAGE_UP,
    TAB,
    UP,
    Screen,
    running_screen,
    until,
)


async def test_typing_sends_and_the_echo_appears(server: FakeServer, screen: Screen) -> None:
    screen.type("hello world" + ENTER)
    sent = await server.next_frame(Send)
    assert isinstance(sent, Send) and sent.text == "hello world"
    await screen.wait_line("<alice> hello world")
    assert screen.input_text == ""
    await screen.wait_drawn("<alice> hello world")


async def test_incoming_messages_do_not_touch_the_input(server: FakeServer, screen: Screen) -> None:
    screen.type("half a sen")
    await screen.wait_input("half a sen")
    for n in range(5):
        server.broadcast(server.message("bob", f"interruption {n}"))
    await screen.wait_line("<bob> interruption 4")
    await screen.wait_drawn("interruption 4")
    assert screen.input_text == "half a sen"
    screen.type("tence" + ENTER)
    await screen.wait_line("<alice> half a sentence")


async def test_multiline_message_with_alt_enter(server: FakeServer, screen: Screen) -> None:
    screen.type("first" + ALT_ENTER + "second" + ENTER)
    sent = await server.next_frame(Send)
    assert isinstance(sent, Send) and sent.text == "first\nsecond"
    await screen.wait_line("\u2502 second")


async def test_help_and_unknown_commands(server: FakeServer, screen: Screen) -> None:
    screen.type("/help" + ENTER)
    await screen.wait_line("Commands:")
    await screen.wait_line("/reconnect")
    screen.type("/qiut" + ENTER)
    await screen.wait_line("Unknown command /qiut. Did you mean /quit?")
    assert screen.input_text == "/qiut"  # kept, to be fixed
    assert not any(isinstance(frame, Send) for conn in server.connections for frame in conn.received)


async def test_double_slash_sends_a_literal_slash(server: FakeServer, screen: Screen) -> None:
    screen.type("//shrug" + ENTER)
    sent = await server.next_frame(Send)
    assert isinstance(sent, Send) and sent.text == "/shrug"


async def test_too_long_message_is_refused_locally_and_kept(server: FakeServer, session: ChatSession) -> None:
    server.max_text = 20
    await session.aclose()
    small = ChatSession(server.host, server.port)
    await small.connect()
    await small.login("alice", PASSWORD)
    async with running_screen(small) as screen:
        screen.type("x" * 21 + ENTER)
        await screen.wait_line("That message is too long: message is 21 characters; the limit is 20.")
        assert screen.input_text == "x" * 21
    await small.aclose()


async def test_refused_message_comes_back_to_the_input(server: FakeServer, screen: Screen) -> None:
    def refuse(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Send):
            conn.send(Error(code="muted", message="muted", ref=frame.ref))
            return True
        return False

    server.on_frame = refuse
    screen.type("spam" + ENTER)
    await screen.wait_line("Not sent ('spam'): You are muted in #general: you can read but not send.")
    await screen.wait_input("spam")


async def test_history_recall(screen: Screen) -> None:
    screen.type("one" + ENTER)
    await screen.wait_line("<alice> one")
    screen.type("two" + ENTER)
    await screen.wait_line("<alice> two")
    # prompt_toolkit reloads the history in a background task after each Enter
    await until(lambda: screen.screen.buffer.working_index == 2, what="the input history to be loaded")
    screen.type(UP + UP)
    await screen.wait_input("one")
    screen.type(DOWN)
    await screen.wait_input("two")


async def test_tab_completes_commands_and_names(server: FakeServer, screen: Screen) -> None:
    server.broadcast(Presence(event="join", room="general", username="bobby"))
    await screen.wait_line("bobby joined #general")
    screen.type("bo" + TAB)
    await screen.wait_input("bobby: ")
    screen.type("\x15")  # Ctrl-U: clear the line
    await screen.wait_input("")
    screen.type("/cle" + TAB)
    await screen.wait_input("/clear ")


async def test_hostile_text_arrives_inert(server: FakeServer, screen: Screen) -> None:
    payload = "\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\x9b2J\x1b[2Jgone\rfake\x08\u202eevil"
    server.broadcast(server.message("mallory", payload))
    line = await screen.wait_line("<mallory>")
    shown = "\u241b]0;pwned\u2407\u241b]52;c;ZXZpbA==\u2407<9b>2J\u241b[2Jgone\u240dfake\u2408evil"
    assert line.endswith("<mallory> " + shown)
    await screen.wait_drawn("<mallory>")
    written = screen.terminal.text
    for sequence in ("\x1b]0;pwned", "\x1b]52", "\x9b", "\x07", "\u202e", "gone\rfake", "\x08"):
        assert sequence not in written


async def test_server_goes_away_and_comes_back(
    server: FakeServer, screen: Screen, session: ChatSession
) -> None:
    screen.type("draft")
    await screen.wait_input("draft")
    port = server.port
    await server.stop(bye=ByeReason.SHUTDOWN)
    await screen.wait_line("The server is shutting down. Reconnecting by itself")
    await screen.wait_drawn("reconnecting in")
    assert screen.input_text == "draft"
    screen.type(" typed offline" + ENTER)
    await screen.wait_line("<alice> draft typed offline  (queued: not connected)")
    await screen.wait_drawn("[1 unsent]")

    restarted = FakeServer()
    restarted.port = port
    restarted.tokens = server.tokens
    await restarted.start()
    try:
        await screen.wait_line("Reconnected to")
        sent = await restarted.next_frame(Send)
        assert isinstance(sent, Send) and sent.text == "draft typed offline"
        await until(lambda: not session.outbox)
        await screen.wait_line(" <alice> draft typed offline")
    finally:
        screen.screen.leave()
        await screen.finished()
        await restarted.stop()


async def test_replaced_session_is_explained_and_not_retried(server: FakeServer, screen: Screen) -> None:
    server.connections[0].bye(ByeReason.REPLACED)
    await screen.wait_line("You signed in from somewhere else, so this session was closed. Not reconnecting.")
    await screen.wait_drawn("signed out")
    screen.type(CTRL_D)
    assert await screen.finished() == "You signed in from somewhere else, so this session was closed."


@pytest.mark.parametrize("keys", [CTRL_D, CTRL_C, "/quit" + ENTER, "exit" + ENTER])
async def test_leaving_says_quit(server: FakeServer, screen: Screen, session: ChatSession, keys: str) -> None:
    screen.type(keys)
    assert await screen.finished() is None
    assert isinstance(await server.next_frame(Quit), Quit)
    assert session.state is ConnectionState.CLOSED


async def test_ctrl_d_with_text_deletes_instead_of_leaving(screen: Screen) -> None:
    screen.type("abc\x01" + CTRL_D)  # Ctrl-A: to the start; Ctrl-D: delete a character
    await screen.wait_input("bc")
    assert not screen.task.done()


async def test_scrolling_back_and_forth(server: FakeServer, session: ChatSession) -> None:
    async with running_screen(session, rows=10) as screen:
        for n in range(40):
            server.broadcast(server.message("bob", f"line {n}"))
        await screen.wait_line("line 39")
        await screen.wait_drawn("line 39")
        screen.type(PAGE_UP)
        await until(lambda: not screen.screen.state.log.follow)
        server.broadcast(server.message("bob", "while scrolled"))
        await screen.wait_line("while scrolled")
        await screen.wait_drawn("1 new below")
        screen.type(PAGE_DOWN * 10)
        await until(lambda: screen.screen.state.log.follow)
        assert screen.screen.state.log.unseen == 0


async def test_clear_and_reconnect_commands(screen: Screen) -> None:
    screen.type("/reconnect" + ENTER)
    await screen.wait_line("Nothing to do: already connected.")
    screen.type("/clear" + ENTER)
    await until(lambda: screen.screen.state.log.lines == [])


async def test_long_lines_wrap_under_the_text_column(server: FakeServer, session: ChatSession) -> None:
    async with running_screen(session, columns=40) as screen:
        server.broadcast(server.message("bob", "word " * 20))
        await screen.wait_line("<bob>")
        await screen.wait_drawn("\u2502 word")


async def test_unexpected_errors_are_one_line_notes(screen: Screen) -> None:
    loop = asyncio.get_running_loop()
    try:
        raise RuntimeError("kaboom")
    except RuntimeError as exc:
        loop.call_exception_handler({"message": "a callback failed", "exception": exc})
    await screen.wait_line("Something unexpected went wrong; the client goes on.")
    await screen.wait_drawn("the client goes on")
    assert "Traceback" not in screen.terminal.text and "kaboom" not in screen.terminal.text
    screen.type("still works" + ENTER)
    await screen.wait_line("<alice> still works")


# -- rooms, conversations, history (scripted answers; the real server is in tests/e2e) ----------------


def status(screen: Screen) -> str:
    return "".join(text for _, text, *_ in screen.screen.bars.status())


async def test_targets_switch_with_keys_and_count_unread(server: FakeServer, screen: Screen) -> None:
    conn = server.connections[0]
    conn.send(Presence(event="online", room="rust", username="alice"))
    await screen.wait_line("You are online in #general.")
    await until(lambda: screen.screen.state.targets.resolve("#rust") is not None, what="#rust")
    conn.send(server.message("bob", "in rust", room="rust"))
    conn.send(server.message("bob", "alice: in rust too", room="rust"))
    conn.send(server.direct("carol", "alice", "a word"))
    await screen.wait_drawn("[2:#rust 2] [4:@carol 1]")  # window 3 is *highlights
    assert screen.find("in rust") is None
    screen.type(CTRL_N)
    await screen.wait_drawn("#rust>")
    await screen.wait_drawn(" #rust \u2014 fake at")
    await screen.wait_line("<bob> alice: in rust too")
    assert "[2:#rust 2]" not in status(screen) and "[4:@carol 1]" in status(screen)
    screen.type("typed in rust" + ENTER)
    sent = await server.next_frame(Send)
    assert isinstance(sent, Send) and sent.room == "rust"
    screen.type(CTRL_N)
    await screen.wait_drawn("*highlights>")
    screen.type(CTRL_N)
    await screen.wait_drawn("@carol>")
    await screen.wait_line("<carol> a word")
    screen.type(CTRL_N)
    await screen.wait_drawn("#general>")
    screen.type(CTRL_P + CTRL_P + CTRL_P)
    await screen.wait_drawn("#rust>")


async def test_messages_show_the_server_time(server: FakeServer, session: ChatSession) -> None:
    async with running_screen(session, tz=UTC) as screen:
        conn = server.connections[0]
        conn.send(Message(id=50, room="general", sender="bob", text="replayed", ts="2026-01-01T07:08:09.000Z",
                          replayed=True))
        conn.send(HistoryPage(messages=[
            Message(id=20, room="general", sender="bob", text="from history", ts="2026-01-01T06:05:04.000Z"),
        ], has_more=True, room="general"))
        await screen.wait_line("07:08 <bob> replayed")
        await screen.wait_line("06:05 <bob> from history")
        texts = [line for line in screen.lines() if "<bob>" in line]
        assert texts == ["06:05 <bob> from history", "07:08 <bob> replayed"]  # in id order


async def test_refusals_of_requests_are_sentences(server: FakeServer, screen: Screen) -> None:
    refusals: dict[type, Error] = {
        Join: Error(code="too_many_rooms", message="you are in 100 rooms", ref=None),
        SetTopic: Error(code="forbidden", message="only the owner", ref=None),
        Who: Error(code="no_such_room", message="no", ref=None),
        History: Error(code="not_in_room", message="no", ref=None),
        Whois: Error(code="no_such_user", message="no", ref=None),
    }

    def refuse(conn: FakeConnection, frame: ClientFrame) -> bool:
        for kind, error in refusals.items():
            if isinstance(frame, kind):
                conn.send(Error(code=error.code, message=error.message, ref=frame.ref))
                return True
        return False

    server.on_frame = refuse
    screen.type("/join -create rust" + ENTER)
    await screen.wait_line("You are in too many rooms already; /leave one first.")
    screen.type("/topic #ops mine" + ENTER)
    await screen.wait_line("Only the owner and operators of #ops can set its topic.")
    screen.type("/who #nope" + ENTER)
    await screen.wait_line("There is no room #nope; /rooms lists them, /join -create nope creates it.")
    screen.type("/history" + ENTER)
    await screen.wait_line("You are not in #general; /join general first.")
    screen.type("/whois zed" + ENTER)
    await screen.wait_line("There is no user named zed.")
    refusals[Join] = Error(code="rate_limited", message="slow", ref=None)
    screen.type("/join -create other" + ENTER)
    await screen.wait_line("You have created many rooms lately; try again later.")
    refusals[Join] = Error(code="invalid_room", message="room names are short", ref=None)
    screen.type("/join -create okname" + ENTER)
    await screen.wait_line("That is not a room name: room names are short.")
    assert "Traceback" not in screen.terminal.text


async def test_a_direct_message_to_nobody_closes_the_new_conversation(
    server: FakeServer, screen: Screen
) -> None:
    screen.type("/msg nobody hello?" + ENTER)
    await screen.wait_line("Not sent ('hello?'): There is no user named nobody.")
    await screen.wait_drawn("#general>")
    assert screen.screen.state.targets.resolve("@nobody") is None
    await screen.wait_input("hello?")  # the text is back in the input line


async def test_unsent_messages_are_shown_in_their_own_target(
    server: FakeServer, screen: Screen, session: ChatSession
) -> None:
    server.accounts["bob"] = PASSWORD
    screen.type("/msg bob" + ENTER)
    await screen.wait_drawn("@bob>")
    await server.stop()
    await screen.wait_line("Connection lost")
    screen.type("for bob" + ENTER)
    await screen.wait_line("<alice> for bob  (queued: not connected)")
    screen.type(CTRL_P)
    await screen.wait_drawn("#general>")
    assert screen.find("for bob") is None
    screen.type("/who" + ENTER)
    await screen.wait_line("Not done: not connected. Try again once the client is connected.")
    await screen.wait_input("/who")


async def test_leaving_the_last_room_keeps_its_buffer(server: FakeServer, screen: Screen) -> None:
    def leave(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Leave):
            conn.send(Presence(event="leave", room=frame.room, username="alice"))
            conn.send(Left(room=frame.room, ref=frame.ref))
            return True
        return False

    server.on_frame = leave
    screen.type("/leave" + ENTER)
    await screen.wait_line("You left #general. /join a room to talk again")
    await screen.wait_drawn("(you left this room)")
    screen.type("anyone?" + ENTER)
    await screen.wait_line("You are not in #general; /join general to go back. The text is kept.")
    await screen.wait_input("anyone?")


async def test_sessions_are_listed_and_one_is_ended(server: FakeServer, screen: Screen) -> None:
    now = datetime.now(UTC)
    stamp = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    older = (now - timedelta(days=3)).replace(hour=12, minute=0)
    old_stamp = older.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    sessions = [
        SessionInfo(id=12, address="127.0.0.1:5000", created=stamp, last_seen=stamp, current=True,
                    connected=True),
        SessionInfo(id=7, address="203.0.113.9:\x1b[2J41022", created=old_stamp, last_seen=old_stamp),
    ]
    ended: list[int] = []

    def answer(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, ListSessions):
            conn.send(SessionList(sessions=sessions, ref=frame.ref))
            return True
        if isinstance(frame, EndSession):
            if frame.id == 7 and 7 not in ended:
                ended.append(frame.id)
                conn.send(SessionClosed(id=frame.id, ref=frame.ref))
            else:
                conn.send(Error(code="no_such_session", message="no", ref=frame.ref))
            return True
        return False

    server.on_frame = answer
    screen.type("/sessions" + ENTER)
    await screen.wait_line("Your sessions (2; /endsession ID signs one out):")
    clock = now.astimezone().strftime("%H:%M")
    assert screen.find(f"12  127.0.0.1:5000, signed in today at {clock}; this one")
    when = older.astimezone().strftime("%Y-%m-%d %H:%M")
    line = screen.find(" 7  203.0.113.9:")
    assert line is not None and f"signed in {when}; last seen {when}" in line
    assert "\x1b" not in line
    screen.type("/endsession 7" + ENTER)
    await screen.wait_line("Session 7 is signed out; its saved login no longer works.")
    screen.type("/endsession 7" + ENTER)
    await screen.wait_line("You have no such session (or it is already over); /sessions lists them.")
    screen.type("/endsession seven" + ENTER)
    await screen.wait_line("/endsession needs the number of one of your sessions")
    assert ended == [7]


async def test_an_ended_session_is_explained_and_not_retried(server: FakeServer, screen: Screen) -> None:
    server.connections[0].bye(ByeReason.SESSION_ENDED)
    await screen.wait_line("This session was ended (/endsession), so it is signed out. Not reconnecting.")
