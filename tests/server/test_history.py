"""Stored history: paging boundaries, page size, permissions, nonce de-duplication, replay."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from chatapp.protocol import (
    Direct,
    History,
    HistoryPage,
    Join,
    Joined,
    ListRooms,
    Message,
    Presence,
    Resume,
    Send,
    SendDirect,
    Synced,
    Who,
    encode,
)
from chatapp.protocol.limits import REF_MAX
from tests.server.conftest import Dial, ServerFactory
from tests.support.wire import WireClient

Connect = Callable[..., Awaitable[WireClient]]


@pytest.fixture
async def connect(start_server: ServerFactory, dial: Dial) -> Connect:
    """Clients of a server whose send rate limit does not get in the way of volume."""
    server = await start_server(send_rate=10_000.0, send_burst=10_000)

    async def open_client(*, local_addr: str | None = None) -> WireClient:
        return await dial(server, local_addr=local_addr)

    return open_client


async def online(connect: Connect, name: str) -> WireClient:
    client = await connect()
    await client.register(name)
    await client.expect(Presence)
    return client


async def say(client: WireClient, count: int, room: str = "general", text: str = "m") -> list[int]:
    """Send ``count`` messages and return their ids, as acknowledged by the echoes."""
    for i in range(count):
        await client.send(Send(room=room, text=f"{text}{i}"))
    return [(await client.expect(Message, skip=(Presence, Direct))).id for _ in range(count)]


async def page(client: WireClient, **query: object) -> HistoryPage:
    await client.send(History(ref="h", **query))  # type: ignore[arg-type]
    result = await client.expect(HistoryPage, skip=(Presence, Message, Direct))
    assert result.ref == "h"
    return result


async def test_history_paging_boundaries(connect: Connect) -> None:
    alice = await online(connect, "alice")
    ids = await say(alice, 30)
    latest = await page(alice, room="general", limit=10)
    assert [m.id for m in latest.messages] == ids[20:] and latest.has_more
    older = await page(alice, room="general", before=ids[20], limit=10)
    assert [m.id for m in older.messages] == ids[10:20] and older.has_more
    oldest = await page(alice, room="general", before=ids[10], limit=10)
    assert [m.id for m in oldest.messages] == ids[:10] and not oldest.has_more
    newer = await page(alice, room="general", after=ids[24], limit=10)
    assert [m.id for m in newer.messages] == ids[25:] and not newer.has_more
    exact = await page(alice, room="general", after=ids[9], limit=20)
    assert [m.id for m in exact.messages] == ids[10:] and not exact.has_more
    between = await page(alice, room="general", after=ids[4], before=ids[8])
    assert [m.id for m in between.messages] == ids[5:8]
    nothing = await page(alice, room="general", after=ids[-1])
    assert nothing.messages == [] and not nothing.has_more
    everything = await page(alice, room="general")
    assert [m.id for m in everything.messages] == ids and not everything.has_more
    assert [m.text for m in everything.messages] == [f"m{i}" for i in range(30)]


async def test_history_requests_are_checked(connect: Connect) -> None:
    alice = await online(connect, "alice")
    for query, code in (
        ({"room": "general", "limit": 0}, "bad_frame"),
        ({"room": "general", "limit": 201}, "bad_frame"),
        ({}, "bad_frame"),
        ({"room": "general", "with_": "alice"}, "bad_frame"),
        ({"room": "general", "before": -1}, "bad_frame"),
        ({"room": "elsewhere"}, "not_in_room"),
        ({"with_": "nobody"}, "no_such_user"),
    ):
        await alice.send(History(**query))  # type: ignore[arg-type]
        await alice.expect_error(code)


async def test_a_page_never_exceeds_a_frame(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server(send_rate=1000.0, send_burst=1000)
    alice = await dial(server)
    await alice.register("alice")
    await alice.expect(Presence)
    ids = await say(alice, 40, text="y" * 3990)
    result = await page(alice, room="general", limit=40)
    assert result.has_more and 0 < len(result.messages) < 40
    assert [m.id for m in result.messages] == ids[-len(result.messages) :]  # the newest ones
    assert len(encode(result)) <= 64 * 1024


async def test_direct_conversation_history(connect: Connect) -> None:
    alice = await online(connect, "alice")
    bob = await online(connect, "bob")
    await alice.expect(Presence)
    for i in range(3):
        await alice.send(SendDirect(to="bob", text=f"a{i}"))
        await bob.send(SendDirect(to="alice", text=f"b{i}"))
    await say(alice, 2)  # room messages are not part of the conversation
    result = await page(bob, with_="ALICE")
    assert result.with_ == "alice"
    assert sorted(m.text for m in result.messages) == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert all(isinstance(m, Direct) for m in result.messages)
    assert [m.id for m in result.messages] == sorted(m.id for m in result.messages)


async def test_a_resent_nonce_is_stored_and_delivered_once(connect: Connect) -> None:
    alice = await online(connect, "alice")
    bob = await online(connect, "bob")
    await alice.expect(Presence)
    await alice.send(Send(room="general", text="once", nonce="n-1"))
    first = await alice.expect(Message)
    assert (await bob.expect(Message)).id == first.id
    await alice.send(Send(room="general", text="once", nonce="n-1"))
    again = await alice.expect(Message)
    assert (again.id, again.nonce) == (first.id, "n-1")
    await alice.send(Send(room="general", text="next"))
    assert (await bob.expect(Message)).text == "next"  # bob never saw the resend
    result = await page(bob, room="general")
    assert [m.text for m in result.messages] == ["once", "next"]


async def test_resume_replays_exactly_what_was_missed_even_while_others_talk(connect: Connect) -> None:
    alice = await online(connect, "alice")
    bob = await online(connect, "bob")
    await alice.expect(Presence)
    seen = await say(alice, 3)
    for _ in range(3):
        await bob.expect(Message)
    token = bob.last_token
    await bob.close()
    missed = await say(alice, 150)

    async def keep_talking() -> list[int]:
        return await say(alice, 40, text="live")

    bob_again = await connect()
    talker = asyncio.create_task(keep_talking())
    await bob_again.resume(token, last_id=seen[-1])
    replayed = [m.id for m in bob_again.replayed]
    assert replayed[: len(missed)] == missed
    live_ids = await talker
    received = list(replayed)
    while len(set(received)) < len(missed) + len(live_ids):
        frame = await bob_again.recv()
        if isinstance(frame, Message):
            received.append(frame.id)
    assert received == sorted(received), "in order"
    assert len(received) == len(set(received)), "each once"
    assert set(received) == set(missed) | set(live_ids), "nothing missing"
    assert all(m.replayed for m in bob_again.replayed)


async def test_a_resume_from_an_id_never_written_still_gets_new_messages(connect: Connect) -> None:
    """A client's last_id above every stored id (a database restored from an older backup, or a
    made-up number) hides no message written from now on: what a resume passes over is never
    above what is committed."""
    alice = await online(connect, "alice")
    bob = await online(connect, "bob")
    await alice.expect(Presence)
    token = bob.last_token
    await bob.close()
    bob_again = await connect()
    await bob_again.resume(token, last_id=10**9)
    assert bob_again.replayed == []
    (sent,) = await say(alice, 1, text="new")
    message = await bob_again.expect(Message, skip=(Presence,))
    assert (message.id, message.text) == (sent, "new0")


async def test_login_replays_what_was_missed_since_the_last_session(connect: Connect) -> None:
    alice = await online(connect, "alice")
    bob = await online(connect, "bob")
    await alice.expect(Presence)
    await say(alice, 2)
    await bob.expect(Message)
    await bob.expect(Message)
    await bob.close()
    missed = await say(alice, 5)
    bob_again = await connect()
    await bob_again.login("bob")
    assert [m.id for m in bob_again.replayed] == missed
    assert isinstance(bob_again.synced, Synced) and bob_again.synced.last_id == missed[-1]


async def test_join_with_last_id_sends_what_came_after(connect: Connect) -> None:
    alice = await online(connect, "alice")
    await alice.send(Join(room="rust"))
    await alice.expect(Joined)
    await alice.expect(HistoryPage)
    await alice.expect(Presence)
    ids = await say(alice, 5, room="rust")
    bob = await online(connect, "bob")
    await bob.send(Join(room="rust", last_id=ids[1]))
    await bob.expect(Joined)
    context = await bob.expect(HistoryPage)
    assert [m.id for m in context.messages] == ids[2:] and context.room == "rust"


@pytest.mark.parametrize(
    "frame",
    [
        History(room="general", before=2**63),
        History(room="general", after=10**20),
        Join(room="general", last_id=2**64),
    ],
    ids=["before", "after", "join"],
)
async def test_ids_past_64_bits_are_bad_frames_not_server_errors(connect: Connect, frame: object) -> None:
    alice = await online(connect, "alice")
    await alice.send(frame)  # type: ignore[arg-type]
    await alice.expect_error("bad_frame")
    await alice.send(Send(room="general", text="still fine"))
    assert (await alice.expect(Message)).text == "still fine"


async def test_a_resume_with_an_id_past_64_bits_is_refused_before_signing_in(connect: Connect) -> None:
    alice = await online(connect, "alice")
    token = alice.last_token
    await alice.close()
    again = await connect()
    await again.send(Resume(token=token, last_id=2**63, ref=1))
    error = await again.expect_error("bad_frame")
    assert error.ref == 1
    await again.send(Send(room="general", text="am I in?"))
    await again.expect_error("not_authenticated")
    await again.resume(token, last_id=0)
    assert again.synced is not None


async def test_a_reply_echoing_the_longest_ref_still_fits_a_frame(
    start_server: ServerFactory, dial: Dial
) -> None:
    """Pages are cut to the frame limit counting the ref they echo (128 control characters: 768
    bytes once escaped), so no reply is ever longer than the ``max_frame`` of ``welcome``."""
    server = await start_server(send_rate=1000.0, send_burst=1000, max_frame=4096, max_text=1000)
    alice = await dial(server)
    await alice.register("alice")
    await alice.expect(Presence)
    await say(alice, 12, text="y" * 990)
    ref = "\x01" * REF_MAX
    requests = (History(room="general", limit=12, ref=ref), ListRooms(ref=ref), Who(room="general", ref=ref))
    for request in requests:
        await alice.send(request)
        reply = await alice.recv()
        assert alice.last_size <= 4096, (request, alice.last_size)
        assert getattr(reply, "ref", None) == ref
    await alice.send(History(room="general", limit=12, ref="r" * (REF_MAX + 1)))
    error = await alice.expect_error("bad_frame")
    assert error.ref is None


async def test_replays_and_history_show_nonces_on_ones_own_messages_only(connect: Connect) -> None:
    alice = await online(connect, "alice")
    bob = await online(connect, "bob")
    await alice.send(Send(room="general", text="from alice", nonce="a-1"))
    await bob.send(Send(room="general", text="from bob", nonce="b-1"))
    await bob.send(SendDirect(to="alice", text="psst", nonce="b-2"))
    for _ in range(3):
        await alice.expect(Message | Direct, skip=(Presence,))  # type: ignore[arg-type]
    token = alice.last_token
    await alice.close()
    again = await connect()
    await again.resume(token, last_id=0)
    seen = {m.text: m.nonce for m in again.replayed}
    assert seen == {"from alice": "a-1", "from bob": None, "psst": None}
    listed = await page(again, room="general")
    assert {m.text: m.nonce for m in listed.messages} == {"from alice": "a-1", "from bob": None}
    conversation = await page(again, with_="bob")
    assert [(m.text, m.nonce) for m in conversation.messages] == [("psst", None)]
