"""The WebSocket transport's own behaviour, for real on 127.0.0.1: origins, framing and its
refusals, the limits shared with TCP, keep-alive, the send-queue cut-off, slow requests, TLS,
shutdown. An in-process server on an SQLite file of its own: the store does not take part."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from chatapp.protocol import (
    Bye,
    Error,
    HistoryPage,
    Message,
    Ping,
    Pong,
    Presence,
    Send,
    Welcome,
)
from chatapp.protocol.frames import History
from chatapp.server.app import ChatServer
from tests.server.conftest import fast_config
from tests.support.http import get
from tests.support.wire import WireClient
from tests.support.ws_wire import WsWireClient

WAIT = 10.0
Start = Callable[..., Awaitable[ChatServer]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    servers: list[ChatServer] = []

    async def start_server(**overrides: Any) -> ChatServer:
        settings = {"web_port": 0, **overrides}
        server = ChatServer(fast_config(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}", **settings))
        await server.start()
        servers.append(server)
        return server

    yield start_server
    for server in servers:
        await server.shutdown()


def url(server: ChatServer) -> str:
    return f"ws://127.0.0.1:{server.web_port}/ws"


def activity_lines(caplog: pytest.LogCaptureFixture, event: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"event={event} ")]


# -- origins -----------------------------------------------------------------------------------------


async def test_only_pages_of_the_servers_own_origin_may_open_the_websocket(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start()
    own = f"http://127.0.0.1:{server.web_port}"
    client = await WsWireClient.open(url(server), origin=own)
    assert client.welcome is not None
    await client.close()
    program = await WsWireClient.open(url(server))  # no Origin: a program, not a page
    await program.close()
    for origin in ("http://evil.example", f"https://127.0.0.1:{server.web_port}", "null", "http://127.0.0.1"):
        with pytest.raises(InvalidStatus) as refused:
            await WsWireClient.open(url(server), origin=origin)  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        assert b"origin not allowed" in refused.value.response.body
    # Logged as a refusal, once per interval however many there are.
    lines = activity_lines(caplog, "refused")
    assert len(lines) == 1 and "reason=origin" in lines[0]


async def test_given_origins_replace_the_default(start: Start) -> None:
    server = await start(web_origin=("https://chat.example.com",))
    client = await WsWireClient.open(url(server), origin="https://chat.example.com")  # type: ignore[arg-type]
    await client.close()
    with pytest.raises(InvalidStatus) as refused:
        await WsWireClient.open(url(server), origin=f"http://127.0.0.1:{server.web_port}")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


# -- framing -----------------------------------------------------------------------------------------


async def test_binary_oversized_and_malformed_messages_are_refused_then_the_budget_closes(
    start: Start,
) -> None:
    server = await start(max_invalid_frames=4, max_frame=2048)
    client = await WsWireClient.open(url(server))
    await client.register("alice")
    await client.send_raw(b'{"type":"ping","ref":1}')
    assert "binary" in (await client.expect_error("bad_frame", skip=(Presence,))).message
    await client.send_raw('{"type":"ping","ref":"' + "x" * 3000 + '"}')
    await client.expect_error("frame_too_large", skip=(Presence,))
    await client.send_raw('{"type":"ping","ref":1}\n{"type":"ping","ref":2}')
    await client.expect_error("bad_frame", skip=(Presence,))
    await client.send_raw('{"type":"ping","ref":3}')  # a good frame ends the run of garbage
    assert (await client.expect(Pong, skip=(Presence,))).ref == 3
    for _ in range(3):
        await client.send_raw("")
        await client.expect_error("bad_frame", skip=(Presence,))
    await client.send_raw(b"\x00")
    await client.expect_error("bad_frame", skip=(Presence,))
    bye = await client.expect(Bye, skip=(Presence,))
    assert bye.reason == "too many invalid frames"
    assert await client.closed()
    assert client.socket.close_code == 1000


async def test_a_message_far_over_the_limit_is_not_read_at_all(start: Start) -> None:
    server = await start(max_frame=2048)
    client = await WsWireClient.open(url(server))
    await client.send_raw("x" * (4 * 2048 + 1))
    assert await client.closed()
    assert client.socket.close_code == 1009  # message too big


async def test_signing_in_late_and_falling_silent_end_a_web_connection_as_a_tcp_one(start: Start) -> None:
    server = await start(auth_timeout=0.3)
    late = await WsWireClient.open(url(server))
    assert (await late.expect(Bye)).reason == "authentication timeout"
    assert await late.closed()

    quiet_server = await start(ping_interval=0.2, ping_timeout=0.3)
    quiet = await WsWireClient.open(url(quiet_server))
    await quiet.register("quiet")
    ping = await quiet.expect(Ping, skip=(Presence,))
    assert ping.ref == "keepalive"
    await quiet.send(Pong(ref=ping.ref))  # answered: it stays
    assert (await quiet.expect(Ping, skip=(Presence,))).ref == "keepalive"
    assert (await quiet.expect(Bye, skip=(Presence,))).reason == "idle timeout"  # not answered: cut off


# -- limits shared with TCP --------------------------------------------------------------------------


async def test_per_address_limits_count_tcp_and_websocket_connections_together(start: Start) -> None:
    server = await start(max_connections_per_address=2)
    tcp = await WireClient.connect("127.0.0.1", server.port, local_addr="127.0.0.5")
    web = await WsWireClient.open(url(server), local_addr=("127.0.0.5", 0))
    with pytest.raises(InvalidStatus) as refused:
        await WsWireClient.open(url(server), local_addr=("127.0.0.5", 0))
    assert refused.value.response.status_code == 503
    assert b"too many connections from your address" in refused.value.response.body
    over = await WireClient.connect("127.0.0.1", server.port, local_addr="127.0.0.5", greet=False)
    assert (await over.expect(Bye)).reason == "too many connections from your address"
    # A page load takes a seat too, while it is served.
    page = await get(server.web_port, "/")
    assert page.status == 200  # from 127.0.0.1: another address
    await web.close()
    await asyncio.sleep(0.1)
    again = await WsWireClient.open(url(server), local_addr=("127.0.0.5", 0))
    assert again.welcome is not None
    for client in (tcp, over, again):
        await client.close()


async def test_a_web_client_that_does_not_read_is_cut_off(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start(send_queue_limit=256 << 10, send_burst=100, close_grace=2.0)
    writer = await WireClient.connect("127.0.0.1", server.port)
    await writer.register("writer")
    for n in range(16):
        await writer.send(Send(room="general", text=f"{n:04d}" + "x" * 3990, ref=n))
        await writer.expect(Message, skip=(Presence,))
    # A small receive buffer, and a client that keeps at most one message: the rest stays in the
    # server's buffers.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.web_port))
    slow = await WsWireClient.open(url(server), sock=sock, max_queue=1)
    await slow.register("slow")
    for _ in range(150):  # ~64 KB each, unread: far more than the buffers hold
        await slow.send(History(room="general", limit=200))
    for _ in range(500):
        if activity_lines(caplog, "send_queue_exceeded"):
            break
        await asyncio.sleep(0.02)
    (line,) = activity_lines(caplog, "send_queue_exceeded")
    assert "user=slow" in line
    # Now read: what was written before the cut-off, then the goodbye.
    bye = await slow.expect(Bye, skip=(HistoryPage, Presence, Message))
    assert bye.reason == "send queue exceeded"
    assert await slow.closed()
    # The others never noticed.
    await writer.send(Send(room="general", text="still here", ref="s"))
    assert (await writer.expect(Message, skip=(Presence,))).text == "still here"
    await writer.close()


# -- slow requests ------------------------------------------------------------------------------------


async def test_a_request_sent_slowly_is_closed_after_the_request_timeout(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start(web_request_timeout=0.5, max_connections_per_address=1)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.web_port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), WAIT) == b""  # closed, without an answer
    writer.close()
    assert any("reason=web_request_timeout" in line for line in activity_lines(caplog, "refused"))
    # Its seat is given back.
    await asyncio.sleep(0.1)
    assert (await get(server.web_port, "/")).status == 200


# -- TLS ------------------------------------------------------------------------------------------------


async def test_the_tls_web_port_serves_https_and_wss(start: Start, tmp_path: Path) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.private_key_pem.write_to_path(key)
    issued.cert_chain_pems[0].write_to_path(cert)
    server = await start(
        web_port=-1, web_tls_port=0, tls_port=0, tls_cert=str(cert), tls_key=str(key)
    )
    context = ssl.create_default_context()
    ca.configure_trust(context)
    page = await get(server.web_tls_port, "/", ssl=context)
    assert page.status == 200
    assert page.headers["strict-transport-security"].startswith("max-age=")
    client = await WsWireClient.open(
        f"wss://localhost:{server.web_tls_port}/ws", ssl=context, origin=f"https://localhost:{server.web_tls_port}"
    )
    assert isinstance(client.welcome, Welcome)
    await client.register("alice")
    await client.close()
    with pytest.raises(LookupError):
        server.web_port  # noqa: B018  (no plain web port was asked for)


# -- the end ----------------------------------------------------------------------------------------------


async def test_shutdown_says_goodbye_over_the_websocket(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start()
    client = await WsWireClient.open(url(server))
    await client.register("alice")
    (connect,) = activity_lines(caplog, "connect")
    assert "transport=ws" in connect
    shutdown = asyncio.create_task(server.shutdown())
    bye = await client.expect(Bye, skip=(Presence,))
    assert bye.reason == "server shutting down"
    with pytest.raises(ConnectionClosed):
        await client.socket.recv()
    assert client.socket.close_code == 1001
    await shutdown
    (disconnect,) = activity_lines(caplog, "disconnect")
    assert "user=alice" in disconnect and "reason=shutdown" in disconnect


async def test_a_client_that_closes_the_websocket_ends_as_a_disconnect(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start()
    client = await WsWireClient.open(url(server))
    await client.register("alice")
    await client.close()
    assert client.socket.close_code == 1000
    for _ in range(200):
        if activity_lines(caplog, "disconnect"):
            break
        await asyncio.sleep(0.02)
    (line,) = activity_lines(caplog, "disconnect")
    assert "user=alice" in line and "reason=disconnect" in line
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_log_names_the_url_to_open(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start()
    (line,) = activity_lines(caplog, "web")
    assert f"url=http://127.0.0.1:{server.web_port}/" in line


async def test_error_frames_reach_a_web_client(start: Start) -> None:
    server = await start()
    client = await WsWireClient.open(url(server))
    await client.send(Send(room="general", text="before signing in", ref="x"))
    error = await client.expect(Error)
    assert error.code == "not_authenticated" and error.ref == "x"


async def test_the_pre_sign_in_budget_and_rate_limits_hold_over_a_websocket(start: Start) -> None:
    server = await start(max_unauthenticated_frames=3, send_burst=2, send_rate=0.01)
    eager = await WsWireClient.open(url(server))
    for ref in range(4):
        await eager.send(Ping(ref=ref))
    for ref in range(3):
        assert (await eager.expect(Pong)).ref == ref
    assert (await eager.expect(Bye)).reason == "too many frames before authentication"

    chatty = await WsWireClient.open(url(server))
    await chatty.register("chatty")
    for n in range(2):
        await chatty.send(Send(room="general", text=f"m{n}", ref=n))
        await chatty.expect(Message, skip=(Presence,))
    await chatty.send(Send(room="general", text="one too many", ref="x"))
    refused = await chatty.expect_error("rate_limited", skip=(Presence,))
    assert refused.ref == "x" and refused.retry_after


async def test_a_client_that_sends_websocket_pings_and_reads_nothing_is_cut_off(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start(send_queue_limit=64 << 10, close_grace=0.5)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.web_port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    writer.transport.pause_reading()  # from here on, only the kernel's small buffer takes anything
    ping = Frame(Opcode.PING, b"p" * 125).serialize(mask=True, extensions=[])
    try:
        for _ in range(2000):  # 256 KB of pings a round: far more pongs than the buffers hold
            writer.write(ping * 2000)
            await writer.drain()
            if activity_lines(caplog, "send_queue_exceeded"):
                break
    except ConnectionError:
        pass  # cut off, and aborted while still sending
    assert activity_lines(caplog, "send_queue_exceeded")
    writer.transport.abort()


async def test_a_message_in_fragments_is_one_frame(start: Start) -> None:
    server = await start()
    client = await WsWireClient.open(url(server))
    await client.socket.send(['{"type":', "", '"ping",', '"ref":7}'])  # four fragments, one empty
    assert (await client.expect(Pong)).ref == 7
    await client.socket.send([b'{"type":"ping"}', b""])  # binary, in fragments
    await client.expect_error("bad_frame")
