"""``/me`` on the real chat screen (prompt_toolkit input and output, in-process) against a real server
process: typed as ``/me waves``, sent as an action, shown ``* alice waves``; another client's action
shown the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatapp.protocol import Message, Send
from tests.client.harness import ENTER, Screen
from tests.e2e.test_client_chat import receive, wire
from tests.support.server import ServerProcess

pytestmark = pytest.mark.sqlite_only  # the client's side: the store's is tested on both databases


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    return server_factory(tmp_path / "chat.db").start()


async def test_me_is_an_action_on_the_screen_and_on_the_wire(server: ServerProcess, screen: Screen) -> None:
    bob = await wire(server, "bob")
    screen.type("/me waves at bob" + ENTER)
    action = await receive(bob, Message, lambda m: m.sender == "alice")
    assert isinstance(action, Message) and (action.text, action.action) == ("waves at bob", True)
    await screen.wait_line("* alice waves at bob")
    await bob.send(Send(room="general", text="waves back", action=True))
    line = await screen.wait_line("* bob waves back")
    assert "<bob>" not in line
    screen.type("/me" + ENTER)  # nothing to do: says how, sends nothing
    await screen.wait_line("/me needs the action, as in /me waves")
    await bob.close()
