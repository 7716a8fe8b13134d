"""The real client (sign-in dialogue and chat screen, driven through a pipe) against a real server process.

The other people in the chat are raw protocol clients (``WireClient``), so a
test can make them send exactly what it wants, escape sequences included.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chatapp.client import Backoff, ChatSession, ConnectionState
from chatapp.client.ui.signin import SignInCancelled, SignInOptions, sign_in
from chatapp.protocol import Message, Ping, Pong, Presence, Send, ServerFrame
from tests.client.harness import CTRL_D, ENTER, Screen, fake_terminal, running_screen, until
from tests.support.databases import ScratchDatabase
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

FAST = Backoff(initial=0.05, factor=2.0, maximum=0.5)


def new_session(server: ServerProcess) -> ChatSession:
    return ChatSession(server.host, server.port, backoff=FAST, rng=random.Random(5))


async def signed_in(server: ServerProcess, name: str = "alice", *, register: bool = True) -> ChatSession:
    session = new_session(server)
    await session.connect()
    if register:
        await session.register(name, PASSWORD)
    else:
        await session.login(name, PASSWORD)
    return session


async def wire(server: ServerProcess, name: str, *, register: bool = True) -> WireClient:
    client = await WireClient.connect(server.host, server.port)
    if register:
        await client.register(name)
    else:
        await client.login(name)
    return client


async def receive(
    client: WireClient, kind: type, predicate: Callable[[Any], bool] | None = None, timeout: float = 10.0
) -> ServerFrame:
    """Frames until one of ``kind`` (matching ``predicate``) arrives; pings are answered, others skipped."""
    async with asyncio.timeout(timeout):
        while True:
            frame = await client.recv(timeout)
            if isinstance(frame, Ping):
                await client.send(Pong(ref=frame.ref))
                continue
            if isinstance(frame, kind) and (predicate is None or predicate(frame)):
                return frame


@pytest.fixture
async def alice(server: ServerProcess) -> AsyncIterator[ChatSession]:
    session = await signed_in(server)
    yield session
    await session.aclose()


@pytest.fixture
async def screen(alice: ChatSession) -> AsyncIterator[Screen]:
    async with running_screen(alice) as running:
        yield running


async def test_register_in_the_dialogue_then_chat(server: ServerProcess) -> None:
    session = new_session(server)
    try:
        await session.connect()
        with fake_terminal() as (pipe, terminal):
            pipe.send_text("2\rcarol\r" + PASSWORD + "\r" + PASSWORD + "\r")
            ok = await asyncio.wait_for(sign_in(session, SignInOptions()), 20)
        assert ok.username == "carol"
        assert PASSWORD not in terminal.text
        bob = await wire(server, "bob")
        async with running_screen(session) as screen:
            await bob.send(Send(room="general", text="hello carol", nonce="n1"))
            await screen.wait_line("<bob> hello carol")
            screen.type("hi bob" + ENTER)
            got = await receive(bob, Message, lambda m: m.sender == "carol")
            assert isinstance(got, Message) and got.text == "hi bob"
            await screen.wait_line("<carol> hi bob")  # shown at once, before the server has it
            # ... and out of the outbox once acknowledged (bob has it, so it was stored).
            for _ in range(200):
                if session.outbox == ():
                    break
                await asyncio.sleep(0.05)
            assert session.outbox == ()
        await bob.close()
    finally:
        await session.aclose()


async def test_login_errors_are_sentences_and_retry_works(server: ServerProcess) -> None:
    first = await signed_in(server, "dave")
    await first.quit()
    session = new_session(server)
    try:
        await session.connect()
        with fake_terminal() as (pipe, terminal):
            pipe.send_text("1\rdave\rnot the password\r1\rdave\r" + PASSWORD + "\r")
            ok = await asyncio.wait_for(sign_in(session, SignInOptions()), 20)
        assert ok.username == "dave"
        assert "Wrong username or password." in terminal.plain()
        # a second sign-in of the same account is refused (default policy "reject")
        other = new_session(server)
        await other.connect()
        with fake_terminal() as (pipe, terminal):
            pipe.send_text(PASSWORD + "\rn\r\x04")
            with pytest.raises(SignInCancelled):  # no takeover, then Ctrl-D at the second password prompt
                await asyncio.wait_for(sign_in(other, SignInOptions(username="dave")), 20)
        assert "This account is already signed in somewhere else" in terminal.plain()
        assert "Take that session over? It will be signed out. [y/N]" in terminal.plain()
        await other.aclose()
    finally:
        await session.aclose()


async def test_incoming_messages_do_not_disturb_typing(server: ServerProcess, screen: Screen) -> None:
    bob = await wire(server, "bob")
    screen.type("unfinished thou")
    await screen.wait_input("unfinished thou")
    for n in range(3):
        await bob.send(Send(room="general", text=f"bob says {n}"))
    await screen.wait_line("<bob> bob says 2")
    await screen.wait_drawn("bob says 2")
    assert screen.input_text == "unfinished thou"
    screen.type("ght" + ENTER)
    got = await receive(bob, Message, lambda m: m.sender == "alice")
    assert isinstance(got, Message) and got.text == "unfinished thought"
    await bob.close()


async def test_hostile_message_arrives_inert(server: ServerProcess, screen: Screen) -> None:
    screen.type("/set bell off" + ENTER)  # the fake line names alice: no BEL of the client's own either
    await screen.wait_line("bell is now off")
    mallory = await wire(server, "mallory")
    payload = (
        "\x1b]0;owned\x07"  # retitle the terminal
        "\x1b]52;c;cm0gLXJmIH4=\x07"  # write the clipboard
        "\x9b2J"  # 8-bit CSI: clear the screen
        "\x1b[1A\x1b[2K"  # cursor up, erase line
        "real\rforged\x08\x08"  # overwrite the line
        "\u202edesrever"  # right-to-left override
        "\n12:00 <alice> I never said this"  # a fake line
    )
    await mallory.send(Send(room="general", text=payload))
    line = await screen.wait_line("<mallory>")
    assert "\u241b]0;owned\u2407" in line and "<9b>2J" in line and "real\u240dforged\u2408\u2408" in line
    assert "desrever" in line and "\u202e" not in line
    fake = await screen.wait_line("I never said this")
    assert fake.startswith(" ") and "\u2502 12:00 <alice>" in fake  # a continuation, not a message
    await screen.wait_drawn("I never said this")
    written = screen.terminal.text
    for sequence in ("\x1b]0;owned", "\x1b]52", "\x9b", "\x07", "\x08", "\u202e", "real\rforged", "\x1b[1A"):
        assert sequence not in written
    await mallory.close()


async def test_too_long_is_refused_locally(server_factory: type[ServerProcess], tmp_path: Path) -> None:
    small = server_factory(tmp_path / "small.db", "--max-text", "30").start()
    session = await signed_in(small)
    try:
        assert session.max_text == 30
        async with running_screen(session) as screen:
            screen.type("y" * 31 + ENTER)
            await screen.wait_line("the limit is 30")
            assert screen.input_text == "y" * 31
            screen.type("\x08" + ENTER)
            await screen.wait_line("<alice> " + "y" * 30)
    finally:
        await session.aclose()


async def test_reconnects_after_the_server_restarts(server: ServerProcess, screen: Screen) -> None:
    alice = screen.screen.session
    screen.type("draft")
    await screen.wait_input("draft")
    await asyncio.to_thread(server.stop)
    await screen.wait_line("The server is shutting down.")
    await until(lambda: alice.state is not ConnectionState.ONLINE)
    await screen.wait_drawn("reconnecting in")
    assert screen.input_text == "draft"
    screen.type(" while away" + ENTER)
    await screen.wait_line("(queued: not connected)")

    await asyncio.to_thread(server.start)
    await screen.wait_line("session resumed", timeout=20)
    bob = await wire(server, "bob")
    await until(lambda: "bob" in screen.screen.state.roster.online(), what="bob's presence")
    await until(lambda: not alice.outbox, what="the queued message to be acknowledged")
    await screen.wait_line("<alice> draft while away")
    await bob.send(Send(room="general", text="welcome back"))
    await screen.wait_line("<bob> welcome back")
    assert "Traceback" not in server.log
    await bob.close()


async def test_a_killed_server_is_noticed_and_resumed(server: ServerProcess, screen: Screen) -> None:
    await asyncio.to_thread(server.kill)
    await screen.wait_line("Connection lost")
    await asyncio.to_thread(server.start)
    await screen.wait_line("session resumed", timeout=20)
    screen.type("still here" + ENTER)
    await screen.wait_line("<alice> still here")


async def test_replaced_session_is_not_retried(
    server_factory: type[ServerProcess], database: ScratchDatabase
) -> None:
    replacing = server_factory(database, "--duplicate-login", "replace").start()
    session = await signed_in(replacing)
    try:
        async with running_screen(session) as screen:
            second = await wire(replacing, "alice", register=False)
            await screen.wait_line(
                "You signed in from somewhere else, so this session was closed. Not reconnecting."
            )
            await screen.wait_drawn("signed out")
            assert session.state is ConnectionState.CLOSED
            screen.type(CTRL_D)
            assert await screen.finished() == "You signed in from somewhere else, so this session was closed."
            await second.close()
    finally:
        await session.aclose()


async def test_leaving_tells_the_server(server: ServerProcess, screen: Screen) -> None:
    bob = await wire(server, "bob")
    await until(lambda: "bob" in screen.screen.state.roster.online(), what="bob's presence")
    screen.type(CTRL_D)
    assert await screen.finished() is None
    left = await receive(bob, Presence, lambda p: p.event == "offline")
    assert isinstance(left, Presence) and left.username == "alice"
    await bob.close()
    await asyncio.to_thread(server.wait_for_log, r"event=disconnect user=alice .*reason=quit")
