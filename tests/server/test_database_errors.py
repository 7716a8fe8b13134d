"""A database that refuses a write costs that one request a ``server_error``, never the hub."""

from __future__ import annotations

import asyncio

from chatapp.protocol import Message, Ping, Pong, Presence, Register, Send
from tests.server.conftest import Dial, ServerFactory
from tests.support.databases import ScratchDatabase
from tests.support.wire import PASSWORD


async def test_locked_database_gives_server_error_and_the_server_goes_on(
    start_server: ServerFactory, dial: Dial, database: ScratchDatabase
) -> None:
    server = await start_server()
    client = await dial(server)
    bystander = await dial(server)
    with database.refusing_writes("users"):
        await client.send(Register(username="blocked", password=PASSWORD, ref="r"))
        # While the write waits out the busy timeout, everyone else is served.
        for i in range(3):
            await bystander.send(Ping(ref=i))
            assert (await bystander.expect(Pong)).ref == i
            await asyncio.sleep(0.2)
        error = await client.expect_error("server_error", timeout=30)
        assert error.ref == "r"
        assert "Traceback" not in error.message and "sqlite" not in error.message.lower()
    # Once the database is free again the same connection registers fine.
    await client.register("blocked")


async def test_a_message_the_database_refuses_is_not_delivered(
    start_server: ServerFactory, dial: Dial, database: ScratchDatabase
) -> None:
    server = await start_server()
    alice = await dial(server)
    await alice.register("alice")
    await alice.expect(Presence)
    bob = await dial(server)
    await bob.register("bob")
    await bob.expect(Presence)
    with database.refusing_writes("messages"):
        await alice.send(Send(room="general", text="never stored", ref="s1"))
        error = await alice.expect_error("server_error", timeout=30, skip=(Presence,))
        assert error.ref == "s1" and "not delivered" in error.message
    # The next message goes through; bob never saw the refused one.
    await alice.send(Send(room="general", text="stored"))
    assert (await bob.expect(Message, skip=(Presence,))).text == "stored"
    history = await alice.expect(Message, skip=(Presence,))
    assert history.text == "stored"
