"""A server with few file descriptors, and clients from many addresses: it fills up, and holds.

Connections come from many loopback addresses (127.0.0.0/8 all reach the
server on Linux), so the per-address and per-network limits never bind and
only the total one, derived from the descriptor limit, stands between the
clients and the end of the process's descriptors.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from chatapp.protocol import Bye, Message, Presence, Send, ServerFrame, Welcome
from chatapp.server.capacity import HEADROOM
from tests.support.server import ServerProcess
from tests.support.wire import WireClient

FD_LIMIT = HEADROOM + 144
EXTRA = HEADROOM + 40  # connections tried past the limit: more than the descriptors left


async def greeting(server: ServerProcess, n: int) -> tuple[WireClient, ServerFrame]:
    # One address per connection, 50 per /24: no address or network limit binds.
    client = await WireClient.connect(
        server.host, server.port, local_addr=f"127.0.{10 + n // 50}.{1 + n % 50}", greet=False
    )
    return client, await client.recv(timeout=20)


@pytest.mark.parametrize("event_loop", ["asyncio", "uvloop"])
async def test_past_the_descriptor_limit_new_clients_are_told_and_signed_in_ones_go_on(
    server_factory: type[ServerProcess], tmp_path: Path, event_loop: str
) -> None:
    if event_loop == "uvloop":
        pytest.importorskip("uvloop")
    server = server_factory(
        tmp_path / "chat.db", "--event-loop", event_loop, "--log-level", "info", fd_limit=FD_LIMIT
    ).start()
    capacity = server.wait_for_log(r"event=capacity descriptors=(\d+) max_connections=(\d+)")
    assert capacity.groups() == (str(FD_LIMIT), str(FD_LIMIT - HEADROOM))
    limit = FD_LIMIT - HEADROOM

    alice = await WireClient.connect(server.host, server.port)
    bob = await WireClient.connect(server.host, server.port)
    await alice.register("alice")
    await bob.register("bob")
    await alice.expect(Presence)

    opened: list[WireClient] = []
    frames: list[ServerFrame] = []
    try:
        for start in range(0, limit - 2 + EXTRA, 50):
            batch = await asyncio.gather(
                *(greeting(server, n) for n in range(start, min(start + 50, limit - 2 + EXTRA)))
            )
            opened.extend(client for client, _ in batch)
            frames.extend(frame for _, frame in batch)
        welcomed = sum(isinstance(frame, Welcome) for frame in frames)
        refused = [frame for frame in frames if not isinstance(frame, Welcome)]
        assert welcomed == limit - 2
        assert refused == [Bye(reason="server full")] * EXTRA

        # Those signed in are not starved of descriptors: their messages are stored and relayed.
        for n in range(5):
            await alice.send(Send(room="general", text=f"still here {n}", nonce=f"a{n}"))
            assert (await alice.expect(Message, skip=(Presence,))).nonce == f"a{n}"
            assert (await bob.expect(Message, skip=(Presence,))).text == f"still here {n}"
    finally:
        for client in opened:
            await client.close()
    await alice.close()
    await bob.close()
    assert server.stop() == 0

    log = server.log
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]
    refusal_lines = re.findall(r"event=refused .*", log)
    assert 1 <= len(refusal_lines) <= 2, refusal_lines  # one per 10 s at most
    assert "reason=server_full" in refusal_lines[0]
    assert "event=out_of_descriptors" not in log  # the headroom kept accept() from failing
