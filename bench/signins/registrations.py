"""A registration burst: many greeted connections send ``register`` at the same moment."""

from __future__ import annotations

import asyncio
import time
from contextlib import suppress

from bench.link import Link, source_address
from bench.signins.results import RegistrationResult
from bench.signins.spec import RegistrationSpec
from bench.stats import percentiles
from chatapp.protocol import Bye, Error, ProtocolError, Register, ServerFrame, Synced, Welcome
from chatapp.protocol.states import State

_RETRY = frozenset({"server_error", "rate_limited"})
_MAX_RETRIES = 20


class Registrant(Link):
    """Registers when told to, tries again when told to wait, and is done at its ``synced``.

    Once done it no longer decodes anything: each registration is announced to everyone already
    signed in (N(N+1)/2 presence frames in all), and decoding them would make the driver, not the
    server, what the last registrations wait for.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, username: str, password: str) -> None:
        super().__init__()
        self.loop = loop
        self.username = username
        self.password = password
        self.greeted: asyncio.Future[None] = loop.create_future()
        self.outcome: asyncio.Future[str] = loop.create_future()
        self.retries = 0
        self.synced_at = 0

    def data_received(self, data: bytes) -> None:
        if not self.outcome.done():
            super().data_received(data)

    def frame_received(self, frame: ServerFrame, now: int) -> None:
        if isinstance(frame, Welcome):
            if not self.greeted.done():
                self.greeted.set_result(None)
        elif isinstance(frame, Synced):
            self.synced_at = now
            self._done("ok")
        elif isinstance(frame, Error):
            if frame.code in _RETRY and self.retries < _MAX_RETRIES:
                self.retries += 1
                self.loop.call_later(frame.retry_after or 0.05, self.register)
            else:
                self._done(frame.code)
        elif isinstance(frame, Bye):
            self._done("bye")

    def register(self) -> None:
        if self.protocol.state is State.GREETED:
            self.send(Register(username=self.username, password=self.password, ref=1))

    def bad_line(self, error: ProtocolError) -> None:
        super().bad_line(error)
        self._done("bad line")

    def link_lost(self) -> None:
        if not self.greeted.done():
            self.greeted.set_exception(ConnectionError("lost before welcome"))
        self._done("disconnected")

    def _done(self, outcome: str) -> None:
        if not self.outcome.done():
            self.outcome.set_result(outcome)


async def registrations(spec: RegistrationSpec) -> RegistrationResult:
    loop = asyncio.get_running_loop()
    result = RegistrationResult(count=len(spec.usernames))
    clients: list[Registrant] = []

    gate = asyncio.Semaphore(50)  # connecting is not what is measured: the registering is

    async def connect(index: int, username: str) -> None:
        async with gate:
            _, client = await loop.create_connection(
                lambda: Registrant(loop, username, spec.password),
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
    result.retries = sum(c.retries for c in clients)
    result.latency_ms = percentiles(times)
    if times and result.ready == result.count:
        result.ready_seconds = round(max(times) / 1e9, 3)
    return result
