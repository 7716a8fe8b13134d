"""Chat over the web port's WebSocket, for real, beside TCP clients of the same server: the same
rooms, messages, replays, limits and moderation. Run on SQLite and PostgreSQL (they touch the store)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from chatapp.protocol import Bye, Message, Presence, Send, SendDirect
from chatapp.protocol.frames import Direct
from chatapp.server.app import ChatServer
from chatapp.server.services.administration import Actor
from tests.server.conftest import Dial, ServerFactory
from tests.support.ws_wire import WsWireClient

NOISE = (Presence,)

OpenWs = Callable[..., Awaitable[WsWireClient]]


@pytest.fixture
async def open_ws() -> AsyncIterator[OpenWs]:
    clients: list[WsWireClient] = []

    async def open_client(server: ChatServer, **options: Any) -> WsWireClient:
        client = await WsWireClient.open(f"ws://127.0.0.1:{server.web_port}/ws", **options)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()


async def test_a_browser_and_a_terminal_chat_in_the_same_room(
    start_server: ServerFactory, dial: Dial, open_ws: OpenWs
) -> None:
    server = await start_server(web_port=0)
    web = await open_ws(server)
    assert web.welcome is not None and web.welcome.server == "chatapp"
    await web.register("alice")
    tcp = await dial(server)
    await tcp.register("bob")

    await web.send(Send(room="general", text="hello from the browser", ref="w1"))
    seen = await tcp.expect(Message, skip=NOISE)
    assert (seen.sender, seen.text) == ("alice", "hello from the browser")
    echo = await web.expect(Message, skip=NOISE)
    assert echo.id == seen.id and echo.ref == "w1"

    await tcp.send(Send(room="general", text="hello from the terminal", ref="t1"))
    heard = await web.expect(Message, skip=NOISE)
    assert (heard.sender, heard.text) == ("bob", "hello from the terminal")

    await tcp.send(SendDirect(to="alice", text="psst", ref="d"))
    direct = await web.expect(Direct, skip=NOISE + (Message,))
    assert (direct.sender, direct.text) == ("bob", "psst")
    # One frame per text message, without the newline of the TCP framing.
    assert all(message.startswith("{") and message.endswith("}") for message in web.messages)


async def test_a_web_client_resumes_and_gets_exactly_what_it_missed(
    start_server: ServerFactory, dial: Dial, open_ws: OpenWs
) -> None:
    server = await start_server(web_port=0)
    web = await open_ws(server)
    await web.register("alice")
    token = web.last_token
    await web.send(Send(room="general", text="before", ref=1))
    before = await web.expect(Message, skip=NOISE)
    await web.close()

    tcp = await dial(server)
    await tcp.register("bob")
    for n in range(3):
        await tcp.send(Send(room="general", text=f"missed {n}", ref=n))
        await tcp.expect(Message, skip=NOISE)

    again = await open_ws(server)
    await again.resume(token, last_id=before.id)
    assert [m.text for m in again.replayed] == ["missed 0", "missed 1", "missed 2"]
    await tcp.send(Send(room="general", text="live", ref="l"))
    assert (await again.expect(Message, skip=NOISE)).text == "live"


async def test_an_address_ban_closes_web_connections_and_refuses_new_ones(
    start_server: ServerFactory, open_ws: OpenWs
) -> None:
    server = await start_server(web_port=0)
    mallory = await open_ws(server, local_addr=("127.0.0.77", 0))
    await mallory.register("mallory")
    lurker = await open_ws(server, local_addr=("127.0.0.77", 0))
    carol = await open_ws(server, local_addr=("127.0.0.78", 0))
    await carol.register("carol")

    done = await server.administration.ban_address(Actor.console(), "127.0.0.77", reason="abuse")
    assert done.count == 2
    for client in (mallory, lurker):
        bye = await client.expect(Bye, skip=NOISE + (Message,))
        assert (bye.reason, bye.message) == ("address banned", "this address is banned: abuse")
        assert await client.closed()
    with pytest.raises(Exception, match="403"):
        await WsWireClient.open(f"ws://127.0.0.1:{server.web_port}/ws", local_addr=("127.0.0.77", 0))
    await carol.send(Send(room="general", text="still here", ref="c"))
    assert (await carol.expect(Message, skip=NOISE)).text == "still here"


async def test_a_moderator_disconnects_a_web_user_as_a_terminal_one(
    start_server: ServerFactory, open_ws: OpenWs
) -> None:
    server = await start_server(web_port=0)
    web = await open_ws(server, local_addr=("127.0.0.9", 0))
    await web.register("mallory")
    # The staff see the web client's session as a terminal one's: connected, from its address.
    listed = await server.administration.user_sessions(Actor.console(), "mallory")
    (session,) = listed.sessions
    assert session.connected and session.address.startswith("127.0.0.9")
    done = await server.administration.disconnect(Actor.console(), "mallory")
    assert done.count == 1
    bye = await web.expect(Bye, skip=NOISE + (Message,))
    assert bye.reason == "disconnected by a moderator"
    assert await web.closed()
