"""A connection's life at its edges: how it is closed."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from chatapp.protocol import (
    Bye,
    History,
    Message,
    Presence,
    Quit,
    Send,
    Welcome,
    encode,
)
from tests.server.conftest import Dial, ServerFactory
from tests.support.wire import WireClient


def activity_lines(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"event={event} ")]


def no_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records that would show someone a traceback or an error."""
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# -- closing --------------------------------------------------------------------------------------


async def test_a_client_that_half_closes_gets_its_acknowledgments_and_a_bye(
    connect: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await connect()
    token = (await alice.register("alice")).token
    sent = [f"n{n}" for n in range(30)]
    for nonce in sent:
        alice.writer.write(encode(Send(room="general", text=f"hello {nonce}", nonce=nonce)))
    alice.writer.write_eof()  # shutdown(SHUT_WR), as `nc -N` does after its input
    acknowledged = []
    frame = await alice.recv()
    while not isinstance(frame, Bye):
        if isinstance(frame, Message):
            acknowledged.append(frame.nonce)
        else:
            assert isinstance(frame, Presence), frame
        frame = await alice.recv()
    assert frame.reason == "client closed"
    assert acknowledged == sent
    assert await alice.closed()
    # Stored, and a disconnect rather than a quit: the session's token still resumes.
    again = await connect()
    assert (await again.resume(token, last_id=0)).username == "alice"
    assert [m.nonce for m in again.replayed] == sent
    assert not no_errors(caplog)


async def test_a_client_that_reads_its_last_frames_after_the_close_leaves_no_error(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Closing with output still queued starts the abort timer; the client then reads it all in
    # time, and the timer must not find (and fail on) a transport that has closed since.
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start_server(close_grace=1.0, send_queue_limit=64 << 20, send_burst=100)
    writer_client = await WireClient.connect("127.0.0.1", server.port)
    await writer_client.register("writer")
    for n in range(16):
        await writer_client.send(Send(room="general", text=f"{n:04d}" + "x" * 3990, nonce=f"n{n}"))
        await writer_client.expect(Message, skip=(Presence,))
    # A small receive buffer keeps most of the output in the server's transport.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
    slow = WireClient(reader, writer)
    await slow.expect(Welcome)
    await slow.register("slow")
    writer.transport.pause_reading()  # from here on, only the kernel's small buffer takes anything
    for _ in range(150):  # ~64 KB each, unread: far more than the kernel's buffers hold
        slow.writer.write(encode(History(room="general", limit=200)))
    await slow.send(Quit())
    for _ in range(500):  # the server answers it all, then closes with the output still queued
        if activity_lines(caplog, "disconnect") and "user=slow" in activity_lines(caplog, "disconnect")[-1]:
            break
        await asyncio.sleep(0.02)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # now read it fast
    writer.transport.resume_reading()
    received = 0
    while chunk := await asyncio.wait_for(reader.read(1 << 20), 10):
        received += len(chunk)
    assert received > 8 << 20
    await asyncio.sleep(1.2)  # past the grace period
    assert not no_errors(caplog), [r.getMessage() for r in no_errors(caplog)]
    await slow.close()
    await writer_client.close()
