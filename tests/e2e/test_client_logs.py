"""Chat logs from the real chat screen against a real server: what is shown live is in the files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatapp.client.settings import Loaded, Settings
from chatapp.client.settings_store import SettingsStore
from chatapp.protocol import Send, SendDirect
from tests.client.harness import ENTER, running_screen, until
from tests.e2e.test_client_chat import signed_in, wire
from tests.support.server import ServerProcess


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    return server_factory(tmp_path / "chat.db").start()


async def test_rooms_and_conversations_are_logged_when_turned_on(
    server: ServerProcess, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    bob = await wire(server, "bob")
    session = await signed_in(server)
    settings = SettingsStore(Loaded(Settings(logs_dir=str(logs))))  # logs off: the default
    try:
        async with running_screen(session, settings=settings) as screen:
            await screen.wait_line("You are online in #general.")
            await bob.send(Send(room="general", text="before logs", nonce="n0"))
            await screen.wait_line("<bob> before logs")
            screen.type("/set logs on" + ENTER)
            await screen.wait_line("logs is now on (for this run only: there is no settings file).")
            await bob.send(Send(room="general", text="\x1b]0;pwned\x07 hi\nsecond line", nonce="n1"))
            await screen.wait_line("<bob> \u241b]0;pwned\u2407 hi")
            screen.type("mine" + ENTER)
            await screen.wait_line("<alice> mine")
            await bob.send(SendDirect(to="alice", text="psst", nonce="n2"))
            await until(lambda: (target := screen.screen.state.targets.resolve("@bob")) is not None
                        and any("psst" in line.plain for line in target.log.lines), what="bob's message")
    finally:
        await session.aclose()
        await bob.close()
    where = logs / f"127.0.0.1_{server.port}" / "alice"
    room = (where / "room-general.log").read_text()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    assert re.fullmatch(
        rf"{stamp} <bob> \u241b\]0;pwned\u2407 hi\n{stamp} <bob> second line\n{stamp} <alice> mine\n", room
    ), room
    assert re.fullmatch(rf"{stamp} <bob> psst\n", (where / "dm-bob.log").read_text())
