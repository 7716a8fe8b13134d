"""Signing in and replaying under churn and abuse: nobody waits for anybody else's database work.

Real servers on real sockets and SQLite files: the message writer goes on while
every pooled connection is taken, replays keep the newest messages and are
bounded per account, and writes stuck behind a lock held elsewhere fail
together.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from chatapp.protocol import Error, Join, Joined, Message, Presence, Register, Send, Synced
from chatapp.server.app import ChatServer
from tests.server.conftest import Dial, ServerFactory
from tests.support.databases import ScratchDatabase
from tests.support.wire import WireClient

FAST_SENDING = {"send_rate": 100_000.0, "send_burst": 100_000}


async def post(client: WireClient, count: int, room: str = "general", prefix: str = "m") -> list[int]:
    """Send ``count`` messages and wait for the acknowledgment of each; their ids."""
    for n in range(count):
        await client.send(Send(room=room, text=f"{prefix}{n}", nonce=f"{prefix}{n}"))
    ids = []
    while len(ids) < count:
        frame = await client.expect(Message, skip=(Presence,))
        if frame.sender == client.username:  # type: ignore[attr-defined]
            ids.append(frame.id)
    return ids


async def signed_up(dial: Dial, server: ChatServer, name: str) -> WireClient:
    client = await dial(server)
    await client.register(name)
    client.username = name  # type: ignore[attr-defined]
    return client


@pytest.mark.sqlite_only  # the SQLite backend's own connections; on PostgreSQL every write uses the pool
async def test_messages_and_sign_ins_go_on_while_every_pooled_connection_is_taken(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    alice = await signed_up(dial, server, "alice")
    bob = await signed_up(dial, server, "bob")
    await post(bob, 3)
    engine = server._store.backend.engine  # type: ignore[union-attr]  # noqa: SLF001 - held, not replaced
    pool = engine.sync_engine.pool
    held: list[AsyncConnection] = []
    try:
        # Every connection the pool will give out (its size and its overflow), held by the test:
        # what readers holding them all at once looked like.
        for _ in range(pool.size() + pool._max_overflow):  # type: ignore[attr-defined]  # noqa: SLF001
            held.append(await engine.connect())
        # A join needs a pooled connection to write: it waits for one, and must not hold up others.
        await alice.send(Join(room="dev", ref=1))
        await asyncio.sleep(0.2)
        # The message writer goes on...
        assert len(await post(bob, 5, prefix="x")) == 5
        # ... and so do registrations, logins and the replay of what a user missed.
        carol = await signed_up(dial, server, "carol")
        assert [m.text for m in carol.replayed][-3:] == ["x2", "x3", "x4"]
        await carol.close()
        again = await dial(server)
        await again.login("carol")
        assert again.synced is not None and again.synced.last_id >= max(m.id for m in carol.replayed)
    finally:
        for connection in held:
            await connection.close()
    joined = await alice.expect(Joined, skip=(Message, Presence))
    assert joined.room == "dev"


async def test_a_replay_cut_by_the_cap_keeps_the_newest_and_live_messages_follow(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server(replay_max=5, **FAST_SENDING)
    alice = await signed_up(dial, server, "alice")
    bob = await signed_up(dial, server, "bob")
    first = await post(bob, 1)
    token = alice.last_token
    await alice.close()
    missed = await post(bob, 12, prefix="missed")

    back = await dial(server)
    await back.resume(token, last_id=first[0])
    # The newest five of the twelve missed, in order; has_more says older ones were left out.
    assert [m.id for m in back.replayed] == missed[-5:]
    assert all(m.replayed for m in back.replayed)
    assert back.synced is not None and back.synced.has_more and back.synced.last_id == missed[-1]
    live = await post(bob, 2, prefix="live")
    got = [await back.expect(Message, skip=(Presence,)) for _ in live]
    assert [m.id for m in got] == live


async def test_a_looped_resume_from_zero_cannot_replay_more_than_the_budget(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server(replay_max=6, replay_budget=10, **FAST_SENDING)
    alice = await signed_up(dial, server, "alice")
    stored = await post(alice, 20)
    token = alice.last_token
    await alice.close()

    replayed: list[list[int]] = []
    synced: list[Synced] = []
    for _ in range(4):
        client = await dial(server)
        await client.resume(token, last_id=0)
        replayed.append([m.id for m in client.replayed])
        assert client.synced is not None
        synced.append(client.synced)
        await client.close()
        await asyncio.sleep(0.05)  # its session is ended before the next resume takes it over

    # 6 (the cap), then the 4 left of the budget of 10, then nothing: always the newest.
    assert replayed == [stored[-6:], stored[-4:], [], []]
    assert all(s.has_more and s.last_id == stored[-1] for s in synced)


async def test_a_new_accounts_synced_covers_its_first_page_under_traffic(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server(registrations_per_address=100, **FAST_SENDING)
    bob = await signed_up(dial, server, "bob")
    flooding = True

    async def flood() -> None:
        n = 0
        while flooding:
            await bob.send(Send(room="general", text=f"f{n}"))
            n += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(flood())
    try:
        for n in range(12):
            client = await dial(server)
            await client.register(f"newcomer{n}")
            assert client.synced is not None
            page = max((m.id for m in client.replayed), default=0)
            # Everything the first page showed is covered by synced (and so by the seen mark):
            # a later login must not send it again.
            assert client.synced.last_id >= page
            await client.close()
    finally:
        flooding = False
        await task


@pytest.mark.sqlite_only  # SQLite's write lock and the store's write turn
async def test_writes_behind_a_lock_held_elsewhere_fail_together(
    start_server: ServerFactory, dial: Dial, database: ScratchDatabase
) -> None:
    timeout = 1.0
    server = await start_server(sqlite_busy_timeout=timeout, **FAST_SENDING)
    senders = [await signed_up(dial, server, f"user{n}") for n in range(3)]
    newcomers = [await dial(server) for _ in range(2)]
    await post(senders[0], 1)

    assert database.path is not None
    outside = sqlite3.connect(database.path, isolation_level=None)
    outside.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock ...

    async def let_go() -> None:
        # ... for 2.5 busy timeouts: writes that each waited their own timeout in turn would
        # see the third one through.
        await asyncio.sleep(2.5 * timeout)
        outside.execute("ROLLBACK")

    release = asyncio.create_task(let_go())
    try:
        for n, sender in enumerate(senders):
            await sender.send(Send(room="general", text=f"locked{n}", nonce=f"locked{n}"))
            await asyncio.sleep(0.05)  # separate batches
        for n, newcomer in enumerate(newcomers):
            await newcomer.send(Register(username=f"late{n}", password="correct horse battery", ref=1))
        errors = await asyncio.gather(*(first_error(c) for c in [*senders, *newcomers]))
        assert [e.code for e in errors] == ["server_error"] * 5
    finally:
        await release
        outside.close()
    # Nothing was falsely acknowledged or stored, and writing works again.
    assert len(await post(senders[1], 1, prefix="after")) == 1
    db = sqlite3.connect(database.path)
    try:
        assert [t for (t,) in db.execute("SELECT text FROM messages") if t.startswith("locked")] == []
        assert db.execute("SELECT COUNT(*) FROM users WHERE username LIKE 'late%'").fetchone() == (0,)
    finally:
        db.close()


async def first_error(client: WireClient) -> Error:
    while True:
        frame = await client.recv(timeout=30.0)
        if isinstance(frame, Error):
            return frame
        assert not isinstance(frame, Message) or not frame.text.startswith("locked"), frame
