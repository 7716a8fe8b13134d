"""Rooms, direct messages, durable history and presence: the real client against a real server process.

Alice is the real chat screen (driven through a pipe); the others are raw
protocol clients (``WireClient``), so every test sees exactly what the server
sends and what the screen makes of it.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest

from chatapp.client import Backoff, ChatSession, ConnectionState
from chatapp.client.ui.lines import parse_timestamp
from chatapp.client.ui.targets import Kind
from chatapp.protocol import (
    Away,
    Direct,
    Join,
    Joined,
    Leave,
    Message,
    Presence,
    Send,
    SendDirect,
    SetTopic,
)
from tests.client.harness import (
    CTRL_D,
    CTRL_N,
    CTRL_P,
    CTRL_U,
    ENTER,
    PAGE_UP,
    TAB,
    Screen,
    running_screen,
    until,
)
from tests.e2e.test_client_chat import receive, signed_in, wire
from tests.support.databases import ScratchDatabase
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

People = Callable[..., Awaitable[WireClient]]


@pytest.fixture
async def people() -> AsyncIterator[People]:
    """``await people(server, "bob")``: a raw protocol client, closed at the end of the test."""
    opened: list[WireClient] = []

    async def connect(server: ServerProcess, name: str, *, register: bool = True) -> WireClient:
        client = await wire(server, name, register=register)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        await client.close()


async def join(client: WireClient, room: str) -> None:
    await client.send(Join(room=room, ref=client.next_ref()))
    await receive(client, Joined, lambda frame: frame.room == room)


def messages_in(screen: Screen, label: str) -> list[str]:
    """The message lines (``<name> text``, time cut off) of one target's buffer, in order."""
    target = screen.screen.state.targets.resolve(label)
    assert target is not None, label
    return [line.plain[6:] for line in target.log.lines if line.kind in ("message", "own")]


def status(screen: Screen) -> str:
    return "".join(text for _, text, *_ in screen.screen.bars.status())


async def test_join_switch_unread_and_leave(server: ServerProcess, screen: Screen, people: People) -> None:
    bob = await people(server, "bob")
    await join(bob, "rust")
    screen.type("/join -create #rust" + ENTER)
    await screen.wait_drawn("#rust>")  # the prompt names the active room
    await screen.wait_line("You joined #rust.")
    await screen.wait_drawn(" #rust \u2014 chatapp at")  # the title too
    assert screen.screen.state.room == "#rust"

    # a message to the room on screen is shown; one to another room is counted
    await bob.send(Send(room="rust", text="rust is fun"))
    await screen.wait_line("<bob> rust is fun")
    await bob.send(Send(room="general", text="over here"))
    await bob.send(Send(room="general", text="alice: are you there?"))
    await screen.wait_drawn("[1:#general 2]")
    general = screen.screen.state.targets.resolve("#general")
    assert general is not None and general.unread == 2 and general.mentions == 1
    assert [style for style, text, *_ in screen.screen.bars.unread_parts() if "#general" in text] == [
        "class:status.mention"
    ]
    assert screen.find("over here") is None  # not in the #rust buffer

    screen.type(CTRL_P)
    await screen.wait_drawn("#general>")
    await screen.wait_drawn("alice: are you there?")
    assert "#general 2]" not in status(screen) and general.unread == 0
    screen.type(CTRL_N)
    await screen.wait_drawn("#rust>")
    screen.type("/w general" + ENTER)
    await screen.wait_drawn("#general>")
    screen.type("/switch #rust" + ENTER)
    await screen.wait_drawn("#rust>")

    # presence is shown in the room it happened in
    carol = await people(server, "carol")
    await join(carol, "rust")
    await screen.wait_line("carol joined #rust")
    general_lines = [line.plain for line in general.log.lines]
    assert not any("carol joined" in line for line in general_lines)

    # a message typed here goes to #rust
    screen.type("hello rust" + ENTER)
    got = await receive(carol, Message, lambda m: m.sender == "alice")
    assert isinstance(got, Message) and got.room == "rust" and got.text == "hello rust"
    await carol.send(Leave(room="rust", ref=carol.next_ref()))
    await screen.wait_line("carol left #rust")

    screen.type("/leave" + ENTER)
    await screen.wait_drawn("#general>")
    await screen.wait_line("You left #rust.")
    left = await receive(bob, Presence, lambda p: p.event == "leave" and p.username == "alice")
    assert isinstance(left, Presence) and left.room == "rust"
    assert screen.screen.state.targets.resolve("#rust") is None
    screen.type("/join -create rust" + ENTER)  # the # is optional
    await screen.wait_drawn("#rust>")
    await screen.wait_line("<alice> hello rust")  # the room's recent messages come with the join
    assert messages_in(screen, "#rust").count("<alice> hello rust") == 1
    assert "Traceback" not in server.log
    for client in (bob, carol):
        await client.close()


async def test_direct_messages_both_ways_and_offline_ones_are_unread(
    server: ServerProcess, screen: Screen, people: People
) -> None:
    bob = await people(server, "bob")
    screen.type("/msg bob hello bob" + ENTER)
    got = await receive(bob, Direct)
    assert isinstance(got, Direct) and got.text == "hello bob" and got.sender == "alice"
    await screen.wait_drawn("@bob>")
    await screen.wait_line("<alice> hello bob")
    await bob.send(SendDirect(to="alice", text="hi alice, privately"))
    await screen.wait_line("<bob> hi alice, privately")
    screen.type("just for you" + ENTER)  # typed in the conversation: a direct message
    got = await receive(bob, Direct, lambda d: d.sender == "alice")
    assert isinstance(got, Direct) and got.text == "just for you"

    screen.type("/switch #general" + ENTER)
    await screen.wait_drawn("#general>")
    await bob.send(SendDirect(to="alice", text="ping"))
    await screen.wait_drawn(":@bob 1]")
    styles = [style for style, text, *_ in screen.screen.bars.unread_parts() if "@bob" in text]
    assert styles == ["class:status.mention"]  # a direct message is always highlighted
    assert screen.find("ping") is None

    # alice leaves; bob writes; at her next login it is there, unread
    screen.type(CTRL_D)
    await screen.finished()
    await receive(bob, Presence, lambda p: p.event == "offline")
    # (The server records what it delivered to alice just after it says she went offline;
    # a login before that would replay her earlier messages too.)
    await asyncio.to_thread(server.wait_for_log, r"event=disconnect user=alice ")
    await bob.send(SendDirect(to="alice", text="while you were away"))
    await receive(bob, Direct, lambda d: d.text == "while you were away")
    again = await signed_in(server, register=False)
    try:
        async with running_screen(again) as second:
            await second.wait_drawn(":@bob 1]")
            conversation = second.screen.state.targets.resolve("@bob")
            assert conversation is not None and conversation.unread == 1
            second.type("/w @bob" + ENTER)
            await second.wait_drawn("@bob>")
            await second.wait_line("<bob> while you were away")
            await until(lambda: "<alice> hello bob" in messages_in(second, "@bob"), what="earlier messages")
            lines = messages_in(second, "@bob")
            assert lines.index("<alice> hello bob") < lines.index("<bob> while you were away")
            assert len(lines) == len(set(lines))  # nothing twice
            # a direct message to someone who does not exist is refused as a sentence
            second.type("/msg nobody_here hello?" + ENTER)
            await second.wait_line("There is no user named nobody_here.")
            await until(lambda: second.screen.state.targets.resolve("@nobody_here") is None)
    finally:
        await again.aclose()
    await bob.close()


async def test_history_pages_and_page_up(
    server_factory: type[ServerProcess], database: ScratchDatabase, people: People
) -> None:
    busy = server_factory(database, "--send-burst", "500", "--send-rate", "500").start()
    bob = await people(busy, "bob")
    total = 130
    for n in range(1, total + 1):
        await bob.send(Send(room="general", text=f"msg {n:03}", nonce=f"n{n}"))
    await receive(bob, Message, lambda m: m.text == f"msg {total:03}", timeout=20)
    session = await signed_in(busy)  # a new account: the 20 latest of #general
    try:
        async with running_screen(session) as screen:
            await screen.wait_line("msg 130")
            await until(lambda: len(messages_in(screen, "#general")) == 20, what="the 20 latest")
            assert messages_in(screen, "#general")[0] == "<bob> msg 111"
            screen.type("/history" + ENTER)
            await until(lambda: len(messages_in(screen, "#general")) == 70, what="/history: 50 more")
            assert messages_in(screen, "#general")[0] == "<bob> msg 061"
            await until(lambda: not screen.screen.state.log.follow, what="scrolling up into the older page")

            def at_beginning() -> bool:
                if screen.find("Beginning of the history of #general"):
                    return True
                if screen.screen.log_control.at_top():
                    screen.type(PAGE_UP)  # at the top: the next older page comes by itself
                else:
                    screen.type(PAGE_UP * 3)
                return False

            await until(at_beginning, timeout=30, what="PageUp to reach the beginning of history")
            expected = [f"<bob> msg {n:03}" for n in range(1, total + 1)]
            await until(lambda: messages_in(screen, "#general") == expected, what="all 130, in order, once")
            assert screen.screen.state.log.lines[0].plain == "-- Beginning of the history of #general --"
            # times are the server's, in local time
            first = screen.screen.state.log.lines[1].plain
            assert re.match(r"\d\d:\d\d <bob> msg 001", first)
            screen.type("/history" + ENTER)
            await screen.wait_line("That is the beginning of the history of #general.")
    finally:
        await session.aclose()
        await bob.close()


async def test_reconnect_shows_exactly_the_missed_messages(server: ServerProcess, people: People) -> None:
    slow = Backoff(initial=60.0, maximum=60.0, jitter=0.0)  # reconnects when told to: /reconnect
    patient = ChatSession(server.host, server.port, backoff=slow, rng=random.Random(2))
    await patient.connect()
    await patient.register("alice", PASSWORD)
    bob = await people(server, "bob")
    try:
        async with running_screen(patient) as screen:
            await screen.wait_line("You are online in #general.")
            for n in range(3):
                await bob.send(Send(room="general", text=f"before {n}"))
            await screen.wait_line("<bob> before 2")
            screen.type("my reply" + ENTER)
            await until(lambda: "<alice> my reply" in messages_in(screen, "#general"), what="the echo")

            await asyncio.to_thread(server.stop)  # a restart in the middle of the conversation
            await screen.wait_line("The server is shutting down.")
            await asyncio.to_thread(server.start)
            await bob.close()
            bob = await people(server, "bob", register=False)
            for n in range(5):
                await bob.send(Send(room="general", text=f"missed {n}"))
            await bob.send(SendDirect(to="alice", text="missed privately"))
            await receive(bob, Direct, lambda d: d.text == "missed privately")
            assert patient.state is ConnectionState.WAITING
            screen.type("/reconnect" + ENTER)
            await screen.wait_line("session resumed", timeout=20)
            await screen.wait_line("<bob> missed 4")
            await bob.send(Send(room="general", text="live again"))
            await screen.wait_line("<bob> live again")
            expected = [
                "<bob> before 0", "<bob> before 1", "<bob> before 2", "<alice> my reply",
                *(f"<bob> missed {n}" for n in range(5)), "<bob> live again",
            ]
            assert messages_in(screen, "#general") == expected, "\n".join(screen.lines())
            await screen.wait_drawn(":@bob 1]")
            assert messages_in(screen, "@bob") == ["<bob> missed privately"]

            # and once more with a server that dies without a word
            await asyncio.to_thread(server.kill)
            await screen.wait_line("Connection lost")
            await asyncio.to_thread(server.start)
            await bob.close()
            bob = await people(server, "bob", register=False)
            await bob.send(Send(room="general", text="after the crash"))
            await receive(bob, Message, lambda m: m.text == "after the crash")
            screen.type("/reconnect" + ENTER)
            await screen.wait_line("<bob> after the crash", timeout=20)
            assert messages_in(screen, "#general") == [*expected, "<bob> after the crash"]
            screen.type("still here" + ENTER)
            got = await receive(bob, Message, lambda m: m.sender == "alice")
            assert isinstance(got, Message) and got.text == "still here"
    finally:
        await patient.aclose()
        await bob.close()


async def test_who_whois_away_rooms_and_topic(server: ServerProcess, screen: Screen, people: People) -> None:
    bob = await people(server, "bob")
    await join(bob, "ops")
    await bob.send(SetTopic(room="ops", text="bob's room", ref=bob.next_ref()))
    screen.type("/join -create rust" + ENTER)
    await screen.wait_line("You created #rust and own it")
    screen.type("/topic Rust talk" + ENTER)
    await screen.wait_line("You set the topic of #rust to: Rust talk")
    await screen.wait_drawn(" #rust (owner) \u2014 Rust talk \u2014")  # its creator owns it
    await join(bob, "rust")
    await screen.wait_line("bob joined #rust")

    screen.type("/join -create ops" + ENTER)
    await screen.wait_line("You joined #ops. Topic: bob's room")
    screen.type("/topic mine now" + ENTER)
    await screen.wait_line("Only the owner and operators of #ops can set its topic.")
    screen.type("/topic" + ENTER)
    await screen.wait_line("The topic of #ops is: bob's room")

    screen.type("/rooms" + ENTER)
    await screen.wait_line("Rooms (3; * = you are in it):")
    rust = await screen.wait_line("* #rust")
    assert rust.endswith("\u2502 * #rust     2 members, 2 online  Rust talk"), rust

    await bob.send(Away(text="lunch", ref=bob.next_ref()))
    await screen.wait_line("bob is away: lunch")  # in #ops, the active room
    rust_target = screen.screen.state.targets.resolve("#rust")
    assert rust_target is not None
    await until(lambda: any("bob is away: lunch" in line.plain for line in rust_target.log.lines))
    screen.type("/who #rust" + ENTER)
    await screen.wait_line("Online in #rust (2; @ = owner or operator): @alice (owner), bob (away: lunch)")
    screen.type("/whois bob" + ENTER)
    await screen.wait_line("bob is online, away: lunch.")
    await screen.wait_line("Rooms in common: #general, #ops, #rust.")
    await screen.wait_line("Member since ")
    screen.type("/whois nobody_here" + ENTER)
    await screen.wait_line("There is no user named nobody_here.")
    await bob.send(Away(ref=bob.next_ref()))
    await screen.wait_line("bob is back")

    screen.type("/away gone fishing" + ENTER)
    await screen.wait_line("You are marked as away: gone fishing.")
    await screen.wait_drawn("[alice, away]")
    got = await receive(bob, Presence, lambda p: p.event == "away" and p.username == "alice")
    assert isinstance(got, Presence) and got.text == "gone fishing"
    screen.type("/away" + ENTER)
    await screen.wait_line("You are back.")
    await until(lambda: "[alice]" in status(screen))

    await bob.close()
    await screen.wait_line("bob went offline")
    screen.type("/whois bob" + ENTER)
    seen = await screen.wait_line("bob is offline, last seen ")
    stamp = datetime.now(UTC).astimezone().strftime("%H:%M")
    assert "today at" in seen or "yesterday at" in seen, (seen, stamp)

    # refusals are sentences, in the active buffer; nothing is sent for a bad name
    screen.type(CTRL_U + "/who nosuchroom" + ENTER)
    await screen.wait_line("There is no room #nosuchroom")
    screen.type(CTRL_U + "/join Bad!" + ENTER)
    await screen.wait_line("'Bad!' is not a room name")
    screen.type(CTRL_U)
    assert "Traceback" not in server.log


async def test_tab_completes_rooms_and_people(server: ServerProcess, people: People) -> None:
    bob = await people(server, "bob")
    await join(bob, "rustaceans")
    session = await signed_in(server)
    try:
        async with running_screen(session) as screen:
            # the room list and who is online are learned after signing in
            await until(lambda: "rustaceans" in screen.screen.state.known_rooms, what="the room list")
            general = screen.screen.state.targets.resolve("#general")
            assert general is not None
            await until(lambda: "bob" in general.online, what="who is online in #general")
            screen.type("/join ru" + TAB)
            await screen.wait_input("/join #rustaceans ")
            screen.type(CTRL_U + "/msg b" + TAB)
            await screen.wait_input("/msg bob ")
            screen.type(CTRL_U + "/whois @b" + TAB)
            await screen.wait_input("/whois bob ")
            screen.type(CTRL_U + "b" + TAB)
            await screen.wait_input("bob: ")
            screen.type(CTRL_U + "/w #g" + TAB)
            await screen.wait_input("/w #general ")
            screen.type(CTRL_U)
    finally:
        await session.aclose()
        await bob.close()


async def test_join_history_shows_server_times(
    server: ServerProcess, alice: ChatSession, people: People
) -> None:
    bob = await people(server, "bob")
    await join(bob, "news")
    await bob.send(Send(room="news", text="old news"))
    stored = await receive(bob, Message, lambda m: m.text == "old news")
    assert isinstance(stored, Message)
    async with running_screen(alice) as screen:
        screen.type("/join -create news" + ENTER)
        line = await screen.wait_line("<bob> old news")
        when = parse_timestamp(stored.ts)
        assert when is not None and line.startswith(when.astimezone().strftime("%H:%M") + " ")
        target = screen.screen.state.targets.resolve("#news")
        assert target is not None and target.kind is Kind.ROOM and target.unread == 0
    await bob.close()
