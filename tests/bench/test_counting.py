"""The load driver's receiving side in memory: signing in through the protocol object, then counting.

A :class:`CountingClient` decodes frames until it is signed in, then hands over to byte counting
at a line boundary; these feed it bytes cut at awkward places and check what it counted and what
it wrote back. The transport is a list of writes (asyncio's, not ours).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from bench.driver.counting import CountingClient, Sender, Tally
from bench.driver.decoding import DecodingClient
from bench.driver.spec import DriverSpec

from chatapp.protocol import (
    AuthOk,
    Error,
    Message,
    Ping,
    Pong,
    Presence,
    Resume,
    Send,
    Synced,
    Welcome,
    decode_client_frame,
    encode,
)

WELCOME = encode(Welcome(server="chatapp", version=1, max_frame=65536, max_text=4000))
AUTH_OK = encode(AuthOk(username="user0", token="t0"))


class Writes(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.data: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def frames(self) -> list[object]:
        lines = b"".join(self.data).splitlines()
        self.data.clear()
        return [decode_client_frame(line) for line in lines]


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def presence(n: int) -> bytes:
    return encode(Presence(event="online", room="general", username=f"user{n}"))


def message(sid: int, seq: int) -> bytes:
    text = f"B{sid:05d}:{seq:07d}:{0:019d}:xx"
    return encode(Message(id=seq + 1, room="general", sender=f"user{sid}", text=text, ts="t"))


def signed_in_client(
    loop: asyncio.AbstractEventLoop,
    kind: type[CountingClient] = CountingClient,
    *,
    senders: int = 0,
    messages: int = 0,
    window: int = 16,
) -> tuple[CountingClient, Writes]:
    spec = DriverSpec(
        target="chatapp",
        host="",
        port=0,
        clients=1,
        tokens=["t0"],
        senders=senders,
        messages=messages,
        window=window,
    )
    tally = Tally(spec, loop)
    client = kind(tally, 0)
    writes = Writes()
    client.connection_made(writes)
    client.data_received(WELCOME)
    assert writes.frames() == [Resume(token="t0", last_id=0, ref=1)]
    client.data_received(AUTH_OK + encode(Synced(last_id=0)))
    assert client.ready.done() and not client.signing_in
    return client, writes


def test_signs_in_with_resume_and_hands_over_at_a_line_boundary(loop: asyncio.AbstractEventLoop) -> None:
    tally = Tally(DriverSpec(target="chatapp", host="", port=0, clients=1, tokens=["t0"]), loop)
    client = CountingClient(tally, 0)
    writes = Writes()
    client.connection_made(writes)
    # The welcome arrives in two pieces; nothing is sent before it is whole.
    client.data_received(WELCOME[:10])
    assert writes.data == []
    client.data_received(WELCOME[10:])
    assert writes.frames() == [Resume(token="t0", last_id=0, ref=1)]
    # auth_ok, a presence frame, a ping and half of another presence frame in one chunk: the whole
    # lines are decoded (the ping answered with its own ref), the half goes to the counting path.
    cut = presence(2)
    client.data_received(AUTH_OK + presence(1) + encode(Ping(ref="p")) + cut[:12])
    assert client.ready.done() and client.ready.exception() is None
    assert writes.frames() == [Pong(ref="p")]
    assert tally.presence_total == 1
    assert not client.at_boundary
    client.data_received(cut[12:] + presence(3))
    assert tally.presence_total == 3
    assert client.at_boundary
    # From here on pings are only counted, and answered as keep-alives.
    client.data_received(encode(Ping(ref="server")) * 2)
    assert writes.frames() == [Pong(ref="keepalive")] * 2


def test_counts_deliveries_and_a_senders_own_messages_while_recording(
    loop: asyncio.AbstractEventLoop,
) -> None:
    client, writes = signed_in_client(loop, senders=1, messages=3, window=1)
    sender = Sender(client.tally, client, 0)
    client.start_recording()
    client.tally.phase = "send"
    sender.start_round(0)
    sent = writes.frames()
    assert len(sent) == 1 and isinstance(sent[0], Send) and sent[0].text.startswith("B00000:0000000:")
    stream = message(0, 0) + message(0, 1)
    client.data_received(stream[:20])
    client.data_received(stream[20:])
    # Each own message coming back acknowledges one and lets the next go (window 1).
    assert client.tally.counted == 2
    assert len(writes.frames()) == 2
    assert len(client.chunks) == 2


def test_a_refused_sign_in_fails_the_client(loop: asyncio.AbstractEventLoop) -> None:
    tally = Tally(DriverSpec(target="chatapp", host="", port=0, clients=1, tokens=["t0"]), loop)
    client = CountingClient(tally, 0)
    writes = Writes()
    client.connection_made(writes)
    client.data_received(WELCOME + encode(Error(code="invalid_token", message="no")))
    assert isinstance(client.ready.exception(), RuntimeError)
    assert writes.closing


def test_a_retryable_refusal_is_tried_again(loop: asyncio.AbstractEventLoop) -> None:
    tally = Tally(DriverSpec(target="chatapp", host="", port=0, clients=1, tokens=["t0"]), loop)
    client = CountingClient(tally, 0)
    writes = Writes()
    client.connection_made(writes)
    client.data_received(WELCOME + encode(Error(code="rate_limited", message="wait", retry_after=0.001)))
    assert not client.ready.done() and tally.signin_retries == 1
    loop.run_until_complete(asyncio.sleep(0.01))
    assert writes.frames() == [Resume(token="t0", last_id=0, ref=1)] * 2


def test_the_decoding_receiver_counts_the_same(loop: asyncio.AbstractEventLoop) -> None:
    client, _ = signed_in_client(loop, kind=DecodingClient, senders=2, messages=2)
    client.start_recording()
    stream = message(0, 0) + message(1, 0) + presence(5) + message(0, 1)
    client.data_received(stream[:50])
    client.data_received(stream[50:])
    assert client.tally.counted == 3
    assert isinstance(client, DecodingClient)
    assert [(sid, seq) for _, sid, seq, _ in client.decoded] == [(0, 0), (1, 0), (0, 1)]
