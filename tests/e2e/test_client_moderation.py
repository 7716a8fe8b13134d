"""Moderation from the real client against a real server process: a room owner kicks, bans and
removes a message; an admin (made by chatapp-admin) suspends a user. Alice is the real chat
screen (conftest.py's fixtures); bob is a raw protocol client, so the test sees exactly what
the server sends him."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatapp.protocol import Bye, Error, Join, Joined, Login, Send
from chatapp.protocol.moderation_frames import MessageRemoved, RoomEvent
from tests.client.harness import ENTER, Screen
from tests.e2e.test_admin import admin
from tests.e2e.test_client_chat import receive, wire
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient


@pytest.fixture
async def bob(server: ServerProcess) -> AsyncIterator[WireClient]:
    """A raw protocol client, closed at the end of the test however it ends."""
    client = await wire(server, "bob")
    yield client
    await client.close()


async def join(client: WireClient, room: str) -> Joined | Error:
    await client.send(Join(room=room, ref=client.next_ref()))
    answer = await receive(client, Joined | Error)  # type: ignore[arg-type]
    assert isinstance(answer, Joined | Error)
    return answer


async def test_an_owner_kicks_bans_and_removes_a_message_from_the_client(
    server: ServerProcess, screen: Screen, bob: WireClient
) -> None:
    screen.type("/join -create #dev" + ENTER)
    await screen.wait_line("You created #dev")
    assert isinstance(await join(bob, "dev"), Joined)

    screen.type("/kick bob spam" + ENTER)
    kicked = await receive(bob, RoomEvent, lambda e: e.action == "kick")
    assert isinstance(kicked, RoomEvent)
    assert (kicked.user, kicked.by, kicked.reason) == ("bob", "alice", "spam")
    await screen.wait_line("bob was kicked from #dev by you: spam")
    assert isinstance(await join(bob, "dev"), Joined)  # a kick is not a ban

    screen.type("/ban bob 2s flood" + ENTER)
    banned = await receive(bob, RoomEvent, lambda e: e.action == "ban")
    assert isinstance(banned, RoomEvent) and banned.until is not None and banned.reason == "flood"
    await screen.wait_line("bob is banned from #dev by you")
    refused = await join(bob, "dev")
    assert isinstance(refused, Error) and refused.code == "banned" and refused.until == banned.until
    await asyncio.sleep(2.5)  # the ban ends by itself
    assert isinstance(await join(bob, "dev"), Joined)

    await bob.send(Send(room="dev", text="buy cheap pills", nonce="p1"))
    await screen.wait_line("<bob> buy cheap pills")
    screen.type("/delete bob" + ENTER)  # bob's last message here
    removed = await receive(bob, MessageRemoved)
    assert isinstance(removed, MessageRemoved) and removed.by == "alice" and removed.room == "dev"
    await screen.wait_line("<bob> (message removed by alice)")
    assert screen.find("buy cheap pills") is None
    assert "Traceback" not in server.log


async def test_an_admin_suspends_from_the_client(
    server: ServerProcess, screen: Screen, bob: WireClient
) -> None:
    screen.type("/suspend bob 1h spam" + ENTER)
    await screen.wait_line("may not")  # refused: alice is an ordinary user

    done = await asyncio.to_thread(admin, server, "promote", "alice", "--role", "admin")
    assert done.returncode == 0, done.stderr
    screen.type("/suspend bob 1h spam" + ENTER)
    bye = await receive(bob, Bye, timeout=5)
    assert isinstance(bye, Bye) and bye.reason == "account suspended"
    assert bye.message is not None and "alice" in bye.message and "spam" in bye.message
    await screen.wait_line("bob is suspended until")

    again = await WireClient.connect(server.host, server.port)
    try:
        await again.send(Login(username="bob", password=PASSWORD, ref=1))
        refused = await receive(again, Error)
        assert isinstance(refused, Error) and refused.code == "suspended" and refused.until is not None
    finally:
        await again.close()
    assert "Traceback" not in server.log
