"""The login storm: extra clients log in with a password at once while the clock runs, then quit."""

from __future__ import annotations

import asyncio
import time

from bench.driver.results import StormResult
from bench.driver.spec import DriverSpec, StormSpec
from bench.link import Link, source_address
from bench.stats import percentiles
from chatapp.protocol import AuthOk, Bye, Error, Login, ProtocolError, Quit, ServerFrame, Welcome


class StormClient(Link):
    """A client that logs in with a password (argon2 on the server) and quits."""

    def __init__(self, loop: asyncio.AbstractEventLoop, username: str, password: str) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.started = 0
        self.done: asyncio.Future[tuple[str, int]] = loop.create_future()
        """How the login ended ("ok" or why not) and how long it took, in nanoseconds."""

    def frame_received(self, frame: ServerFrame, now: int) -> None:
        if self.done.done():
            return
        if isinstance(frame, Welcome):
            self.started = time.monotonic_ns()
            self.send(Login(username=self.username, password=self.password, ref=1))
        elif isinstance(frame, AuthOk):
            self.done.set_result(("ok", now - self.started))
            self.send(Quit())
        elif isinstance(frame, Error):
            self.done.set_result((frame.code, now - self.started))
        elif isinstance(frame, Bye):
            self.done.set_result((f"bye: {frame.reason}", now - self.started))

    def bad_line(self, error: ProtocolError) -> None:
        super().bad_line(error)
        if not self.done.done():
            self.done.set_result(("bad line", 0))

    def link_lost(self) -> None:
        if not self.done.done():
            self.done.set_result(("connection lost", 0))


async def storm(
    loop: asyncio.AbstractEventLoop, spec: DriverSpec, storm: StormSpec, t0: int
) -> tuple[StormResult, tuple[int, int]]:
    """Run the storm ``storm.start_after`` seconds after ``t0``; its result, and when it lasted."""
    await asyncio.sleep(storm.start_after)
    start = time.monotonic_ns()
    clients: list[StormClient] = []

    async def one(i: int, username: str) -> tuple[str, int]:
        _, client = await loop.create_connection(
            lambda: StormClient(loop, username, storm.password),
            spec.host,
            spec.port,
            local_addr=(source_address(i, spec.per_address, network=1), 0),
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
    for client in clients:
        client.close()
    return result, (start, end)
