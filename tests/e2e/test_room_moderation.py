"""Room moderation against a real server process (on each database): a kick, a ban that ends by
itself, a removed message gone from history and from a resume's replay, the owner out of an
operator's reach."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from chatapp.protocol import Error, History, HistoryPage, Join, Message, Presence, Send
from chatapp.protocol.moderation_frames import DeleteMessage, MessageRemoved, Moderate, RoomEvent
from tests.server.moderation_helpers import event, join, moderate, refused
from tests.support.server import ServerProcess
from tests.support.wire import WireClient


async def said(client: WireClient, text: str) -> Message:
    """Send ``text`` to ``rust``; the sender's own copy (others' messages passed over)."""
    ref = client.next_ref()
    await client.send(Send(room="rust", text=text, ref=ref))
    while True:
        frame = await client.expect(Message, skip=(Presence,))
        if frame.ref == ref:
            return frame


@pytest.fixture
async def clients(server: ServerProcess) -> AsyncIterator[list[WireClient]]:
    """alice (who makes room ``rust``, so owns it), bob and carol, each signed in and in ``rust``."""
    made = []
    for name in ("alice", "bob", "carol"):
        client = await WireClient.connect(server.host, server.port)
        await client.register(name)
        await join(client, "rust")
        made.append(client)
    yield made
    await asyncio.gather(*(client.close() for client in made))


async def test_a_kicked_user_is_out_and_can_rejoin(clients: list[WireClient]) -> None:
    alice, bob, carol = clients
    await moderate(alice, "rust", "kick", "bob", reason="calm down")
    told = await event(bob, "kick")
    assert (told.by, told.reason) == ("alice", "calm down")
    await refused(bob, Send(room="rust", text="am I out?"), "not_in_room")
    await join(bob, "rust")
    await bob.send(Send(room="rust", text="back again"))
    assert (await carol.expect(Message, skip=(Presence, RoomEvent))).text == "back again"


async def test_a_banned_user_cannot_rejoin_read_or_send_until_the_ban_ends(clients: list[WireClient]) -> None:
    alice, bob, _ = clients
    own = await moderate(alice, "rust", "ban", "bob", reason="flooding", duration=2)
    assert (await event(bob, "ban")).until == own.until
    refusal = await refused(bob, Join(room="rust"), "banned")
    assert refusal.until == own.until and "flooding" in refusal.message
    await refused(bob, History(room="rust"), "banned")
    await refused(bob, Send(room="rust", text="let me in"), "banned")
    await asyncio.sleep(2.2)  # the ban ends by itself
    await join(bob, "rust")
    await bob.send(Send(room="rust", text="thank you"))
    assert (await alice.expect(Message, skip=(Presence, RoomEvent))).text == "thank you"
    # A ban without an end lasts until it is lifted.
    await moderate(alice, "rust", "ban", "bob")
    await refused(bob, Join(room="rust"), "banned")
    await moderate(alice, "rust", "unban", "bob")
    await join(bob, "rust")


async def test_a_removed_message_is_gone_from_history_and_from_a_resume(
    server: ServerProcess, clients: list[WireClient]
) -> None:
    alice, bob, carol = clients
    before = await said(carol, "before")
    token = carol.last_token
    await carol.close()  # a dropped link: carol's token still resumes
    remark = await said(bob, "a regrettable remark")
    fine = await said(bob, "a fine remark")
    await alice.send(DeleteMessage(id=remark.id, ref="rm"))
    removed = await alice.expect(MessageRemoved, skip=(Presence, Message))
    assert (removed.id, removed.by, removed.room) == (remark.id, "alice", "rust")
    assert (await bob.expect(MessageRemoved, skip=(Presence, Message))).id == remark.id
    await bob.send(History(room="rust", ref="h"))
    page = await bob.expect(HistoryPage, skip=(Presence,))
    assert all("regrettable" not in m.text for m in page.messages)
    assert [(m.id, m.removed_by) for m in page.messages if m.removed_by] == [(remark.id, "alice")]
    again = await WireClient.connect(server.host, server.port)
    try:
        await again.resume(token, last_id=before.id)
        replay = [(m.id, m.text, m.removed_by) for m in again.replayed]
        assert replay == [(remark.id, "", "alice"), (fine.id, "a fine remark", None)]
    finally:
        await again.close()
    assert server.rows("SELECT count(*) FROM messages WHERE text LIKE '%regrettable%'") == [(0,)]


async def test_an_operator_cannot_kick_the_owner(clients: list[WireClient]) -> None:
    alice, bob, carol = clients
    await moderate(alice, "rust", "op", "bob")
    await bob.send(Moderate(room="rust", action="kick", user="alice", ref="k"))
    refusal = await bob.expect(Error, skip=(Presence, RoomEvent))
    assert (refusal.code, refusal.ref) == ("forbidden", "k")
    await moderate(bob, "rust", "kick", "carol")  # a member is within an operator's reach
    await refused(carol, Send(room="rust", text="hey"), "not_in_room")
    await alice.send(Send(room="rust", text="still here"))
    assert (await alice.expect(Message, skip=(Presence, RoomEvent))).text == "still here"
