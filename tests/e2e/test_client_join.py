"""``/join`` against a real server: room names complete from the server's list, fetched again when
it is old, and a room that does not exist is created only when the user says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatapp.protocol import ListRooms, RoomList
from tests.client.harness import CTRL_U, ENTER, TAB, running_screen, until
from tests.e2e.test_client_chat import receive, signed_in, wire
from tests.e2e.test_client_rooms import join
from tests.support.server import ServerProcess
from tests.support.wire import WireClient


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    """The client's side of joining: one database is enough (tests/server covers both)."""
    return server_factory(tmp_path / "chat.db").start()


async def rooms_on(server_client: WireClient) -> set[str]:
    await server_client.send(ListRooms(ref="list"))
    answer = await receive(server_client, RoomList, lambda frame: frame.ref == "list")
    assert isinstance(answer, RoomList)
    return {room.name for room in answer.rooms}


async def test_a_room_made_after_sign_in_completes_and_a_typo_creates_nothing(server: ServerProcess) -> None:
    bob = await wire(server, "bob")
    session = await signed_in(server)
    try:
        async with running_screen(session) as screen:
            await until(lambda: "general" in screen.screen.state.known_rooms, what="the room list")
            await join(bob, "rustaceans")  # made after alice's client fetched the list
            screen.type("/join ru" + TAB)  # nothing known: the list is fetched again, then completed
            await screen.wait_input("/join #rustaceans ")
            screen.type(ENTER)
            await screen.wait_line("You joined #rustaceans")

            screen.type("/join rustacaens" + ENTER)  # a typo
            await screen.wait_line("There is no room #rustacaens on the server's list. Create it")
            assert "create #rustacaens?" in screen.screen.bars.prompt()[0][1]
            screen.type("no" + ENTER)
            await screen.wait_line("#rustacaens was not created.")
            assert "rustacaens" not in await rooms_on(bob)

            screen.type("/join rustacaens" + ENTER)
            await screen.wait_line("There is no room #rustacaens")
            screen.type("yes" + ENTER)
            await screen.wait_line("You created #rustacaens and own it")
            screen.type(CTRL_U + "/join -create brandnew" + ENTER)
            await screen.wait_line("You created #brandnew and own it")
            assert {"rustacaens", "brandnew"} <= await rooms_on(bob)
    finally:
        await session.aclose()
        await bob.close()
