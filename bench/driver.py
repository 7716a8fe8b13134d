"""The load driver: N clients in one process, S of them sending, every delivery counted.

Run as ``python -m bench.driver --spec spec.json`` (``-`` reads stdin); it prints
one JSON :class:`DriverResult` on stdout. It runs on uvloop when installed and
uses bare ``asyncio.Protocol`` clients, so that the driver is not what limits a
run; its own CPU time is measured and reported so a reader can check.

Phases:

1. **connect**: open N connections (at most ``connect_concurrency`` signing in
   at once), spread over source addresses 127.x.y.z (``per_address`` each, under
   the server's per-address limit; 12 addresses per /24, under its per-network
   limit). Against chatapp each client waits for
   ``welcome``, sends ``resume`` with a pre-made session token (no argon2 in
   this phase) and is ready at ``auth_ok``; against the baseline it is ready at
   ``welcome``. Then the driver waits for the presence fan-out to settle.
2. **send**: S clients send M messages each, either closed-loop (at most
   ``window`` of a sender's messages in flight; its own copy coming back is the
   acknowledgment) or open-loop at ``rate`` messages per second. Every text
   carries the sender, a sequence number and the send time
   (``time.monotonic_ns()``).
3. **storm** (optional, during send): extra clients log in with a password at
   once (argon2 on the server), then quit.
4. **verify** (after the clock stops): every received line is decoded with the
   protocol package and checked: each receiver must see every sender's messages
   exactly once and in order, and chatapp's ids must increase.

While the clock runs the hot path only counts: received chunks are stored with
their arrival time, newlines are counted with ``bytes.count`` (C speed) to know
when everything has arrived, and senders count their own acknowledgments by
searching the chunk for their marker. No JSON is decoded per delivery.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import socket
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Literal

import msgspec

from bench import procstat
from chatapp.protocol import (
    DEFAULT_ROOM,
    AuthOk,
    Bye,
    Error,
    Login,
    Message,
    Ping,
    Pong,
    Presence,
    ProtocolError,
    Quit,
    Resume,
    Send,
    Synced,
    Welcome,
    decode_server_frame,
    encode,
)

Target = Literal["chatapp", "baseline"]

MESSAGE_MARK = b'"text":"B'
PRESENCE_MARK = b'"type":"presence"'
PING_MARK = b'{"type":"ping"'
PONG_MARK = b'{"type":"pong","ref":"sync"'
_PONG = encode(Pong(ref="keepalive"))
MESSAGE_PREFIX = b'{"type":"message"'
# Text layout: B<sender:05>:<seq:07>:<monotonic_ns:019>: then padding. Fixed widths: cheap to slice.
_HEAD = 35
_RETRY = frozenset({"server_error", "rate_limited"})
_MAX_RETRIES = 10
_QUIET = 1.0
_SETTLE_QUIET = 0.2
FAKE_TS = "2026-01-01T00:00:00.000Z"


class StormSpec(msgspec.Struct, frozen=True):
    usernames: list[str]
    password: str
    start_after: float = 1.0
    """Seconds after the send phase starts."""


class ReplaySpec(msgspec.Struct, frozen=True):
    """History replay: a client comes back after missing ``missed`` messages, during the send phase.

    Before the N clients connect, a filler (its own account, ``filler_token``) sends ``missed``
    messages to the room; during the send phase the laggard (``laggard_token``, another account)
    resumes with ``last_id`` just before them, and gets them all replayed before live traffic.
    """

    filler_token: str
    laggard_token: str
    missed: int = 10_000
    start_after: float = 1.0
    """Seconds after the send phase starts."""
    window: int = 256


class DriverSpec(msgspec.Struct, frozen=True):
    target: Target
    host: str
    port: int
    clients: int
    senders: int = 0
    messages: int = 0
    """Per sender and round."""
    rounds: int = 1
    """The send phase is repeated this many times on the same connections (more time measured)."""
    rate: float | None = None
    """Messages per second per sender (open loop); None sends as fast as the window allows."""
    window: int = 16
    """Closed loop: a sender's messages in flight at most."""
    text_size: int = 64
    tokens: list[str] = []
    """Resume tokens, one per client (chatapp)."""
    usernames: list[str] = []
    """One per client; the baseline puts them in its frames."""
    server_pid: int | None = None
    per_address: int = 20
    connect_concurrency: int = 100
    connect_timeout: float = 120.0
    settle_timeout: float = 60.0
    run_timeout: float = 120.0
    hold: float = 0.0
    """Seconds to stay connected and idle after settling (connection workloads)."""
    storm: StormSpec | None = None
    replay: ReplaySpec | None = None
    verify: bool = True


class Latency(msgspec.Struct):
    count: int = 0
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None


class ServerUsage(msgspec.Struct):
    cpu_connect: float | None = None
    cpu_send: float | None = None
    rss_before: int | None = None
    rss_ready: int | None = None
    rss_end: int | None = None
    peak_rss: int | None = None


class StormResult(msgspec.Struct):
    logins: int = 0
    ok: int = 0
    failed: dict[str, int] = {}
    start: float = 0.0
    """Seconds after the send phase started."""
    end: float = 0.0
    login_ms: Latency = msgspec.field(default_factory=Latency)
    window_latency_ms: Latency = msgspec.field(default_factory=Latency)
    """End-to-end latency of the messages sent while the storm was on."""


class ReplayResult(msgspec.Struct):
    missed: int = 0
    fill_seconds: float | None = None
    """Time for the filler to have all ``missed`` messages committed and echoed."""
    first_id: int = 0
    last_fill_id: int = 0
    start: float = 0.0
    """Seconds after the send phase started that the laggard sent ``resume``."""
    auth_ms: float | None = None
    """From ``resume`` to ``auth_ok``."""
    synced_ms: float | None = None
    """From ``resume`` to ``synced``: the whole replay."""
    replayed: int = 0
    has_more: bool = False
    received: int = 0
    """Every message the laggard got, replayed and live."""
    gaps: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    window_latency_ms: Latency = msgspec.field(default_factory=Latency)
    """End-to-end latency of the live messages (to everyone else) sent while the replay ran."""
    problems: list[str] = []


class DriverResult(msgspec.Struct):
    spec_target: str
    loop: str
    clients: int
    senders: int
    messages: int
    rounds: int = 1
    ready_clients: int = 0
    connect_seconds: float | None = None
    ready_quantiles: dict[str, float] = {}
    """Seconds after the first connect by which 10%, 25%, ... of the N clients were signed in."""
    settle_seconds: float | None = None
    presence_received: int = 0
    expected: int = 0
    counted: int = 0
    send_seconds: float | None = None
    """Sum over rounds of first send to last delivery."""
    deliveries_per_s: float | None = None
    round_rates: list[float] = []
    latency_ms: Latency = msgspec.field(default_factory=Latency)
    max_send_lateness_ms: float | None = None
    verified: bool = False
    received_messages: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    id_order_violations: int = 0
    other_frames: dict[str, int] = {}
    disconnected: int = 0
    signin_retries: int = 0
    """Sign-ins answered ``server_error`` or ``rate_limited`` and tried again."""
    timed_out: bool = False
    problems: list[str] = []
    server: ServerUsage = msgspec.field(default_factory=ServerUsage)
    driver_cpu_connect: float | None = None
    driver_cpu_send: float | None = None
    driver_sys_send: float | None = None
    """Of which in the kernel (socket reads and writes)."""
    driver_cpu_share: float | None = None
    """Driver CPU seconds per wall second of the send phase (1.0 is one core saturated)."""
    verify_seconds: float | None = None
    storm: StormResult | None = None
    replay: ReplayResult | None = None


ADDRESSES_PER_NETWORK = 12
"""Source addresses per /24: 12 of 20 clients each stay under the server's 256 per network."""


def source_address(index: int, per_address: int, network: int = 0) -> str:
    """127.<network>.x.y for client ``index``: ``per_address`` clients share one address."""
    k = index // per_address
    return f"127.{network}.{1 + k // ADDRESSES_PER_NETWORK}.{1 + k % ADDRESSES_PER_NETWORK}"


def percentiles(values: list[int], scale: float = 1e-6) -> Latency:
    """Nearest-rank percentiles of ``values`` (nanoseconds), in milliseconds."""
    if not values:
        return Latency()
    ordered = sorted(values)
    n = len(ordered)

    def rank(q: float) -> float:
        index = max(0, math.ceil(round(q * n, 6)) - 1)
        return round(ordered[min(n - 1, index)] * scale, 3)

    return Latency(count=n, p50=rank(0.50), p90=rank(0.90), p99=rank(0.99), max=round(ordered[-1] * scale, 3))


def _cpu_self() -> float:
    t = os.times()
    return t.user + t.system


def _sys_self() -> float:
    return os.times().system


class _Marker:
    """Counts a marker in a byte stream fed in chunks, including ones split across chunks."""

    __slots__ = ("mark", "keep", "tail")

    def __init__(self, mark: bytes) -> None:
        self.mark = mark
        self.keep = len(mark) - 1
        self.tail = b""

    def feed(self, data: bytes) -> int:
        keep = self.keep
        n = data.count(self.mark)
        if self.tail:
            n += (self.tail + data[:keep]).count(self.mark)
        self.tail = data[-keep:] if len(data) >= keep else (self.tail + data)[-keep:]
        return n


class Client(asyncio.Protocol):
    """One benchmark connection. Parses frames while signing in, then only counts and stores."""

    def __init__(self, run: Run, index: int) -> None:
        self.run = run
        self.index = index
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = run.loop.create_future()
        self.handshaking = True
        self.partial = b""
        self.presence = _Marker(PRESENCE_MARK)
        self.pings = _Marker(PING_MARK)
        self.pongs = _Marker(PONG_MARK)
        self.at_boundary = True
        self.recording = False
        self.skip_first = False
        self.chunks: list[tuple[int, bytes]] = []
        self.sender: Sender | None = None
        self.lost_connection = False
        self.retries = 0

    # -- asyncio callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.handshaking:
            self._handshake(data)
            return
        run = self.run
        if self.recording:
            now = time.monotonic_ns()
            self.chunks.append((now, data))
            lines = data.count(b"\n")
            if run.count_presence:
                lines -= self.presence.feed(data)
            sender = self.sender
            if sender is not None:
                sender.acked(sender.own.feed(data))
            run.delivered(lines, now)
        else:
            n = self.presence.feed(data)
            if n:
                run.presence_seen(n)
            # Keep-alive: a client that never answers the server's pings is cut off as idle.
            pings = self.pings.feed(data)
            if pings and self.transport is not None:
                self.transport.write(_PONG * pings)
            pongs = self.pongs.feed(data)
            if pongs:
                run.pongs_seen(pongs)
            run.last_activity = time.monotonic()
        self.at_boundary = data[-1] == 10

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_connection = True
        if not self.ready.done():
            self.ready.set_exception(
                ConnectionError(f"client {self.index}: connection lost while signing in")
            )
        self.run.client_lost(self)

    # -- signing in ---------------------------------------------------------------------

    def _handshake(self, data: bytes) -> None:
        self.run.last_activity = time.monotonic()
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for i, line in enumerate(lines):
            if not line:
                continue
            try:
                frame = decode_server_frame(line)
            except ProtocolError as exc:
                self._fail(f"undecodable frame while signing in: {exc.message}")
                return
            if isinstance(frame, Welcome):
                if self.run.spec.target == "baseline":
                    self._signed_in(lines[i + 1 :])
                    return
                self._resume()
            elif isinstance(frame, AuthOk):
                self._signed_in(lines[i + 1 :])
                return
            elif isinstance(frame, Error) and frame.code in _RETRY and self.retries < _MAX_RETRIES:
                # What a real client does with "try again": wait a little, then try again.
                self.retries += 1
                self.run.signin_retries += 1
                delay = frame.retry_after or 0.05 * self.retries
                self.run.loop.call_later(delay, self._resume)
            elif isinstance(frame, Error | Bye):
                self._fail(f"sign-in refused: {frame}")
                return
            elif isinstance(frame, Presence):
                self.run.presence_seen(1)
            elif isinstance(frame, Ping) and self.transport is not None:
                self.transport.write(encode(Pong(ref=frame.ref)))

    def _resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            token = self.run.spec.tokens[self.index]
            self.transport.write(encode(Resume(token=token, last_id=self.run.last_id, ref=1)))

    def _signed_in(self, rest: list[bytes]) -> None:
        self.handshaking = False
        # Whatever came after auth_ok in this chunk is presence traffic: count it as such.
        n = sum(1 for line in rest if PRESENCE_MARK in line)
        if self.partial:
            n += self.presence.feed(self.partial)
            self.at_boundary = False
        if n:
            self.run.presence_seen(n)
        self.partial = b""
        if not self.ready.done():
            self.ready.set_result(None)

    def _fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"client {self.index}: {why}"))
        if self.transport is not None:
            self.transport.abort()

    def start_recording(self) -> None:
        self.skip_first = not self.at_boundary
        self.recording = True


class Sender:
    """Makes one client send M messages per round, closed loop (window) or open loop (rate)."""

    def __init__(self, run: Run, client: Client, sid: int) -> None:
        self.run = run
        self.client = client
        self.sid = sid
        self.spec = run.spec
        self.sent = 0
        self.end = 0
        self.acks = 0
        self.own = _Marker(b'"text":"B%05d:' % sid)
        self.padding = "x" * max(0, self.spec.text_size - _HEAD)
        self.username = self.spec.usernames[client.index] if self.spec.usernames else f"c{client.index}"
        self.lateness = 0.0
        self._t0 = 0.0
        self._first = 0
        self._handle: asyncio.TimerHandle | None = None
        client.sender = self

    def line(self, seq: int) -> bytes:
        text = f"B{self.sid:05d}:{seq:07d}:{time.monotonic_ns():019d}:{self.padding}"
        # A nonce, as the chatapp client sends one with every message (the server de-duplicates by it).
        nonce = f"{self.sid}.{seq}"
        if self.spec.target == "chatapp":
            return encode(Send(room=DEFAULT_ROOM, text=text, nonce=nonce))
        # The baseline relays lines verbatim: send what chatapp would deliver, so sizes match.
        return encode(
            Message(id=seq, room=DEFAULT_ROOM, sender=self.username, text=text, ts=FAKE_TS, nonce=nonce)
        )

    def start_round(self, index: int) -> None:
        self._first = self.sent = index * self.spec.messages
        self.end = self.sent + self.spec.messages
        if self.spec.rate:
            self._t0 = self.run.loop.time() + self.run.phase_offset(self.sid)
            self._handle = self.run.loop.call_at(self._t0, self._tick)
        else:
            self._pump()

    def _write(self, data: bytes) -> None:
        transport = self.client.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _pump(self) -> None:
        limit = min(self.end, self.acks + self.spec.window)
        if self.sent >= limit:
            return
        lines = [self.line(seq) for seq in range(self.sent, limit)]
        self.sent = limit
        self._write(b"".join(lines))

    def acked(self, n: int) -> None:
        if n:
            self.acks += n
            if not self.spec.rate:
                self._pump()

    def _tick(self) -> None:
        rate = self.spec.rate
        assert rate
        loop = self.run.loop
        now = loop.time()
        due = min(self.end, self._first + int((now - self._t0) * rate) + 1)
        if due > self.sent:
            self.lateness = max(self.lateness, now - (self._t0 + (self.sent - self._first) / rate))
            self._write(b"".join(self.line(seq) for seq in range(self.sent, due)))
            self.sent = due
        if self.sent < self.end:
            self._handle = loop.call_at(self._t0 + (self.sent - self._first) / rate, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


class StormClient(asyncio.Protocol):
    """A client that logs in with a password (argon2 on the server) and quits."""

    def __init__(self, run: Run, username: str, password: str) -> None:
        self.run = run
        self.username = username
        self.password = password
        self.transport: asyncio.Transport | None = None
        self.partial = b""
        self.started = 0
        self.done: asyncio.Future[tuple[str, int]] = run.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if not line or self.done.done():
                continue
            frame = decode_server_frame(line)
            assert self.transport is not None
            if isinstance(frame, Welcome):
                self.started = time.monotonic_ns()
                self.transport.write(encode(Login(username=self.username, password=self.password, ref=1)))
            elif isinstance(frame, AuthOk):
                self.done.set_result(("ok", time.monotonic_ns() - self.started))
                self.transport.write(encode(Quit()))
            elif isinstance(frame, Error):
                self.done.set_result((frame.code, time.monotonic_ns() - self.started))
            elif isinstance(frame, Bye):
                self.done.set_result((f"bye: {frame.reason}", time.monotonic_ns() - self.started))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(("connection lost", 0))


class ParsingClient(asyncio.Protocol):
    """A client that decodes every line it gets (for the few clients whose every frame matters)."""

    def __init__(self, run: Run, token: str, last_id: int | None) -> None:
        self.run = run
        self.token = token
        self.last_id = last_id
        self.transport: asyncio.Transport | None = None
        self.partial = b""
        self.resumed_at = 0
        self.auth_at = 0
        self.synced_at = 0
        self.synced_frame: Synced | None = None
        self.signed_in: asyncio.Future[None] = run.loop.create_future()
        self.synced: asyncio.Future[None] = run.loop.create_future()
        self.messages: list[tuple[int, int, bool, str]] = []
        """(receive time ns, id, replayed, text) of every message."""
        self.lost_connection = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            if line:
                self.frame(decode_server_frame(line), now)

    def frame(self, frame: object, now: int) -> None:
        assert self.transport is not None
        if isinstance(frame, Message):
            self.messages.append((now, frame.id, frame.replayed, frame.text))
            self.on_message(frame)
        elif isinstance(frame, Welcome):
            self.resumed_at = time.monotonic_ns()
            self.transport.write(encode(Resume(token=self.token, last_id=self.last_id, ref=1)))
        elif isinstance(frame, AuthOk):
            self.auth_at = now
            _resolve(self.signed_in)
        elif isinstance(frame, Synced):
            self.synced_at = now
            self.synced_frame = frame
            _resolve(self.synced)
        elif isinstance(frame, Ping):
            self.transport.write(encode(Pong(ref=frame.ref)))
        elif isinstance(frame, Error | Bye):
            error = RuntimeError(f"refused: {frame}")
            for future in (self.signed_in, self.synced):
                if not future.done():
                    future.set_exception(error)

    def on_message(self, frame: Message) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_connection = True
        for future in (self.signed_in, self.synced):
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Filler(ParsingClient):
    """Sends ``count`` messages closed loop, counting its own echoes (the acknowledgments)."""

    def __init__(self, run: Run, token: str, count: int, window: int) -> None:
        super().__init__(run, token, None)
        self.count = count
        self.window = window
        self.sent = 0
        self.acks = 0
        self.first_id = 0
        self.last_id_seen = 0
        self.done: asyncio.Future[None] = run.loop.create_future()

    def pump(self) -> None:
        limit = min(self.count, self.acks + self.window)
        if self.sent < limit and self.transport is not None:
            lines = [
                encode(Send(room=DEFAULT_ROOM, text=f"F{seq:07d}", nonce=f"f.{seq}"))
                for seq in range(self.sent, limit)
            ]
            self.sent = limit
            self.transport.write(b"".join(lines))

    def on_message(self, frame: Message) -> None:
        if not frame.text.startswith("F"):
            return
        self.acks += 1
        self.first_id = self.first_id or frame.id
        self.last_id_seen = frame.id
        if self.acks >= self.count:
            _resolve(self.done)
        else:
            self.pump()


class Run:
    def __init__(self, spec: DriverSpec, loop: asyncio.AbstractEventLoop) -> None:
        self.spec = spec
        self.loop = loop
        self.clients: list[Client] = []
        self.senders: list[Sender] = []
        self.expected = spec.clients * spec.senders * spec.messages * spec.rounds
        self.target = self.expected
        self.counted = 0
        self.presence_total = 0
        self.presence_expected = spec.clients * (spec.clients + 1) // 2 if spec.target == "chatapp" else 0
        self.all_delivered = asyncio.Event()
        self.last_delivery = 0
        self.last_activity = time.monotonic()
        self.count_presence = spec.storm is not None or spec.replay is not None
        self.last_id: int | None = 0 if spec.target == "chatapp" else None
        """The newest message id seen before signing in: a resume replays only what came after it
        (every run starts on a database without messages, unless it fills one)."""
        self.disconnected = 0
        self.signin_retries = 0
        self.ready_at: list[float] = []
        self.pongs = 0
        self.synced = asyncio.Event()
        self.complete = True
        """Every client signed in; the send phase runs only then."""
        self.phase = "connect"
        self.result = DriverResult(
            spec_target=spec.target,
            loop=type(loop).__module__.split(".")[0],
            clients=spec.clients,
            senders=spec.senders,
            messages=spec.messages,
            rounds=spec.rounds,
            expected=self.expected,
        )

    def phase_offset(self, sid: int) -> float:
        # Spread open-loop senders evenly over one period so they do not all fire together.
        assert self.spec.rate
        return (sid / max(1, self.spec.senders)) / self.spec.rate

    # -- callbacks from clients ----------------------------------------------------------

    def delivered(self, n: int, now: int) -> None:
        if n:
            self.counted += n
            self.last_delivery = now
            if self.counted >= self.target:
                self.all_delivered.set()

    def presence_seen(self, n: int) -> None:
        self.presence_total += n

    def pongs_seen(self, n: int) -> None:
        self.pongs += n
        if self.pongs >= self.spec.clients:
            self.synced.set()

    def client_lost(self, client: Client) -> None:
        if self.phase != "closing":
            self.disconnected += 1
            if self.phase == "send":
                # A receiver cut off mid-run will never get the rest: stop waiting for it.
                self.all_delivered.set()

    # -- phases --------------------------------------------------------------------------

    def _server(self) -> procstat.ProcSample | None:
        return procstat.sample(self.spec.server_pid) if self.spec.server_pid else None

    async def _connect_one(self, index: int, gate: asyncio.Semaphore) -> None:
        spec = self.spec
        async with gate:
            _, client = await self.loop.create_connection(
                lambda: Client(self, index),
                spec.host,
                spec.port,
                local_addr=(source_address(index, spec.per_address), 0),
            )
            self.clients[index] = client
            await client.ready
            self.ready_at.append(time.monotonic())

    async def connect(self) -> None:
        spec = self.spec
        result = self.result
        before = self._server()
        cpu0 = _cpu_self()
        self.clients = [None] * spec.clients  # type: ignore[list-item]
        gate = asyncio.Semaphore(spec.connect_concurrency)
        t0 = time.monotonic()
        tasks = [asyncio.ensure_future(self._connect_one(i, gate)) for i in range(spec.clients)]
        done, pending = await asyncio.wait(tasks, timeout=spec.connect_timeout)
        for task in pending:
            task.cancel()
        failures = [t.exception() for t in done if t.exception() is not None]
        result.ready_clients = len(done) - len(failures)
        result.connect_seconds = round(time.monotonic() - t0, 4)
        if self.ready_at:
            ordered = sorted(self.ready_at)
            result.ready_quantiles = {
                f"{q:.0%}": round(ordered[max(0, math.ceil(q * spec.clients) - 1)] - t0, 3)
                for q in (0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
                if math.ceil(q * spec.clients) <= len(ordered)
            }
        if failures or pending:
            first = f": first failure: {failures[0]}" if failures else ""
            result.problems.append(
                f"not all signed in: {len(failures)} clients failed and {len(pending)} were not signed in "
                f"within {spec.connect_timeout:.0f} s{first}"
            )
            self.complete = False
        # Presence fan-out: each join goes to every member online at that moment. Settled when all of
        # it has arrived and the line has been quiet briefly; or, if the server's presence rules differ
        # from this count, when nothing came for a longer while.
        while self.complete:
            idle = time.monotonic() - self.last_activity
            if self.presence_total >= self.presence_expected and idle >= _SETTLE_QUIET:
                break
            if idle > _QUIET:
                result.problems.append(
                    f"presence settled by silence: {self.presence_total} of {self.presence_expected} received"
                )
                break
            if time.monotonic() - t0 > spec.connect_timeout + spec.settle_timeout:
                result.problems.append(
                    f"presence did not settle: {self.presence_total} of {self.presence_expected} received"
                )
                break
            await asyncio.sleep(0.02)
        # The time it took, without the quiet period that proved it.
        settled = max(self.last_activity, t0 + (result.connect_seconds or 0.0))
        result.settle_seconds = round(settled - t0, 4) if self.complete else None
        result.presence_received = self.presence_total
        result.driver_cpu_connect = round(_cpu_self() - cpu0, 3)
        after = self._server()
        if before is not None and after is not None:
            result.server.cpu_connect = round(after.cpu - before.cpu, 3)
            result.server.rss_before = before.rss
            result.server.rss_ready = after.rss

    async def send(self) -> None:
        spec = self.spec
        result = self.result
        if spec.hold:
            await asyncio.sleep(spec.hold)
        if not spec.senders or not spec.messages:
            return
        if spec.target == "chatapp":
            await self._sync()
        for client in self.clients:
            client.start_recording()
        self.senders = [Sender(self, self.clients[sid], sid) for sid in range(spec.senders)]
        per_round = spec.clients * spec.senders * spec.messages
        self.expected = per_round * spec.rounds
        result.expected = self.expected
        storm_task = None
        self.phase = "send"
        server0 = self._server()
        cpu0 = _cpu_self()
        sys0 = _sys_self()
        busy = 0
        first = time.monotonic_ns()
        self.t0 = first
        if spec.storm is not None:
            storm_task = asyncio.ensure_future(self._storm(spec.storm, first))
        replay_task = None
        if spec.replay is not None and self.result.replay is not None:
            replay_task = asyncio.ensure_future(self._laggard(spec.replay, first))
        for index in range(spec.rounds):
            self.target = per_round * (index + 1)
            self.all_delivered.clear()
            t0 = time.monotonic_ns()
            for sender in self.senders:
                sender.start_round(index)
            try:
                await asyncio.wait_for(self.all_delivered.wait(), spec.run_timeout)
            except TimeoutError:
                result.timed_out = True
            t1 = self.last_delivery if self.last_delivery > t0 else time.monotonic_ns()
            busy += t1 - t0
            result.round_rates.append(round(per_round / max(t1 - t0, 1) * 1e9, 1))
            if result.timed_out or self.counted < self.target:
                result.problems.append(
                    f"round {index}: {self.counted} of {self.target} deliveries counted"
                    + (" (timed out)" if result.timed_out else " (a client was cut off)")
                )
                break
        cpu1 = _cpu_self()
        server1 = self._server()
        for sender in self.senders:
            sender.stop()
        result.counted = self.counted
        result.send_seconds = round(busy / 1e9, 4)
        if busy:
            result.deliveries_per_s = round(self.counted / (busy / 1e9), 1)
            result.driver_cpu_share = round((cpu1 - cpu0) / (busy / 1e9), 3)
        result.driver_cpu_send = round(cpu1 - cpu0, 3)
        result.driver_sys_send = round(_sys_self() - sys0, 3)
        if spec.rate:
            result.max_send_lateness_ms = round(max(s.lateness for s in self.senders) * 1e3, 3)
        if server0 is not None and server1 is not None:
            result.server.cpu_send = round(server1.cpu - server0.cpu, 3)
        if storm_task is not None:
            result.storm = await storm_task
        if replay_task is not None:
            await replay_task
            self._check_laggard()

    async def fill(self, replay: ReplaySpec) -> None:
        """Put ``missed`` messages in the room before anyone else signs in."""
        result = self.result.replay = ReplayResult(missed=replay.missed)
        t0 = time.monotonic()
        _, filler = await self.loop.create_connection(
            lambda: Filler(self, replay.filler_token, replay.missed, replay.window),
            self.spec.host,
            self.spec.port,
            local_addr=(source_address(0, 1, network=2), 0),
        )
        try:
            await asyncio.wait_for(filler.synced, 30.0)
            filler.pump()
            await asyncio.wait_for(filler.done, self.spec.run_timeout)
        finally:
            if filler.transport is not None:
                filler.transport.close()
        result.fill_seconds = round(time.monotonic() - t0, 3)
        result.first_id = filler.first_id
        result.last_fill_id = filler.last_id_seen
        self.last_id = filler.last_id_seen

    async def _laggard(self, replay: ReplaySpec, t0: int) -> None:
        await asyncio.sleep(replay.start_after)
        result = self.result.replay
        assert result is not None
        _, laggard = await self.loop.create_connection(
            lambda: ParsingClient(self, replay.laggard_token, result.first_id - 1),
            self.spec.host,
            self.spec.port,
            local_addr=(source_address(1, 1, network=2), 0),
        )
        self.laggard = laggard
        try:
            await asyncio.wait_for(laggard.synced, 120.0)
        except Exception as exc:
            result.problems.append(f"the replay did not finish: {type(exc).__name__}: {exc}")
        result.start = round((laggard.resumed_at - t0) / 1e9, 3)
        if laggard.auth_at:
            result.auth_ms = round((laggard.auth_at - laggard.resumed_at) / 1e6, 3)
        if laggard.synced_at:
            result.synced_ms = round((laggard.synced_at - laggard.resumed_at) / 1e6, 3)
            self.replay_window = (laggard.resumed_at, laggard.synced_at)
        if laggard.synced_frame is not None:
            result.has_more = laggard.synced_frame.has_more

    def _check_laggard(self) -> None:
        """The laggard must get every message from the first missed one on, once each, in id order."""
        result = self.result.replay
        laggard = getattr(self, "laggard", None)
        if result is None or laggard is None:
            return
        ids = [m[1] for m in laggard.messages]
        result.received = len(ids)
        result.replayed = sum(1 for m in laggard.messages if m[2])
        result.duplicated = len(ids) - len(set(ids))
        result.out_of_order = sum(1 for a, b in zip(ids, ids[1:], strict=False) if b <= a)
        if ids:
            expected = set(range(result.first_id, max(ids) + 1))
            result.gaps = len(expected - set(ids))
        if laggard.lost_connection and self.phase != "closing":
            result.problems.append("the laggard was disconnected")

    async def _sync(self) -> None:
        """Every client pings and waits for its pong before the clock starts.

        A barrier (the server has handled everything sent so far, and all of it has arrived), and a
        sign of life: receivers send nothing while they measure, and the server pings a client
        silent for 45 s. Not for the baseline, which would broadcast the pings to everyone.
        """
        ping = encode(Ping(ref="sync"))
        for client in self.clients:
            if client.transport is not None:
                client.transport.write(ping)
        try:
            await asyncio.wait_for(self.synced.wait(), 30.0)
        except TimeoutError:
            self.result.problems.append(f"only {self.pongs} of {self.spec.clients} pongs before sending")

    async def _storm(self, storm: StormSpec, t0: int) -> StormResult:
        await asyncio.sleep(storm.start_after)
        start = time.monotonic_ns()
        clients: list[StormClient] = []

        async def one(i: int, username: str) -> tuple[str, int]:
            _, client = await self.loop.create_connection(
                lambda: StormClient(self, username, storm.password),
                self.spec.host,
                self.spec.port,
                local_addr=(source_address(i, self.spec.per_address, network=1), 0),
            )
            clients.append(client)
            return await asyncio.wait_for(client.done, 60.0)

        outcomes = await asyncio.gather(
            *(one(i, name) for i, name in enumerate(storm.usernames)), return_exceptions=True
        )
        end = time.monotonic_ns()
        result = StormResult(logins=len(storm.usernames), start=(start - t0) / 1e9, end=(end - t0) / 1e9)
        times: list[int] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                key = type(outcome).__name__
                result.failed[key] = result.failed.get(key, 0) + 1
            elif outcome[0] == "ok":
                result.ok += 1
                times.append(outcome[1])
            else:
                result.failed[outcome[0]] = result.failed.get(outcome[0], 0) + 1
        result.login_ms = percentiles(times)
        self.storm_window = (start, end)
        for client in clients:
            if client.transport is not None:
                client.transport.close()
        return result

    def close(self) -> None:
        self.phase = "closing"
        laggard = getattr(self, "laggard", None)
        if laggard is not None and laggard.transport is not None:
            laggard.transport.close()
        for client in self.clients:
            if client is not None and client.transport is not None:
                client.transport.close()

    # -- verification (after the clock stopped) ------------------------------------------

    def verify(self) -> None:
        spec = self.spec
        result = self.result
        t0 = time.monotonic()
        latencies: list[int] = []
        storm_latencies: list[int] = []
        window = getattr(self, "storm_window", None)
        replay_window = getattr(self, "replay_window", None)
        replay_latencies: list[int] = []
        want = list(range(spec.messages * spec.rounds))
        names = {sid: (spec.usernames[sid] if spec.usernames else None) for sid in range(spec.senders)}
        other: dict[str, int] = {}
        received = lost = duplicated = out_of_order = id_violations = 0
        for client in self.clients:
            seqs: list[list[int]] = [[] for _ in range(spec.senders)]
            ids: list[int] = []
            partial = b""
            skip = client.skip_first
            for when, chunk in client.chunks:
                if partial:
                    chunk = partial + chunk
                lines = chunk.split(b"\n")
                partial = lines.pop()
                for line in lines:
                    if skip:
                        skip = False
                        continue
                    if not line.startswith(MESSAGE_PREFIX):
                        kind = _kind(line)
                        other[kind] = other.get(kind, 0) + 1
                        continue
                    try:
                        frame = decode_server_frame(line)
                    except ProtocolError as exc:
                        other["undecodable"] = other.get("undecodable", 0) + 1
                        if len(result.problems) < 10:
                            result.problems.append(f"undecodable line: {exc.message}: {line[:120]!r}")
                        continue
                    assert isinstance(frame, Message)
                    text = frame.text
                    sid = int(text[1:6])
                    seq = int(text[7:14])
                    sent = int(text[15:34])
                    if (
                        sid >= spec.senders
                        or frame.room != DEFAULT_ROOM
                        or (names[sid] is not None and frame.sender != names[sid])
                    ):
                        other["foreign message"] = other.get("foreign message", 0) + 1
                        continue
                    received += 1
                    seqs[sid].append(seq)
                    ids.append(frame.id)
                    latency = when - sent
                    latencies.append(latency)
                    if window is not None and window[0] <= sent <= window[1]:
                        storm_latencies.append(latency)
                    if replay_window is not None and replay_window[0] <= sent <= replay_window[1]:
                        replay_latencies.append(latency)
            for got in seqs:
                if got == want:
                    continue
                unique = len(set(got))
                lost += len(want) - len(set(got) & set(want))
                duplicated += len(got) - unique
                if got != sorted(got):
                    out_of_order += 1
            if spec.target == "chatapp":
                id_violations += sum(1 for a, b in zip(ids, ids[1:], strict=False) if b <= a)
        result.received_messages = received
        result.lost = lost
        result.duplicated = duplicated
        result.out_of_order = out_of_order
        result.id_order_violations = id_violations
        result.other_frames = other
        result.latency_ms = percentiles(latencies)
        if result.storm is not None:
            result.storm.window_latency_ms = percentiles(storm_latencies)
        if result.replay is not None:
            result.replay.window_latency_ms = percentiles(replay_latencies)
        result.verified = True
        result.verify_seconds = round(time.monotonic() - t0, 3)


def _kind(line: bytes) -> str:
    try:
        frame = decode_server_frame(line)
    except ProtocolError:
        return "undecodable"
    if isinstance(frame, Error):
        return f"error:{frame.code}"
    return type(frame).__name__.lower()


async def drive(spec: DriverSpec) -> DriverResult:
    loop = asyncio.get_running_loop()
    run = Run(spec, loop)
    result = run.result
    try:
        if spec.replay is not None:
            await run.fill(spec.replay)
        await run.connect()
        if run.complete:
            await run.send()
        if spec.server_pid:
            end = procstat.sample(spec.server_pid)
            if end is not None:
                result.server.rss_end = end.rss
                result.server.peak_rss = end.hwm
    except Exception as exc:  # reported, not raised: the orchestrator decides
        result.problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        result.disconnected = run.disconnected
        result.signin_retries = run.signin_retries
        run.close()
    if spec.verify and spec.senders and spec.messages and run.complete and run.clients:
        run.verify()
    await asyncio.sleep(0.05)  # let the closes go out
    return result


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.driver", description="chatapp load driver")
    parser.add_argument("--spec", required=True, help="a JSON DriverSpec file, or - for stdin")
    args = parser.parse_args(argv)
    raw = sys.stdin.buffer.read() if args.spec == "-" else open(args.spec, "rb").read()
    spec = msgspec.json.decode(raw, type=DriverSpec)
    raise_fd_limit(spec.clients + (len(spec.storm.usernames) if spec.storm else 0) + 256)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        result = runner.run(drive(spec))
    sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
