"""The chat screen driven by keys through a pipe, against the scripted fake server."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from chatapp.client.session import Backoff, ChatSession, ConnectionState
from chatapp.protocol import ByeReason, ClientFrame, Error, Presence, Quit, Send
from tests.client.fakeserver import PASSWORD, FakeConnection, FakeServer
from tests.client.harness import (
    ALT_ENTER,
    CTRL_C,
    CTRL_D,
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

FAST = Backoff(initial=0.01, maximum=0.05)


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = await FakeServer().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def session(server: FakeServer) -> AsyncIterator[ChatSession]:
    client = ChatSession(server.host, server.port, backoff=FAST, rng=random.Random(3))
    await client.connect()
    await client.register("alice", PASSWORD)
    yield client
    await client.aclose()


@pytest.fixture
async def screen(session: ChatSession) -> AsyncIterator[Screen]:
    async with running_screen(session) as running:
        await running.wait_line("alice joined general")
        yield running


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
            conn.send(Error(code="rate_limited", message="slow", ref=frame.ref, retry_after=2))
            return True
        return False

    server.on_frame = refuse
    screen.type("spam" + ENTER)
    await screen.wait_line("Not sent ('spam'): Too many attempts; please try again in 2 seconds.")
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
    await screen.wait_line("bobby joined general")
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
        await until(lambda: not screen.screen.log.follow)
        server.broadcast(server.message("bob", "while scrolled"))
        await screen.wait_line("while scrolled")
        await screen.wait_drawn("1 new below")
        screen.type(PAGE_DOWN * 10)
        await until(lambda: screen.screen.log.follow)
        assert screen.screen.log.unseen == 0


async def test_clear_and_reconnect_commands(screen: Screen) -> None:
    screen.type("/reconnect" + ENTER)
    await screen.wait_line("Nothing to do: already connected.")
    screen.type("/clear" + ENTER)
    await until(lambda: screen.screen.log.plain() == [])


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
