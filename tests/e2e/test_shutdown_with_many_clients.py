"""A server with hundreds of signed-in clients shuts down quickly and cleanly, and forgets nothing.

Every connection's sign-out (its session ended, what it was handed recorded)
is written at shutdown, in a few shared transactions; the log has no
tracebacks; after a restart nobody is replayed what they already had.
"""

from __future__ import annotations

import asyncio
import signal
import time

from chatapp.protocol import Message, Presence, Send
from tests.support.databases import ScratchDatabase
from tests.support.server import ServerProcess
from tests.support.wire import WireClient

CLIENTS = 300


async def test_shutdown_with_many_clients_ends_every_session_and_keeps_seen_cursors(
    server_factory: type[ServerProcess], database: ScratchDatabase
) -> None:
    server = server_factory(
        database,
        "--registrations-per-address",
        "1000",
        "--max-connections-per-address",
        "1000",
        "--max-connections-per-subnet",
        "1000",
    ).start()
    clients = [await WireClient.connect(server.host, server.port) for _ in range(CLIENTS)]
    tokens = []
    for start in range(0, CLIENTS, 50):
        oks = await asyncio.gather(
            *(c.register(f"many{start + n}") for n, c in enumerate(clients[start : start + 50]))
        )
        tokens.extend(ok.token for ok in oks)
    await clients[0].send(Send(room="general", text="before the end"))
    received = await asyncio.gather(*(c.expect(Message, timeout=30, skip=(Presence,)) for c in clients))
    message_id = received[0].id
    assert {m.id for m in received} == {message_id}

    began = time.monotonic()
    assert server.stop(signal.SIGTERM, timeout=30) == 0
    took = time.monotonic() - began
    for client in clients:
        await client.close()

    log = server.log
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    assert took < 5.0, f"shutdown took {took:.1f} s"
    reasons = database.rows("SELECT end_reason, COUNT(*) FROM sessions GROUP BY end_reason")
    seen = dict(database.rows("SELECT username, seen_message_id FROM users"))
    assert reasons == [("shutdown", CLIENTS)]
    assert seen == {f"many{n}": message_id for n in range(CLIENTS)}

    # After a restart, a resume without last_id replays nothing already delivered.
    server.start()
    for n in (0, CLIENTS // 2, CLIENTS - 1):
        again = await WireClient.connect(server.host, server.port)
        await again.resume(tokens[n])
        assert again.replayed == [] and again.synced is not None and again.synced.last_id == message_id
        await again.close()
