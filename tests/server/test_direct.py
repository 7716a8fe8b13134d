"""Direct messages: both ends, stored, and waiting for an offline recipient."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chatapp.protocol import Direct, Presence, SendDirect
from tests.support.wire import WireClient

Connect = Callable[..., Awaitable[WireClient]]


async def online(connect: Connect, name: str) -> WireClient:
    client = await connect()
    await client.register(name)
    await client.expect(Presence)
    return client


async def test_direct_message_reaches_recipient_and_echoes_to_sender(connect: Connect) -> None:
    alice = await online(connect, "alice")
    bob = await online(connect, "bob")
    carol = await online(connect, "carol")
    await alice.send(SendDirect(to="BOB", text="psst", nonce="d1", ref=7))
    # The sender's copy is its acknowledgment: with its nonce and ref. The recipient gets neither.
    mine = await alice.expect(Direct, skip=(Presence,))
    assert (mine.sender, mine.to, mine.text, mine.nonce, mine.ref) == ("alice", "bob", "psst", "d1", 7)
    theirs = await bob.expect(Direct, skip=(Presence,))
    assert (theirs.sender, theirs.to, theirs.text, theirs.nonce, theirs.ref) == (
        "alice",
        "bob",
        "psst",
        None,
        None,
    )
    assert theirs.id == mine.id
    # Carol saw only presence, never the DM: the next thing she gets is her own message.
    await carol.send(SendDirect(to="carol", text="note to self"))
    direct = await carol.expect(Direct, skip=(Presence,))
    assert direct.text == "note to self"


async def test_unknown_recipient(connect: Connect) -> None:
    alice = await online(connect, "alice")
    await alice.send(SendDirect(to="nobody", text="hello?", ref=4))
    error = await alice.expect_error("no_such_user")
    assert error.ref == 4
    await alice.send(SendDirect(to="x" * 500, text="hello?"))
    await alice.expect_error("no_such_user")


async def test_offline_recipient_gets_it_at_next_login(connect: Connect) -> None:
    bob = await online(connect, "bob")
    await bob.close()
    alice = await online(connect, "alice")
    await alice.send(SendDirect(to="bob", text="while you were out"))
    sent = await alice.expect(Direct, skip=(Presence,))
    bob_again = await connect()
    await bob_again.login("bob")
    assert [(m.id, m.text, m.replayed) for m in bob_again.replayed] == [(sent.id, "while you were out", True)]
    assert bob_again.synced is not None and bob_again.synced.last_id == sent.id
