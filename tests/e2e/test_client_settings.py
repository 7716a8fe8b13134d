"""``/set`` on the real chat screen against a real server: change, save, restart, still there."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from chatapp.client.settings import load
from chatapp.client.settings_store import SettingsStore
from tests.client.harness import CTRL_U, ENTER, TAB, running_screen
from tests.e2e.test_client_chat import signed_in
from tests.support.server import ServerProcess


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    """The client's settings touch no store: one database is enough."""
    return server_factory(tmp_path / "chat.db").start()


async def test_the_settings_file_round_trips_through_set(server: ServerProcess, tmp_path: Path) -> None:
    path = tmp_path / "config" / "client.toml"
    path.parent.mkdir()
    path.write_text('future_key = "kept"\nbell = "loud"\n')
    session = await signed_in(server)
    try:
        async with running_screen(session, settings=SettingsStore(load(path), path)) as screen:
            await screen.wait_line("bell must be true or false; using the default: on")
            await screen.wait_line("You are online in #general.")
            assert re.match(r"\d\d:\d\d -!- You are online", screen.find("You are online") or "")
            screen.type("/set high" + TAB)
            await screen.wait_input("/set highlight_words ")
            screen.type("deploy, lunch" + ENTER)
            await screen.wait_line(f"highlight_words is now deploy lunch (saved in {path})")
            screen.type("/set timestamp_seconds on" + ENTER)
            await screen.wait_line("timestamp_seconds is now on")
            screen.type("/set theme purple" + ENTER)
            await screen.wait_line("theme must be one of dark, light, mono; nothing was changed.")
            await screen.wait_input("/set theme purple")  # kept to be fixed
            screen.type(CTRL_U + "/set user carol" + ENTER)
            await screen.wait_line("user is now carol (saved in")
            assert screen.find("it takes effect at the next start")
        assert tomllib.loads(path.read_text()) == {
            "highlight_words": ["deploy", "lunch"], "timestamp_seconds": True, "user": "carol",
            "future_key": "kept",
        }
    finally:
        await session.aclose()

    session = await signed_in(server, register=False)  # the client again, as after a restart
    try:
        async with running_screen(session, settings=SettingsStore(load(path), path)) as screen:
            await screen.wait_line("You are online in #general.")
            assert re.match(r"\d\d:\d\d:\d\d -!- You are online", screen.find("You are online") or "")
            screen.type("/set timestamp_seconds" + ENTER)
            await screen.wait_line("timestamp_seconds = on: show seconds in message times")
            screen.type("/set" + ENTER)
            await screen.wait_line("highlight_words   = deploy lunch")
            await screen.wait_line("future_key")
            assert screen.find("bell              = on")
    finally:
        await session.aclose()
