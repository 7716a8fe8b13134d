"""A connection's life at its edges: let in or refused, closed by either side, out of descriptors."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
import sys
from collections.abc import Iterator

import pytest

from chatapp.protocol import (
    Bye,
    History,
    Message,
    Presence,
    Quit,
    Send,
    ServerFrame,
    Welcome,
    decode_server_frame,
    encode,
)
from tests.server.conftest import Dial, ServerFactory
from tests.support.wire import WireClient


async def first_frame(client: WireClient) -> ServerFrame:
    return await client.recv(timeout=5)


def activity_lines(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"event={event} ")]


def no_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records that would show someone a traceback or an error."""
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# -- capacity -------------------------------------------------------------------------------------


async def test_a_full_server_says_so_and_lets_in_again_when_someone_leaves(
    start_server: ServerFactory, dial: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server(max_connections=3)
    clients = [await dial(server, local_addr=f"127.0.{n}.1") for n in range(1, 4)]
    for n in range(10):
        refused = await dial(server, local_addr=f"127.0.{10 + n}.1", greet=False)
        assert await first_frame(refused) == Bye(reason="server full")
        assert await refused.closed()
    # One log line for the lot, however many were refused.
    lines = activity_lines(caplog, "refused")
    assert len(lines) == 1 and "reason=server_full" in lines[0] and "connections=3" in lines[0]
    # The seat is free once the socket is closed.
    await clients[0].close()
    for _ in range(100):
        again = await dial(server, local_addr="127.0.50.1", greet=False)
        frame = await first_frame(again)
        if isinstance(frame, Welcome):
            break
        assert frame == Bye(reason="server full")
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("a seat was never given back")


async def test_connections_per_network_are_limited(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server(max_connections_per_subnet=2, ipv4_subnet_prefix=24)
    await dial(server, local_addr="127.0.7.1")
    await dial(server, local_addr="127.0.7.2")
    refused = await dial(server, local_addr="127.0.7.3", greet=False)
    assert await first_frame(refused) == Bye(reason="too many connections from your network")
    other = await dial(server, local_addr="127.0.8.1")
    assert other.welcome is not None


# -- closing --------------------------------------------------------------------------------------


async def send_all(client: WireClient, nonces: list[str]) -> None:
    """Write a send per nonce at once, without waiting for anything."""
    for nonce in nonces:
        client.writer.write(encode(Send(room="general", text=f"hello {nonce}", nonce=nonce)))


async def acknowledgments_until_bye(client: WireClient) -> tuple[list[str | None], Bye]:
    """The nonces of the messages echoed before the ``bye``, and the ``bye``."""
    acknowledged = []
    frame = await client.recv()
    while not isinstance(frame, Bye):
        if isinstance(frame, Message):
            acknowledged.append(frame.nonce)
        else:
            assert isinstance(frame, Presence), frame
        frame = await client.recv()
    return acknowledged, frame


async def test_a_client_that_half_closes_gets_its_acknowledgments_and_a_bye(
    connect: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await connect()
    token = (await alice.register("alice")).token
    sent = [f"n{n}" for n in range(30)]
    await send_all(alice, sent)
    alice.writer.write_eof()  # shutdown(SHUT_WR), as `nc -N` does after its input
    acknowledged, frame = await acknowledgments_until_bye(alice)
    assert frame.reason == "client closed"
    assert acknowledged == sent
    assert await alice.closed()
    # Stored, and a disconnect rather than a quit: the session's token still resumes.
    again = await connect()
    assert (await again.resume(token, last_id=0)).username == "alice"
    assert [m.nonce for m in again.replayed] == sent
    assert not no_errors(caplog)


async def test_a_quit_right_after_sending_still_gets_every_acknowledgment_before_its_bye(
    connect: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await connect()
    await alice.register("alice")
    sent = [f"q{n}" for n in range(30)]
    await send_all(alice, sent)
    alice.writer.write(encode(Quit()))
    acknowledged, frame = await acknowledgments_until_bye(alice)
    assert frame.reason == "quit"
    assert acknowledged == sent
    assert await alice.closed()
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


# -- out of descriptors ---------------------------------------------------------------------------


@contextlib.contextmanager
def descriptors_used_up() -> Iterator[None]:
    """Leave this process no free file descriptor, as another part of it might."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 16, hard))
    taken: list[int] = []
    try:
        taken.append(os.open(os.devnull, os.O_RDONLY))
        while True:
            try:
                taken.append(os.dup(taken[0]))
            except OSError as exc:
                assert exc.errno == errno.EMFILE
                break
        yield
    finally:
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def read_frame(sock: socket.socket) -> ServerFrame:
    loop = asyncio.get_running_loop()
    data = b""
    while not data.endswith(b"\n"):
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    return decode_server_frame(data)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/fd")
async def test_out_of_descriptors_at_accept_says_bye_and_logs_one_line(
    start_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    loop = asyncio.get_running_loop()
    waiting = [socket.socket() for _ in range(5)]  # their descriptors are taken before none are left
    try:
        for sock in waiting:
            sock.setblocking(False)
        with descriptors_used_up():
            for sock in waiting:
                await loop.sock_connect(sock, ("127.0.0.1", server.port))
            frames = [await read_frame(sock) for sock in waiting]
    finally:
        for sock in waiting:
            sock.close()
    assert frames == [Bye(reason="server full")] * 5
    assert not no_errors(caplog), [r.getMessage() for r in no_errors(caplog)][:3]
    lines = activity_lines(caplog, "out_of_descriptors")
    assert len(lines) == 1 and "error=EMFILE" in lines[0]
    # With descriptors back, the server accepts again (asyncio retries the listener after a second).
    client = await WireClient.connect("127.0.0.1", server.port)
    assert client.welcome is not None
    await client.close()
