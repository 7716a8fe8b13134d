"""Action messages (``/me``) through a real server, on both databases: the ``action`` flag of a
``send`` or a ``dm`` is relayed live to everyone and to the sender, kept in history, replayed
after a resume and in a joining client's context; an encrypted message's flag stays inside."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chatapp.protocol import (
    Direct,
    History,
    HistoryPage,
    Join,
    Joined,
    Message,
    Presence,
    Send,
    SendDirect,
)
from tests.support.olm import TestDevice, fake_ciphertext
from tests.support.wire import WireClient

Connect = Callable[..., Awaitable[WireClient]]


async def online(connect: Connect, name: str) -> WireClient:
    client = await connect()
    await client.register(name)
    await client.expect(Presence)
    return client


async def test_an_action_is_relayed_stored_and_replayed_as_one(connect: Connect) -> None:
    alice = await online(connect, "alice")
    bob = await online(connect, "bob")
    await alice.send(Send(room="general", text="waves", nonce="a1", action=True, ref=1))
    await alice.send(Send(room="general", text="hello", nonce="a2", ref=2))
    own = await alice.expect(Message, skip=(Presence,))
    assert (own.text, own.action, own.nonce, own.ref) == ("waves", True, "a1", 1)
    assert not (await alice.expect(Message, skip=(Presence,))).action
    live = [await bob.expect(Message, skip=(Presence,)) for _ in range(2)]
    assert [(m.text, m.action) for m in live] == [("waves", True), ("hello", False)]

    await alice.send(SendDirect(to="bob", text="winks", action=True))
    direct = await bob.expect(Direct, skip=(Presence,))
    assert (direct.text, direct.action) == ("winks", True)
    assert (await alice.expect(Direct, skip=(Presence,))).action

    await bob.send(History(room="general", ref="h"))
    page = await bob.expect(HistoryPage, skip=(Presence,))
    assert [(m.text, m.action) for m in page.messages] == [("waves", True), ("hello", False)]
    await bob.send(History(with_="alice", ref="d"))
    page = await bob.expect(HistoryPage, skip=(Presence,))
    assert [(m.text, m.action) for m in page.messages] == [("winks", True)]

    # A client that missed them is caught up with the flag (a resume's replay).
    token = (await (carol := await connect()).register("carol")).token
    await carol.close()
    await alice.send(Send(room="general", text="dances", action=True))
    await alice.expect(Message, skip=(Presence,))
    carol = await connect()
    await carol.resume(token, last_id=live[-1].id)
    assert [(m.text, m.action, m.replayed) for m in carol.replayed] == [("dances", True, True)]

    # A room's context on joining carries the flag too.
    await alice.send(Join(room="den"))
    await alice.expect(Joined, skip=(Presence, Message))
    await alice.expect(HistoryPage)
    await alice.send(Send(room="den", text="sits down", action=True))
    await alice.expect(Message, skip=(Presence,))
    await bob.send(Join(room="den"))
    await bob.expect(Joined, skip=(Presence, Message, Direct))
    context = await bob.expect(HistoryPage)
    assert [(m.text, m.action) for m in context.messages] == [("sits down", True)]


async def test_an_encrypted_message_carries_its_action_flag_inside(connect: Connect) -> None:
    alice = await online(connect, "alice")
    await online(connect, "bob")
    envelope = TestDevice("alice", "LAPTOP01").envelope({"PHONE001": fake_ciphertext(100)})
    await alice.send(SendDirect(to="bob", e2e=envelope, action=True, ref=5))
    error = await alice.expect_error("bad_frame", skip=(Presence,))
    assert error.ref == 5 and "inside" in error.message
