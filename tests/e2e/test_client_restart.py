"""The real executable on a pseudo-terminal, started twice: what ``/set`` saved and what was typed come back.

(The screen is drawn by differences, so what it says is checked where it is
plain to see: in the settings file, in what the server relays, and in the
sign-in dialogue's own lines.)
"""

from __future__ import annotations

import asyncio
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from chatapp.protocol import Message
from tests.e2e.test_client_chat import receive, wire
from tests.e2e.test_client_cli import TIMEOUT, Pty, client_env
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD

UP = "\x1b[A"


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    return server_factory(tmp_path / "chat.db").start()


def settle(client: Pty, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        client.read_rest()
        time.sleep(0.02)


def saved(config: Path) -> dict[str, object]:
    try:
        return tomllib.loads(config.read_text())
    except (FileNotFoundError, tomllib.TOMLDecodeError):
        return {}


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
async def test_settings_and_input_history_survive_a_restart(server: ServerProcess, tmp_path: Path) -> None:
    config = tmp_path / "conf" / "client.toml"
    env = {**client_env(tmp_path), "CHATAPP_CONFIG": str(config)}
    bob = await wire(server, "bob")
    first = Pty(["--host", server.host, "--port", str(server.port), "--user", "restarter", "--register"], env)
    try:
        first.read_until(rb"Password:")
        first.type(PASSWORD + "\r")
        first.read_until(rb"Password again:")
        first.type(PASSWORD + "\r")
        first.read_until(rb"You are online in #general")
        first.type("/set user restarter\r")
        first.type("/set timestamp_seconds on\r")
        await asyncio.to_thread(settle, first, lambda: len(saved(config)) == 2, "the settings file")
        first.type("remember this line\r")
        said = await receive(bob, Message, lambda m: m.sender == "restarter")
        assert isinstance(said, Message) and said.text == "remember this line"
        first.type("/quit\r")
        assert await asyncio.to_thread(first.wait) == 0
    finally:
        first.close()
    assert saved(config) == {"user": "restarter", "timestamp_seconds": True}

    # No --user this time: the settings name the user.
    second = Pty(["--host", server.host, "--port", str(server.port)], env)
    try:
        await asyncio.to_thread(second.read_until, rb"Signing in as restarter\.")
        await asyncio.to_thread(second.read_until, rb"Password:")
        second.type(PASSWORD + "\r")
        await asyncio.to_thread(second.read_until, rb"You are online in #general")
        second.type(UP * 2 + "\r")  # back past /quit to what was typed last time, and send it again
        again = await receive(bob, Message, lambda m: m.sender == "restarter")
        assert isinstance(again, Message) and again.text == "remember this line"
        second.type("/quit\r")
        assert await asyncio.to_thread(second.wait) == 0
    finally:
        second.close()
        await bob.close()
    assert PASSWORD.encode() not in first.output + second.output
