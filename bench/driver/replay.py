"""History replay under load: a filler puts messages in the room, a laggard comes back for them.

Before the N clients connect, the filler (an account of its own) sends ``missed``
messages to the room; during the send phase the laggard (another account)
resumes with ``last_id`` just before them and takes them all, replayed, before
the live traffic. Both decode every frame through the protocol object: they
are few, and every frame of theirs matters.
"""

from __future__ import annotations

import asyncio
import time

from bench.driver.results import ReplayResult
from bench.driver.spec import DriverSpec, ReplaySpec
from bench.link import Link, source_address
from chatapp.protocol import (
    DEFAULT_ROOM,
    AuthOk,
    Bye,
    Error,
    Message,
    Ping,
    Pong,
    Resume,
    Send,
    ServerFrame,
    Synced,
    Welcome,
)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Resumer(Link):
    """A client that resumes a session and keeps every message it gets."""

    def __init__(self, loop: asyncio.AbstractEventLoop, token: str, last_id: int | None) -> None:
        super().__init__()
        self.token = token
        self.last_id = last_id
        self.resumed_at = 0
        self.auth_at = 0
        self.synced_at = 0
        self.synced_frame: Synced | None = None
        self.signed_in: asyncio.Future[None] = loop.create_future()
        self.synced: asyncio.Future[None] = loop.create_future()
        self.messages: list[tuple[int, int, bool, str]] = []
        """(receive time ns, id, replayed, text) of every message."""

    def frame_received(self, frame: ServerFrame, now: int) -> None:
        if isinstance(frame, Message):
            self.messages.append((now, frame.id, frame.replayed, frame.text))
            self.on_message(frame)
        elif isinstance(frame, Welcome):
            self.resumed_at = time.monotonic_ns()
            self.send(Resume(token=self.token, last_id=self.last_id, ref=1))
        elif isinstance(frame, AuthOk):
            self.auth_at = now
            _resolve(self.signed_in)
        elif isinstance(frame, Synced):
            self.synced_at = now
            self.synced_frame = frame
            _resolve(self.synced)
        elif isinstance(frame, Ping):
            self.send(Pong(ref=frame.ref))
        elif isinstance(frame, Error | Bye):
            self._refused(RuntimeError(f"refused: {frame}"))

    def on_message(self, frame: Message) -> None:
        pass

    def link_lost(self) -> None:
        self._refused(ConnectionError("connection lost"))

    def _refused(self, error: Exception) -> None:
        for future in (self.signed_in, self.synced):
            if not future.done():
                future.set_exception(error)


class Filler(Resumer):
    """Sends ``count`` messages closed loop, counting its own echoes (the acknowledgments)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, token: str, count: int, window: int) -> None:
        super().__init__(loop, token, None)
        self.count = count
        self.window = window
        self.sent = 0
        self.acks = 0
        self.first_id = 0
        self.last_id_seen = 0
        self.done: asyncio.Future[None] = loop.create_future()

    def pump(self) -> None:
        limit = min(self.count, self.acks + self.window)
        if self.sent < limit:
            lines = [
                self.protocol.send(Send(room=DEFAULT_ROOM, text=f"F{seq:07d}", nonce=f"f.{seq}"))
                for seq in range(self.sent, limit)
            ]
            self.sent = limit
            self.write(b"".join(lines))

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


class Replay:
    """The filler before the run, the laggard during it, and the check of what the laggard got."""

    def __init__(self, loop: asyncio.AbstractEventLoop, spec: DriverSpec, replay: ReplaySpec) -> None:
        self.loop = loop
        self.spec = spec
        self.replay = replay
        self.result = ReplayResult(missed=replay.missed)
        self.laggard: Resumer | None = None
        self.window: tuple[int, int] | None = None
        """When the laggard's replay ran (``time.monotonic_ns()``), once it has."""

    async def fill(self) -> int:
        """Put ``missed`` messages in the room; the id of the last one."""
        replay, spec, result = self.replay, self.spec, self.result
        t0 = time.monotonic()
        _, filler = await self.loop.create_connection(
            lambda: Filler(self.loop, replay.filler_token, replay.missed, replay.window),
            spec.host,
            spec.port,
            local_addr=(source_address(0, 1, network=2), 0),
        )
        try:
            await asyncio.wait_for(filler.synced, 30.0)
            filler.pump()
            await asyncio.wait_for(filler.done, spec.run_timeout)
        finally:
            filler.close()
        result.fill_seconds = round(time.monotonic() - t0, 3)
        result.first_id = filler.first_id
        result.last_fill_id = filler.last_id_seen
        return filler.last_id_seen

    async def catch_up(self, t0: int) -> None:
        """``start_after`` seconds after ``t0``, the laggard resumes from before the filler's messages."""
        replay, spec, result = self.replay, self.spec, self.result
        await asyncio.sleep(replay.start_after)
        _, laggard = await self.loop.create_connection(
            lambda: Resumer(self.loop, replay.laggard_token, result.first_id - 1),
            spec.host,
            spec.port,
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
            self.window = (laggard.resumed_at, laggard.synced_at)
        if laggard.synced_frame is not None:
            result.has_more = laggard.synced_frame.has_more

    def check(self) -> None:
        """The laggard must get every message from the first missed one on, once each, in id order."""
        result, laggard = self.result, self.laggard
        if laggard is None:
            return
        ids = [m[1] for m in laggard.messages]
        result.received = len(ids)
        result.replayed = sum(1 for m in laggard.messages if m[2])
        result.duplicated = len(ids) - len(set(ids))
        result.out_of_order = sum(1 for a, b in zip(ids, ids[1:], strict=False) if b <= a)
        if ids:
            expected = set(range(result.first_id, max(ids) + 1))
            result.gaps = len(expected - set(ids))
        if laggard.lost:
            result.problems.append("the laggard was disconnected")
        if laggard.bad_lines:
            result.problems.append(f"lines the server should not have sent: {laggard.bad_lines}")

    def close(self) -> None:
        if self.laggard is not None:
            self.laggard.close()
