"""The chat screen shown in docs/client.md is the real one: rebuilt here from the client's own screen buffer.

If the screen changes, update the example with what this test prints
(``pytest tests/client/test_docs_screen.py -s``).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from chatapp.client import ChatSession
from chatapp.protocol import (
    ClientFrame,
    Direct,
    HistoryPage,
    Join,
    Joined,
    Message,
    OnlineUser,
    Presence,
    Send,
    Welcome,
    Who,
    WhoList,
)
from tests.client.fakeserver import PASSWORD, FakeConnection, FakeServer
from tests.client.harness import CTRL_U, ENTER, running_screen, until

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


class StoppedClock:
    def __init__(self) -> None:
        self.now_value = datetime(2026, 11, 26, 9, 12, tzinfo=UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return self.now_value

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def set(self, minute: int) -> None:
        self.now_value = self.now_value.replace(minute=minute)


def ts(minute: int) -> str:
    return f"2026-11-26T09:{minute:02}:00.000Z"


def documented_screen() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"## The chat screen\n\n```text\n(.*?)\n```", text, re.DOTALL)
    assert match is not None
    return match.group(1)


async def test_the_documented_screen_is_the_real_one() -> None:
    server = await FakeServer().start()
    ids = itertools.count(100)

    def script(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Join):
            conn.send(Joined(room="rust", topic="Rust talk; be kind", ref=frame.ref))
            conn.send(HistoryPage(room="rust", has_more=True, messages=[
                Message(id=10, room="rust", sender="carol", ts=ts(2),
                        text="has anyone tried the new borrow checker messages?"),
                Message(id=11, room="rust", sender="dave", text="yes, they are so much clearer", ts=ts(5)),
            ]))
            conn.send(Presence(event="join", room="rust", username="alice"))
            return True
        if isinstance(frame, Send):
            conn.send(Message(id=next(ids), room=frame.room, sender="alice", text=frame.text, ts=ts(14),
                              nonce=frame.nonce))
            return True
        if isinstance(frame, Who):
            conn.send(WhoList(room=frame.room, ref=frame.ref, users=[
                OnlineUser(username="alice"), OnlineUser(username="bob", away="lunch"),
                OnlineUser(username="carol"), OnlineUser(username="mallory"),
            ]))
            return True
        return False

    server.on_frame = script
    clock = StoppedClock()
    session = ChatSession("127.0.0.1", server.port, clock=clock, ping_interval=3600)
    try:
        await session.connect()
        await session.register("alice", PASSWORD)
        session.core.welcome = Welcome(server="chatapp", version=1, max_frame=65536, max_text=4000)
        session.keeper.port = 7777  # as shown (only used to reconnect, which does not happen here)
        async with running_screen(session, rows=22, columns=80, clock=clock, tz=UTC) as screen:
            await screen.wait_line("You are online in #general.")
            conn = server.connections[0]

            def say(sender: str, text: str, minute: int, room: str = "rust") -> None:
                conn.send(Message(id=next(ids), room=room, sender=sender, text=text, ts=ts(minute)))

            screen.type("/join -create rust" + ENTER)  # (the scripted server lists no rooms)
            await screen.wait_line("<dave> yes")
            clock.set(13)
            say("bob", "morning alice! did the deploy go out? it was supposed to start at nine and I "
                "have not seen the usual noise yet", 13)
            await screen.wait_line("usual noise")
            clock.set(14)
            screen.type("yes, at 9 sharp" + ENTER)
            await screen.wait_line("<alice> yes, at 9 sharp")
            log = "here is the log:\n2026-11-26 09:00:01 deploy started\n2026-11-26 09:00:42 deploy finished"
            say("bob", log, 14)
            say("mallory", "\x1b]0;you have been pwned\x07\x9b2J nothing to see here", 15)
            say("erin", "stand-up in 5", 15, room="general")
            say("frank", "coming", 15, room="general")
            clock.set(15)
            conn.send(Presence(event="away", room="rust", username="bob", text="lunch"))
            say("carol", "alice: lunch?", 15)
            conn.send(Direct(id=next(ids), sender="bob", to="alice", text="can you review my PR?", ts=ts(15)))
            await screen.wait_line("alice: lunch?")
            clock.set(16)
            screen.type("/who" + ENTER)
            await screen.wait_line("Online in #rust")
            screen.type("/qiut" + ENTER)
            await screen.wait_line("Unknown command")
            screen.type(CTRL_U + "half-typed repl")
            await screen.wait_input("half-typed repl")
            await until(lambda: session.latency is not None, what="the first ping's answer")
            session.core.latency = 0.003  # as shown (there is no other ping: ping_interval is an hour)
            screen.screen.app.invalidate()
            await screen.wait_drawn("[4:@bob 1]")
            await screen.wait_drawn("[connected, 3 ms]")  # not a stale "33 ms" still on screen
            await screen.wait_drawn("half-typed repl")
            shown = screen.drawn() + "\u2588"  # where the terminal's cursor is
    finally:
        await session.aclose()
        await server.stop()
    print(shown)
    assert shown == documented_screen()
