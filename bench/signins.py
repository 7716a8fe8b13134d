"""Load drivers for signing in under load: churn with catch-up replays, and a registration burst.

Run as ``python -m bench.signins --spec spec.json`` (``-`` reads stdin); it prints one JSON
result on stdout. Like :mod:`bench.driver` it runs on uvloop when installed and uses bare
``asyncio.Protocol`` clients that count bytes instead of decoding every frame.

**Churn** (:class:`ChurnSpec`): ``clients`` connections resume pre-made sessions (no replay);
the first ``chatters`` of them send to ``general`` at ``rate`` messages per second each, for
``duration`` seconds, and time their acknowledgments (their own copy coming back). Meanwhile
``signin_rate`` password logins per second of other accounts, each of which missed about
``missed`` messages, sign in, take their replay up to ``synced`` and quit. With
``signin_rate=0`` the same run is the baseline without churn.

**Registrations** (:class:`RegistrationSpec`): ``count`` connections are opened and greeted,
then every one of them sends ``register`` at the same moment; the time until the last one has
its ``synced`` is the result. A client told ``rate_limited`` or ``server_error`` tries again
after ``retry_after``, as a real client would.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from contextlib import suppress

import msgspec

from bench.driver import Latency, percentiles, raise_fd_limit, source_address
from chatapp.protocol import (
    DEFAULT_ROOM,
    Error,
    Login,
    Pong,
    ProtocolError,
    Quit,
    Register,
    Resume,
    Send,
    decode_server_frame,
    encode,
)

SYNCED_MARK = b'"type":"synced"'
REPLAYED_MARK = b'"replayed":true'
PING_MARK = b'{"type":"ping"'
_PONG = encode(Pong(ref="keepalive"))
_RETRY = frozenset({"server_error", "rate_limited"})
WINDOW_SECONDS = 5.0
"""Acknowledgment latency is also reported per window of this many seconds (by send time)."""


class ChurnSpec(msgspec.Struct, frozen=True):
    host: str
    port: int
    tokens: list[str]
    """One pre-made resumable session per client."""
    usernames: list[str]
    """The clients' usernames, in the order of ``tokens``."""
    resume_last_id: int
    """The clients resume from here: nothing to replay."""
    chatters: int
    rate: float
    """Messages per second per chatter."""
    duration: float
    churn_usernames: list[str] = []
    churn_password: str = ""
    signin_rate: float = 0.0
    """Password logins per second (0: no churn, the baseline)."""
    settle: float = 60.0
    """Seconds to wait after the send phase for acknowledgments and sign-ins still pending."""
    per_address: int = 20
    connect_concurrency: int = 50
    connect_timeout: float = 120.0


class RegistrationSpec(msgspec.Struct, frozen=True):
    host: str
    port: int
    usernames: list[str]
    password: str
    per_address: int = 20
    timeout: float = 120.0


class Window(msgspec.Struct):
    start: float
    """Seconds after the send phase started."""
    latency_ms: Latency


class ChurnSignins(msgspec.Struct):
    attempted: int = 0
    ok: int = 0
    failed: dict[str, int] = {}
    unfinished: int = 0
    """Still waiting for ``synced`` when the run ended."""
    auth_ms: Latency = msgspec.field(default_factory=Latency)
    """From ``login`` to ``auth_ok``."""
    synced_ms: Latency = msgspec.field(default_factory=Latency)
    """From ``login`` to ``synced``: the sign-in with its whole replay."""
    replayed_mean: float | None = None
    has_more: int = 0
    """Sign-ins whose replay was cut (``synced.has_more``)."""


class ChurnResult(msgspec.Struct):
    kind: str = "churn"
    clients: int = 0
    ready_clients: int = 0
    connect_seconds: float | None = None
    chatters: int = 0
    sent: int = 0
    acked: int = 0
    errors: dict[str, int] = {}
    """Error frames the chatters got (a refused send is not acknowledged)."""
    send_seconds: float = 0.0
    ack_ms: Latency = msgspec.field(default_factory=Latency)
    windows: list[Window] = []
    signins: ChurnSignins | None = None
    disconnected: int = 0
    problems: list[str] = []


class RegistrationResult(msgspec.Struct):
    kind: str = "registrations"
    count: int = 0
    connected: int = 0
    ready: int = 0
    ready_seconds: float | None = None
    """From the moment every ``register`` was sent to the last ``synced``."""
    latency_ms: Latency = msgspec.field(default_factory=Latency)
    retries: int = 0
    failed: dict[str, int] = {}
    problems: list[str] = []


class _Lines(asyncio.Protocol):
    """A connection that decodes frames while signing in (few) and only counts bytes after."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.partial = b""
        self.lost = False
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.closed.done():
            self.closed.set_result(None)

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def lines(self, data: bytes) -> list[bytes]:
        parts = (self.partial + data).split(b"\n")
        self.partial = parts.pop()
        return [p for p in parts if p]


class _Resumer(_Lines):
    """A churn-run client: resumes, then discards what it gets; a chatter also times its acks."""

    def __init__(self, loop: asyncio.AbstractEventLoop, token: str, last_id: int) -> None:
        super().__init__(loop)
        self.token = token
        self.last_id = last_id
        self.ready: asyncio.Future[None] = loop.create_future()
        self.signing_in = True
        self.mark: bytes | None = None
        self.tail = b""
        self.acks: list[tuple[int, int]] = []
        """(sent at, latency), nanoseconds."""
        self.errors: dict[str, int] = {}

    def data_received(self, data: bytes) -> None:
        if self.signing_in:
            for line in self.lines(data):
                if line.startswith(b'{"type":"welcome"'):
                    self.write(encode(Resume(token=self.token, last_id=self.last_id, ref=1)))
                elif SYNCED_MARK in line:
                    self.signing_in = False
                    if not self.ready.done():
                        self.ready.set_result(None)
                elif line.startswith(b'{"type":"error"') or line.startswith(b'{"type":"bye"'):
                    if not self.ready.done():
                        self.ready.set_exception(RuntimeError(f"sign-in refused: {line[:200]!r}"))
            return
        if PING_MARK in data:
            self.write(_PONG * data.count(PING_MARK))
        if self.mark is None:
            return
        now = time.monotonic_ns()
        chunk = self.tail + data
        mark = self.mark
        at = chunk.find(mark)
        while at >= 0:
            start = at + len(mark)
            end = chunk.find(b":", start)
            if end < 0:
                break
            self.acks.append((int(chunk[start:end]), now - int(chunk[start:end])))
            at = chunk.find(mark, end)
        if b'{"type":"error"' in chunk:
            for line in chunk.split(b"\n"):
                if line.startswith(b'{"type":"error"') and line.endswith(b"}"):
                    code = _code(line)
                    self.errors[code] = self.errors.get(code, 0) + 1
        # Keep a possible marker split across chunks, but never one already counted.
        last_newline = chunk.rfind(b"\n")
        self.tail = chunk[last_newline + 1 :][-200:] if last_newline >= 0 else chunk[-200:]


class _ChurnLogin(_Lines):
    """One sign-in of the churn: login, take the replay up to ``synced``, quit."""

    def __init__(self, loop: asyncio.AbstractEventLoop, username: str, password: str) -> None:
        super().__init__(loop)
        self.username = username
        self.password = password
        self.sent_at = 0
        self.auth_at = 0
        self.synced_at = 0
        self.replayed = 0
        self.has_more = False
        self.outcome: asyncio.Future[str] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        for line in self.lines(data):
            if REPLAYED_MARK in line:
                self.replayed += 1
            elif line.startswith(b'{"type":"welcome"'):
                self.sent_at = time.monotonic_ns()
                self.write(encode(Login(username=self.username, password=self.password, ref=1)))
            elif line.startswith(b'{"type":"auth_ok"'):
                self.auth_at = time.monotonic_ns()
            elif line.startswith(b'{"type":"synced"'):
                self.synced_at = time.monotonic_ns()
                self.has_more = b'"has_more":true' in line
                self.write(encode(Quit()))
                self.close()
                self._done("ok")
            elif line.startswith(b'{"type":"error"') or line.startswith(b'{"type":"bye"'):
                self.close()
                self._done(_code(line))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._done("disconnected")

    def _done(self, outcome: str) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)


def _code(line: bytes) -> str:
    try:
        frame = decode_server_frame(line)
    except ProtocolError:
        return "undecodable"
    if isinstance(frame, Error):
        return frame.code
    return type(frame).__name__.lower()


async def _connect_all(
    loop: asyncio.AbstractEventLoop,
    count: int,
    make: Callable[[int], _Lines],
    host: str,
    port: int,
    per_address: int,
    concurrency: int,
    network: int = 0,
) -> list[_Lines]:
    gate = asyncio.Semaphore(concurrency)
    clients: list[_Lines] = []

    async def one(index: int) -> None:
        async with gate:
            _, client = await loop.create_connection(
                lambda: make(index), host, port, local_addr=(source_address(index, per_address, network), 0)
            )
            clients.append(client)
            ready = getattr(client, "ready", None)
            if ready is not None:
                await asyncio.wait_for(ready, 60.0)

    await asyncio.gather(*(one(i) for i in range(count)))
    return clients


async def churn(spec: ChurnSpec) -> ChurnResult:
    loop = asyncio.get_running_loop()
    result = ChurnResult(clients=len(spec.tokens), chatters=spec.chatters)
    t0 = time.monotonic()
    resumers: list[_Resumer] = []

    def make(index: int) -> _Lines:
        client = _Resumer(loop, spec.tokens[index], spec.resume_last_id)
        resumers.append(client)
        return client

    try:
        await asyncio.wait_for(
            _connect_all(
                loop, len(spec.tokens), make, spec.host, spec.port, spec.per_address, spec.connect_concurrency
            ),
            spec.connect_timeout,
        )
    except Exception as exc:
        result.problems.append(f"connect: {type(exc).__name__}: {exc}"[:300])
        for client in resumers:
            client.close()
        return result
    result.connect_seconds = round(time.monotonic() - t0, 3)
    result.ready_clients = sum(1 for c in resumers if not c.signing_in)
    by_token = {c.token: c for c in resumers}
    chatters = [by_token[token] for token in spec.tokens[: spec.chatters]]
    for sid, (chatter, name) in enumerate(zip(chatters, spec.usernames, strict=False)):
        chatter.mark = f'"from":"{name}","text":"C{sid:05d}:'.encode()
    await asyncio.sleep(0.5)  # the presence fan-out of the last sign-ins settles

    start = time.monotonic_ns()
    logins: list[_ChurnLogin] = []
    signins = ChurnSignins() if spec.signin_rate > 0 else None
    sent = 0

    async def send_all() -> None:
        nonlocal sent
        interval = 1.0 / spec.rate
        seq = 0
        deadline = start + int(spec.duration * 1e9)
        while True:
            due = start + int(seq * interval * 1e9)
            if due >= deadline:
                return
            delay = (due - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            for sid, chatter in enumerate(chatters):
                # Phased so the chatters do not all send in the same instant.
                now = time.monotonic_ns()
                text = f"C{sid:05d}:{now}:{seq}"
                chatter.write(encode(Send(room=DEFAULT_ROOM, text=text, nonce=f"{seq}")))
                sent += 1
            seq += 1

    async def churn_all() -> None:
        assert signins is not None
        interval = 1.0 / spec.signin_rate
        deadline = start + int(spec.duration * 1e9)
        pending: list[asyncio.Task[None]] = []
        for index, username in enumerate(spec.churn_usernames):
            due = start + int(index * interval * 1e9)
            if due >= deadline:
                break
            delay = (due - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.ensure_future(sign_in(index, username)))
        if pending:
            await asyncio.wait(pending)

    async def sign_in(index: int, username: str) -> None:
        assert signins is not None
        signins.attempted += 1
        try:
            _, client = await loop.create_connection(
                lambda: _ChurnLogin(loop, username, spec.churn_password),
                spec.host,
                spec.port,
                local_addr=(source_address(index, spec.per_address, network=1), 0),
            )
        except OSError as exc:
            signins.failed[type(exc).__name__] = signins.failed.get(type(exc).__name__, 0) + 1
            return
        logins.append(client)
        await asyncio.wait({client.outcome})

    tasks = [asyncio.ensure_future(send_all())]
    if signins is not None:
        tasks.append(asyncio.ensure_future(churn_all()))
    await tasks[0]
    result.send_seconds = round((time.monotonic_ns() - start) / 1e9, 3)
    result.sent = sent
    # Wait (bounded) for the acknowledgments and sign-ins still on their way.
    settle_until = time.monotonic() + spec.settle
    while time.monotonic() < settle_until:
        acked = sum(len(c.acks) for c in chatters) + sum(sum(c.errors.values()) for c in chatters)
        churning = signins is not None and not tasks[-1].done()
        if acked >= sent and not churning:
            break
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    acks = [ack for c in chatters for ack in c.acks]
    result.acked = len(acks)
    for chatter in chatters:
        for code, n in chatter.errors.items():
            result.errors[code] = result.errors.get(code, 0) + n
    result.ack_ms = percentiles([latency for _, latency in acks])
    windows: dict[int, list[int]] = {}
    for sent_at, latency in acks:
        windows.setdefault(int((sent_at - start) / 1e9 // WINDOW_SECONDS), []).append(latency)
    result.windows = [
        Window(start=k * WINDOW_SECONDS, latency_ms=percentiles(v)) for k, v in sorted(windows.items())
    ]
    if signins is not None:
        auth, synced, replayed = [], [], []
        for client in logins:
            outcome = client.outcome.result() if client.outcome.done() else None
            if outcome is None:
                signins.unfinished += 1
            elif outcome == "ok":
                signins.ok += 1
                auth.append(client.auth_at - client.sent_at)
                synced.append(client.synced_at - client.sent_at)
                replayed.append(client.replayed)
                signins.has_more += client.has_more
            else:
                signins.failed[outcome] = signins.failed.get(outcome, 0) + 1
            client.close()
        signins.auth_ms = percentiles(auth)
        signins.synced_ms = percentiles(synced)
        signins.replayed_mean = round(sum(replayed) / len(replayed), 1) if replayed else None
        result.signins = signins
    result.disconnected = sum(1 for c in resumers if c.lost)
    for client in resumers:
        client.close()
    return result


class _Registrant(_Lines):
    def __init__(self, loop: asyncio.AbstractEventLoop, username: str, password: str, run: _Registrations):
        super().__init__(loop)
        self.username = username
        self.password = password
        self.run = run
        self.greeted: asyncio.Future[None] = loop.create_future()
        self.outcome: asyncio.Future[str] = loop.create_future()
        self.retries = 0
        self.synced_at = 0

    def data_received(self, data: bytes) -> None:
        for line in self.lines(data):
            if line.startswith(b'{"type":"welcome"'):
                if not self.greeted.done():
                    self.greeted.set_result(None)
            elif line.startswith(b'{"type":"synced"'):
                self.synced_at = time.monotonic_ns()
                self._done("ok")
            elif line.startswith(b'{"type":"error"'):
                code = _code(line)
                if code in _RETRY and self.retries < 20:
                    self.retries += 1
                    self.run.retries += 1
                    retry = msgspec.json.decode(line).get("retry_after") or 0.05
                    self.loop.call_later(retry, self.register)
                else:
                    self._done(code)
            elif line.startswith(b'{"type":"bye"'):
                self._done("bye")

    def register(self) -> None:
        self.write(encode(Register(username=self.username, password=self.password, ref=1)))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.greeted.done():
            self.greeted.set_exception(ConnectionError("lost before welcome"))
        self._done("disconnected")

    def _done(self, outcome: str) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)


class _Registrations:
    retries = 0


async def registrations(spec: RegistrationSpec) -> RegistrationResult:
    loop = asyncio.get_running_loop()
    result = RegistrationResult(count=len(spec.usernames))
    run = _Registrations()
    clients: list[_Registrant] = []

    gate = asyncio.Semaphore(50)  # connecting is not what is measured: the registering is

    async def connect(index: int, username: str) -> None:
        async with gate:
            await _connect(index, username)

    async def _connect(index: int, username: str) -> None:
        _, client = await loop.create_connection(
            lambda: _Registrant(loop, username, spec.password, run),
            spec.host,
            spec.port,
            local_addr=(source_address(index, spec.per_address, network=3), 0),
        )
        clients.append(client)
        await asyncio.wait_for(client.greeted, 30.0)

    outcomes = await asyncio.gather(
        *(connect(i, name) for i, name in enumerate(spec.usernames)), return_exceptions=True
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        result.problems.append(f"{len(failures)} clients could not connect: {failures[0]!r}"[:300])
    result.connected = len(clients)
    start = time.monotonic_ns()
    for client in clients:
        client.register()
    with suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.outcome for c in clients)), spec.timeout)
    times = []
    for client in clients:
        outcome = client.outcome.result() if client.outcome.done() else "unfinished"
        if outcome == "ok":
            result.ready += 1
            times.append(client.synced_at - start)
        else:
            result.failed[outcome] = result.failed.get(outcome, 0) + 1
        client.close()
    result.retries = run.retries
    result.latency_ms = percentiles(times)
    if times and result.ready == result.count:
        result.ready_seconds = round(max(times) / 1e9, 3)
    return result


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.signins", description=__doc__.split("\n")[0])
    parser.add_argument("--spec", required=True, help="a JSON spec file, or - for stdin")
    args = parser.parse_args(argv)
    raw = sys.stdin.buffer.read() if args.spec == "-" else open(args.spec, "rb").read()
    tagged = msgspec.json.decode(raw)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        if tagged["kind"] == "registrations":
            reg = msgspec.convert(tagged["spec"], RegistrationSpec)
            raise_fd_limit(len(reg.usernames) + 256)
            out: msgspec.Struct = runner.run(registrations(reg))
        else:
            spec = msgspec.convert(tagged["spec"], ChurnSpec)
            raise_fd_limit(len(spec.tokens) + len(spec.churn_usernames) + 256)
            out = runner.run(churn(spec))
    sys.stdout.buffer.write(msgspec.json.encode(out) + b"\n")
    sys.stdout.flush()
    return 0


def wrap(spec: ChurnSpec | RegistrationSpec) -> bytes:
    """The bytes :func:`main` reads for ``spec``."""
    kind = "registrations" if isinstance(spec, RegistrationSpec) else "churn"
    return msgspec.json.encode({"kind": kind, "spec": spec})


if __name__ == "__main__":
    sys.exit(main())
