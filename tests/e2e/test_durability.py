"""What the server acknowledged survives SIGTERM and SIGKILL: messages and memberships."""

from __future__ import annotations

import signal

import pytest

from chatapp.protocol import History, HistoryPage, Join, Joined, Message, Presence, Send
from tests.support.server import ServerProcess
from tests.support.wire import WireClient


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_acknowledged_messages_and_memberships_survive(server: ServerProcess, sig: int) -> None:
    alice = await WireClient.connect(server.host, server.port)
    await alice.register("alice")
    await alice.expect(Presence)
    await alice.send(Join(room="rust"))
    await alice.expect(Joined)
    acknowledged: list[int] = []
    for i in range(50):
        await alice.send(Send(room="rust" if i % 2 else "general", text=f"m{i}", nonce=f"n{i}"))
    # Kill as soon as the echoes are in: an echo is the promise that the message is stored.
    while len(acknowledged) < 50:
        frame = await alice.recv()
        if isinstance(frame, Message):
            acknowledged.append(frame.id)
    assert server.proc is not None
    server.proc.send_signal(sig)
    server.stop()
    await alice.close()

    server.start()
    again = await WireClient.connect(server.host, server.port)
    await again.login("alice")
    rooms = {(await again.expect(Presence)).room for _ in range(2)}
    assert rooms == {"general", "rust"}
    stored: list[int] = []
    for room in ("general", "rust"):
        await again.send(History(room=room, limit=200))
        stored.extend(m.id for m in (await again.expect(HistoryPage)).messages)
    assert sorted(stored) == sorted(acknowledged)
    # Ids keep increasing after the restart.
    await again.send(Send(room="general", text="after"))
    assert (await again.expect(Message)).id > max(acknowledged)
    await again.close()
