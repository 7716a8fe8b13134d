"""Pasting into the real chat screen (prompt_toolkit input and output, in-process) against a real
server process with its real rate limits: 100 lines pasted without bracketed paste (each line an
Enter) all arrive, in order; a bracketed paste asks once whether it is that many messages or one."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatapp.protocol import Message
from tests.client.harness import ENTER, Screen
from tests.e2e.test_client_chat import receive, wire
from tests.support.server import ServerProcess
from tests.support.wire import WireClient

pytestmark = pytest.mark.sqlite_only  # the client's side: one database is enough

PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"  # what a terminal with bracketed paste sends


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    """The client's side only: one database is enough (the default send limits: bursts of 60)."""
    return server_factory(tmp_path / "chat.db").start()


async def texts(client: WireClient, count: int) -> list[str]:
    return [(await receive(client, Message, lambda m: m.sender == "alice")).text for _ in range(count)]


async def test_a_100_line_paste_without_bracketed_paste_arrives_whole_and_in_order(
    server: ServerProcess, screen: Screen
) -> None:
    bob = await wire(server, "bob")
    lines = [f"pasted line {n:03d}" for n in range(100)]
    screen.type("".join(line + ENTER for line in lines))  # as a terminal without bracketed paste
    assert await texts(bob, 100) == lines
    await screen.wait_line("<alice> pasted line 099")
    assert screen.screen.state.pending_lines() == []
    await bob.close()


async def test_a_bracketed_paste_asks_once_lines_one_message_or_edit(
    server: ServerProcess, screen: Screen
) -> None:
    bob = await wire(server, "bob")
    paste = PASTE_START + "first\r\nsecond\r\n/quit is text here\r\n" + PASTE_END

    screen.type(paste)
    await screen.wait_drawn("paste of 3 lines: l = 3 messages, o = one message, Enter = edit:")
    screen.type("l" + ENTER)
    assert await texts(bob, 3) == ["first", "second", "/quit is text here"]  # text, not a command

    screen.type(paste)
    await screen.wait_drawn("paste of 3 lines")
    screen.type("o" + ENTER)
    assert await texts(bob, 1) == ["first\nsecond\n/quit is text here"]

    screen.type(paste)
    await screen.wait_drawn("paste of 3 lines")
    screen.type(ENTER)
    await screen.wait_input("first\nsecond\n/quit is text here")  # to edit; Enter sends it as one
    screen.type(ENTER)
    assert await texts(bob, 1) == ["first\nsecond\n/quit is text here"]

    # A paste of one line, or into a line already typed, is inserted as typed: no question.
    screen.type("say: " + PASTE_START + "one line" + PASTE_END)
    await screen.wait_input("say: one line")
    screen.type(ENTER)
    assert await texts(bob, 1) == ["say: one line"]
    await bob.close()
