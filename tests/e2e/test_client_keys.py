"""The input line's keys and its history kept across restarts, on the real chat screen and a real server."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from chatapp.client.input_history import history_path, open_history
from tests.client.harness import CTRL_D, ENTER, UP, running_screen, until
from tests.e2e.test_client_chat import signed_in
from tests.support.server import ServerProcess

CTRL_C = "\x03"
CTRL_G = "\x07"
CTRL_L = "\x0c"
CTRL_R = "\x12"
SECRET = "hunter2-but-longer"


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    """Keys and history touch no store: one database is enough."""
    return server_factory(tmp_path / "chat.db").start()


async def test_input_history_survives_a_restart_without_passwords(
    server: ServerProcess, tmp_path: Path
) -> None:
    path = history_path(server.host, server.port, tmp_path / "state")
    session = await signed_in(server)
    history = await open_history(path, lambda: 3)
    try:
        async with running_screen(session, history=history) as screen:
            await screen.wait_line("You are online in #general.")
            for text in ("one", "two", "/passwd"):
                screen.type(text + ENTER)
                await screen.wait_input("")
            await screen.wait_line("Changing your password")
            screen.type(SECRET + ENTER)  # answers the hidden prompt: never kept
            await until(lambda: "new password" in screen.screen.bars.prompt()[0][1], what="the next question")
            screen.type(ENTER)  # Enter alone cancels
            await screen.wait_line("Password not changed.")
            for text in ("three", "multi\nline", "four"):
                screen.type(text.replace("\n", "\x1b\r") + ENTER)
                await screen.wait_line(text.splitlines()[-1])
    finally:
        await session.aclose()
        history.close()
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert entries[-3:] == ["three", "multi\nline", "four"]
    assert not any(SECRET in entry or entry.startswith("/passwd") for entry in entries)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    session = await signed_in(server, register=False)
    history = await open_history(path, lambda: 3)
    try:
        async with running_screen(session, history=history) as screen:
            await screen.wait_line("You are online in #general.")
            await until(lambda: screen.screen.buffer.working_index == 3, what="the history file to be loaded")
            screen.type(UP)
            await screen.wait_input("four")
            screen.type(UP)
            await screen.wait_input("multi\nline")
            screen.type(CTRL_C)  # clears the line (the screen stays)
            await screen.wait_input("")
            screen.type(CTRL_R + "thr")  # reverse search through what was typed before the restart
            await until(lambda: screen.screen.app.layout.is_searching, what="the search")
            await screen.wait_drawn("I-search backward: thr")
            screen.type(ENTER)  # ends the search with the line found, to edit or send
            await screen.wait_input("three")
            assert not screen.screen.app.layout.is_searching
            screen.type(CTRL_C + CTRL_R + "one")  # cut off: only the newest 3 are kept
            await until(lambda: screen.screen.app.layout.is_searching, what="the search")
            assert screen.input_text == ""
            screen.type(CTRL_G)
            await until(lambda: not screen.screen.app.layout.is_searching, what="the search to end")
            assert not screen.task.done()
    finally:
        await session.aclose()
        history.close()
    assert [json.loads(line) for line in path.read_text().splitlines()] == ["three", "multi\nline", "four"]


async def test_ctrl_c_clears_then_leaves_and_ctrl_l_redraws(server: ServerProcess) -> None:
    session = await signed_in(server)
    try:
        async with running_screen(session) as screen:
            await screen.wait_line("You are online in #general.")
            await screen.wait_drawn("You are online in #general.")
            screen.type("half a thought")
            await screen.wait_input("half a thought")
            screen.type(CTRL_C)
            await screen.wait_input("")
            assert not screen.task.done()
            written = len(screen.terminal.text)
            screen.type(CTRL_L)
            await until(lambda: "\x1b[2J" in screen.terminal.text[written:], what="the terminal cleared")
            await until(lambda: "You are online in #general." in screen.terminal.text[written:],
                        what="the screen drawn again")
            screen.type(CTRL_C)  # on the empty line: leaves
            assert await screen.finished() is None
    finally:
        await session.aclose()
    session = await signed_in(server, register=False)
    try:
        async with running_screen(session) as screen:
            await screen.wait_line("You are online in #general.")
            screen.type("x" + CTRL_D)  # Ctrl-D on a line with text deletes forward, does not leave
            await screen.wait_input("x")
            screen.type(CTRL_C + CTRL_D)
            assert await screen.finished() is None
    finally:
        await session.aclose()
