"""A server process killed (SIGKILL) while its clients send, beside another on the same PostgreSQL
database and Redis server (two processes on two ports; a client comes back on the other's port,
as a client given several addresses does).

Its clients resume on the other process with every acknowledged message (the sender's own copy,
with its nonce) delivered exactly once and in order, to them and to the others; the sessions it
left open are ended by the other process (``node_lost``) once its heartbeat expired, once.
"""

from __future__ import annotations

import asyncio

import pytest

from chatapp.protocol import Message, Presence, Send
from chatapp.server.node_watch import HEARTBEAT_TTL
from tests.support.databases import ScratchDatabase
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess
from tests.support.wire import WireClient

pytest.importorskip("redis")

UNLIMITED = ("--send-rate", "10000", "--send-burst", "10000", "--repeat-limit", "0")
BEFORE = 30
"""Messages alice sends, each acknowledged, before the kill."""
DURING = 20
"""Messages she sends, without waiting, as the process is killed."""
AFTER = 10
"""Messages she sends after resuming on the other process."""


async def messages_until_closed(client: WireClient, got: list[Message]) -> list[Message]:
    """Every message the client gets until its connection drops (presence passed over), added to
    ``got`` as they come."""
    try:
        while True:
            frame = await client.recv(30)
            if isinstance(frame, Message):
                got.append(frame)
            else:
                assert isinstance(frame, Presence), frame
    except (ConnectionError, OSError):
        return got


async def messages(client: WireClient, until: str) -> list[Message]:
    """The messages the client gets up to the one whose text is ``until``."""
    got: list[Message] = []
    while not got or got[-1].text != until:
        frame = await client.recv(15)
        if isinstance(frame, Message):
            got.append(frame)
    return got


async def test_clients_of_a_killed_process_resume_on_another_which_ends_its_sessions(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    args = ("--redis-url", redis_server.url, *UNLIMITED)
    doomed, other = (server_factory(postgres_database, *args).start() for _ in range(2))
    alice = await WireClient.connect(doomed.host, doomed.port)
    token = (await alice.register("alice")).token
    carol = await WireClient.connect(doomed.host, doomed.port)  # does not come back
    await carol.register("carol")
    bob = await WireClient.connect(other.host, other.port)
    await bob.register("bob")

    seen: list[Message] = []
    alice_got = asyncio.ensure_future(messages_until_closed(alice, seen))
    for i in range(BEFORE):
        await alice.send(Send(room="general", text=f"m{i}", nonce=f"n{i}"))
        await asyncio.sleep(0.003)

    async def acknowledged_so_far() -> None:
        while not any(m.nonce == f"n{BEFORE - 1}" for m in seen):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(acknowledged_so_far(), 15)  # on a busy machine the server may lag behind
    for i in range(BEFORE, BEFORE + DURING):
        try:
            await alice.send(Send(room="general", text=f"m{i}", nonce=f"n{i}"))
        except ConnectionError:
            break  # not sent, so never acknowledged
        if i == BEFORE + DURING // 2:
            doomed.kill()
    before_kill = await alice_got
    acknowledged = [m.text for m in before_kill if m.nonce is not None]
    assert acknowledged[:BEFORE] == [f"m{i}" for i in range(BEFORE)]
    assert len(before_kill) >= BEFORE

    # Back on the other process, from the last message seen.
    back = await WireClient.connect(other.host, other.port)
    await back.resume(token, last_id=before_kill[-1].id)
    for i in range(AFTER):
        await back.send(Send(room="general", text=f"a{i}", nonce=f"a{i}"))
    alice_all = before_kill + list(back.replayed) + await messages(back, f"a{AFTER - 1}")
    bob_all = await messages(bob, f"a{AFTER - 1}")

    for got in (alice_all, bob_all):
        ids = [m.id for m in got]
        assert ids == sorted(set(ids)), "each once, in order"
        texts = [m.text for m in got]
        assert texts == sorted(texts, key=lambda t: (t[0] == "a", int(t[1:]))), "in the order sent"
        assert set(acknowledged) <= set(texts), "every acknowledged message"
        assert texts[-AFTER:] == [f"a{i}" for i in range(AFTER)]
    assert [m.text for m in alice_all] == [m.text for m in bob_all]

    # carol's session, left open by the dead process, is ended by the other once its heartbeat
    # expired: one sweep did it.
    other.wait_for_log(r"event=node_lost node=\w+ sessions=1\b", timeout=HEARTBEAT_TTL + 10)
    rows = other.rows(
        "SELECT s.end_reason FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.username_key = 'carol'"
    )
    assert rows == [("node_lost",)]
    open_rows = other.rows(
        "SELECT u.username_key FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.ended_at IS NULL ORDER BY 1"
    )
    assert open_rows == [("alice",), ("bob",)]  # the living process's sessions stay open
    await asyncio.sleep(2 * 1.0)  # two more sweeps: nothing more ended
    assert other.log.count("event=node_lost") == 1
    for client in (back, bob, carol):
        await client.close()
    other.stop()
    # At shutdown it ended its own sessions, as "shutdown".
    assert other.rows("SELECT count(*) FROM sessions WHERE ended_at IS NULL") == [(0,)]
