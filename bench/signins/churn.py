"""Sign-in churn: chatters time their acknowledgments while other accounts sign in and catch up."""

from __future__ import annotations

import asyncio
import time

from bench.link import Link, source_address
from bench.markers import PING_MARK
from bench.signins.results import ChurnResult, ChurnSignins, Window
from bench.signins.spec import ChurnSpec
from bench.stats import percentiles
from chatapp.protocol import (
    DEFAULT_ROOM,
    AuthOk,
    Bye,
    Direct,
    Error,
    Login,
    Message,
    Ping,
    Pong,
    ProtocolError,
    Quit,
    Resume,
    Send,
    ServerFrame,
    Synced,
    Welcome,
)

WINDOW_SECONDS = 5.0
"""Acknowledgment latency is also reported per window of this many seconds (by send time)."""


class Member(Link):
    """A churn-run client: resumes (nothing to replay); a chatter then times its acknowledgments.

    A chatter decodes everything it gets (its own messages coming back are what is measured). The
    others only have to stay connected while the room's traffic goes by: once signed in they look
    at their bytes for nothing but keep-alive pings (:mod:`bench.markers`), as the load driver's
    receivers do.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, spec: ChurnSpec, index: int) -> None:
        super().__init__()
        self.index = index
        self.token = spec.tokens[index]
        self.last_id = spec.resume_last_id
        # The first ``chatters`` clients chat, each as its own user, with texts C<index>:<sent at>:<seq>.
        self.chat = (spec.usernames[index], f"C{index:05d}:") if index < spec.chatters else None
        """A chatter's username and the start of its texts; None for the others."""
        self.ready: asyncio.Future[None] = loop.create_future()
        self.signing_in = True
        self.acks: list[tuple[int, int]] = []
        """(sent at, latency), nanoseconds."""
        self.errors: dict[str, int] = {}

    def data_received(self, data: bytes) -> None:
        if self.signing_in or self.chat is not None:
            super().data_received(data)
        elif PING_MARK in data:
            self.answer_pings(data.count(PING_MARK))

    def frame_received(self, frame: ServerFrame, now: int) -> None:
        if self.signing_in:
            if isinstance(frame, Welcome):
                self.send(Resume(token=self.token, last_id=self.last_id, ref=1))
            elif isinstance(frame, Synced):
                self.signing_in = False
                if not self.ready.done():
                    self.ready.set_result(None)
            elif isinstance(frame, Error | Bye) and not self.ready.done():
                self.ready.set_exception(RuntimeError(f"sign-in refused: {frame}"))
            return
        if isinstance(frame, Message) and self.chat is not None:
            username, head = self.chat
            if frame.sender == username and frame.text.startswith(head):
                sent = int(frame.text.split(":", 2)[1])
                self.acks.append((sent, now - sent))
        elif isinstance(frame, Ping):
            self.send(Pong(ref=frame.ref))
        elif isinstance(frame, Error):
            self.errors[frame.code] = self.errors.get(frame.code, 0) + 1

    def bad_line(self, error: ProtocolError) -> None:
        super().bad_line(error)
        if self.signing_in:
            if not self.ready.done():
                self.ready.set_exception(RuntimeError(f"sign-in: a bad line: {error.message}"))
        else:
            self.errors["bad line"] = self.errors.get("bad line", 0) + 1


class ChurnLogin(Link):
    """One sign-in of the churn: login, take the replay up to ``synced``, quit."""

    def __init__(self, loop: asyncio.AbstractEventLoop, username: str, password: str) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.sent_at = 0
        self.auth_at = 0
        self.synced_at = 0
        self.replayed = 0
        self.has_more = False
        self.outcome: asyncio.Future[str] = loop.create_future()

    def frame_received(self, frame: ServerFrame, now: int) -> None:
        if isinstance(frame, Message | Direct):
            self.replayed += frame.replayed
        elif isinstance(frame, Welcome):
            self.sent_at = time.monotonic_ns()
            self.send(Login(username=self.username, password=self.password, ref=1))
        elif isinstance(frame, AuthOk):
            self.auth_at = now
        elif isinstance(frame, Synced):
            self.synced_at = now
            self.has_more = frame.has_more
            self.send(Quit())
            self._done("ok")
        elif isinstance(frame, Error):
            self._done(frame.code)
        elif isinstance(frame, Bye):
            self._done("bye")

    def bad_line(self, error: ProtocolError) -> None:
        super().bad_line(error)
        self._done("bad line")

    def link_lost(self) -> None:
        self._done("disconnected")

    def _done(self, outcome: str) -> None:
        self.close()
        if not self.outcome.done():
            self.outcome.set_result(outcome)


async def _connect_all(loop: asyncio.AbstractEventLoop, spec: ChurnSpec) -> list[Member]:
    gate = asyncio.Semaphore(spec.connect_concurrency)
    members: list[Member] = []

    async def one(index: int) -> None:
        async with gate:
            _, member = await loop.create_connection(
                lambda: Member(loop, spec, index),
                spec.host,
                spec.port,
                local_addr=(source_address(index, spec.per_address), 0),
            )
            members.append(member)
            await asyncio.wait_for(member.ready, 60.0)

    try:
        everyone = asyncio.gather(*(one(i) for i in range(len(spec.tokens))))
        await asyncio.wait_for(everyone, spec.connect_timeout)
    except BaseException:
        for member in members:
            member.close()
        raise
    return members


async def churn(spec: ChurnSpec) -> ChurnResult:
    loop = asyncio.get_running_loop()
    result = ChurnResult(clients=len(spec.tokens), chatters=spec.chatters)
    t0 = time.monotonic()
    try:
        members = await _connect_all(loop, spec)
    except Exception as exc:
        result.problems.append(f"connect: {type(exc).__name__}: {exc}"[:300])
        return result
    result.connect_seconds = round(time.monotonic() - t0, 3)
    result.ready_clients = sum(1 for m in members if not m.signing_in)
    chatters = sorted((m for m in members if m.chat is not None), key=lambda m: m.index)
    await asyncio.sleep(0.5)  # the presence fan-out of the last sign-ins settles

    start = time.monotonic_ns()
    logins: list[ChurnLogin] = []
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
            for chatter in chatters:
                # Phased so the chatters do not all send in the same instant.
                assert chatter.chat is not None
                text = f"{chatter.chat[1]}{time.monotonic_ns()}:{seq}"
                chatter.send(Send(room=DEFAULT_ROOM, text=text, nonce=f"{seq}"))
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
            _, login = await loop.create_connection(
                lambda: ChurnLogin(loop, username, spec.churn_password),
                spec.host,
                spec.port,
                local_addr=(source_address(index, spec.per_address, network=1), 0),
            )
        except OSError as exc:
            signins.failed[type(exc).__name__] = signins.failed.get(type(exc).__name__, 0) + 1
            return
        logins.append(login)
        await asyncio.wait({login.outcome})

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
    _acknowledgments(result, chatters, start)
    if signins is not None:
        _signins(signins, logins)
        result.signins = signins
    result.disconnected = sum(1 for m in members if m.lost)
    for member in members:
        member.close()
    return result


def _acknowledgments(result: ChurnResult, chatters: list[Member], start: int) -> None:
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


def _signins(signins: ChurnSignins, logins: list[ChurnLogin]) -> None:
    auth: list[int] = []
    synced: list[int] = []
    replayed: list[int] = []
    for login in logins:
        outcome = login.outcome.result() if login.outcome.done() else None
        if outcome is None:
            signins.unfinished += 1
        elif outcome == "ok":
            signins.ok += 1
            auth.append(login.auth_at - login.sent_at)
            synced.append(login.synced_at - login.sent_at)
            replayed.append(login.replayed)
            signins.has_more += login.has_more
        else:
            signins.failed[outcome] = signins.failed.get(outcome, 0) + 1
        login.close()
    signins.auth_ms = percentiles(auth)
    signins.synced_ms = percentiles(synced)
    signins.replayed_mean = round(sum(replayed) / len(replayed), 1) if replayed else None
