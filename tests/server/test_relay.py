"""Delivery in room general: everyone gets every message once, in order, with ids and times."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from chatapp.protocol import HistoryPage, Join, Joined, Message, Presence, Send, encode
from tests.server.conftest import Dial, ServerFactory
from tests.support.wire import WireClient

Connect = Callable[..., Awaitable[WireClient]]
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def signed_in(connect: Connect, *names: str) -> list[WireClient]:
    clients = []
    for name in names:
        client = await connect()
        await client.register(name)
        clients.append(client)
    # Drain the join announcements each saw (own join and every later one).
    for i, client in enumerate(clients):
        for _ in range(len(names) - i):
            await client.expect(Presence)
    return clients


async def test_message_reaches_everyone_including_sender(connect: Connect) -> None:
    alice, bob, carol = await signed_in(connect, "alice", "bob", "carol")
    await alice.send(Send(room="general", text="hello all", nonce="n-1", ref="s1"))
    for client in (alice, bob, carol):
        message = await client.expect(Message)
        assert (message.room, message.sender, message.text) == ("general", "alice", "hello all")
        assert TS.fullmatch(message.ts)
        # The sender's copy answers its send (nonce and ref); nobody else sees either.
        expected = ("n-1", "s1") if client is alice else (None, None)
        assert (message.nonce, message.ref) == expected


async def test_ids_increase_and_order_is_kept_per_sender(connect: Connect) -> None:
    alice, bob = await signed_in(connect, "alice", "bob")
    for i in range(30):
        await alice.send(Send(room="general", text=f"m{i}"))
    got = [await bob.expect(Message) for _ in range(30)]
    assert [m.text for m in got] == [f"m{i}" for i in range(30)]
    ids = [m.id for m in got]
    assert ids == sorted(ids) and len(set(ids)) == 30


async def test_leave_is_announced(connect: Connect) -> None:
    alice, bob = await signed_in(connect, "alice", "bob")
    await bob.close()
    presence = await alice.expect(Presence)
    assert (presence.event, presence.username) == ("offline", "bob")


async def test_text_limits(connect: Connect) -> None:
    (alice,) = await signed_in(connect, "alice")
    await alice.send(Send(room="general", text="x" * 4001, ref=1))
    error = await alice.expect_error("text_too_long")
    assert error.ref == 1 and "4000" in error.message
    await alice.send(Send(room="general", text="   ", ref=2))
    await alice.expect_error("bad_frame")
    await alice.send(Send(room="general", text="x" * 4000, ref=3))
    assert len((await alice.expect(Message)).text) == 4000


async def test_rooms_other_than_general_are_refused(connect: Connect) -> None:
    (alice,) = await signed_in(connect, "alice")
    await alice.send(Send(room="Not A Room!", text="hi"))
    await alice.expect_error("invalid_room")
    await alice.send(Send(room="elsewhere", text="hi"))
    await alice.expect_error("not_in_room")


async def test_flooding_sender_is_rate_limited_and_told_when_to_retry(connect: Connect) -> None:
    (alice,) = await signed_in(connect, "alice")
    # Default burst is 60 messages; send well past it in one go.
    alice.writer.write(b"".join(encode(Send(room="general", text=f"f{i}", ref=i)) for i in range(100)))
    delivered, limited = 0, []
    for _ in range(100):
        frame = await alice.recv()
        if isinstance(frame, Message):
            delivered += 1
        else:
            assert getattr(frame, "code", None) == "rate_limited", frame
            limited.append(frame)
    assert 55 <= delivered < 100
    assert limited and all(f.retry_after and f.retry_after > 0 for f in limited)  # type: ignore[attr-defined]


async def test_a_client_that_stops_reading_never_delays_the_others(
    start_server: ServerFactory, dial: Dial
) -> None:
    # Thousands of one same text: the repeat rule (flood control) is off for this one.
    server = await start_server(send_rate=1e6, send_burst=1_000_000, repeat_limit=0)

    async def connect(**kw: object) -> WireClient:
        return await dial(server)

    alice, bob, stalled = await signed_in(connect, "alice", "bob", "stalled")
    stalled.writer.transport.pause_reading()  # type: ignore[attr-defined]
    count, text = 3000, "y" * 3900  # ~12 MB: past kernel buffers and the 1 MiB send queue

    left: list[str] = []
    received = {"alice": 0, "bob": 0}

    async def receive_all(client: WireClient, name: str) -> list[int]:
        ids: list[int] = []
        while len(ids) < count:
            frame = await client.recv(timeout=10)
            if isinstance(frame, Message):
                ids.append(frame.id)
                received[name] += 1
            elif isinstance(frame, Presence) and frame.event == "offline" and client is bob:
                left.append(frame.username)
        return ids

    readers = [asyncio.create_task(receive_all(c, n)) for c, n in ((alice, "alice"), (bob, "bob"))]
    for i in range(count):
        alice.writer.write(encode(Send(room="general", text=text)))
        if i % 50 == 0:
            await alice.writer.drain()
            # Pace the sender to what the readers in this process keep up with: only the
            # stalled client should fall behind.
            while i - min(received.values()) > 100:
                await asyncio.sleep(0.001)
    await alice.writer.drain()
    for ids in await asyncio.gather(*readers):
        assert ids == sorted(ids) and len(set(ids)) == count
    if not left:
        presence = await bob.expect(Presence)
        left.append(presence.username)
    assert left == ["stalled"]
    await stalled.close()


async def test_a_burst_to_two_rooms_reaches_a_member_of_both_in_id_order(connect: Connect) -> None:
    # Messages of one commit batch reach the hub in one loop turn; the hub joins runs of
    # messages to the same room. Alternating rooms must not be regrouped room by room.
    alice, bob = await signed_in(connect, "alice", "bob")
    for client in (alice, bob):
        await client.send(Join(room="side"))
        await client.expect(Joined, skip=(Presence,))
        await client.expect(HistoryPage)  # the join is complete: live delivery is no longer held
    rooms = ["general", "side", "side", "general", "side"] * 8
    await alice.send_raw(
        b"".join(encode(Send(room=room, text=f"m{i}", nonce=f"n{i}")) for i, room in enumerate(rooms))
    )
    got = [await bob.expect(Message, skip=(Presence,)) for _ in rooms]
    assert [(m.room, m.text) for m in got] == [(room, f"m{i}") for i, room in enumerate(rooms)]
    ids = [m.id for m in got]
    assert ids == sorted(ids) and len(set(ids)) == len(rooms)
