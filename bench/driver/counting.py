"""The N clients of a run: they sign in through the protocol object, then only count.

A :class:`CountingClient` speaks through its :class:`~chatapp.protocol.connection.ClientProtocol`
until it is signed in (``auth_ok``; ``welcome`` for the baseline server). From the
next line boundary on it only counts (:mod:`bench.markers`): while the clock runs
it stores each chunk with its arrival time and counts newlines, and its
:class:`Sender`, if it has one, counts its own messages coming back. What it
counts goes to the run's :class:`Tally`; the chunks are decoded after the clock
stops (:mod:`.verify`).
"""

from __future__ import annotations

import asyncio
import socket
import time
from contextlib import suppress
from typing import Literal

from bench.driver.spec import DriverSpec
from bench.link import Link
from bench.markers import PING_MARK, PRESENCE_MARK, Marker
from chatapp.protocol import (
    DEFAULT_ROOM,
    AuthOk,
    Bye,
    Error,
    Message,
    Ping,
    Pong,
    Presence,
    Resume,
    Send,
    ServerFrame,
    Welcome,
    encode,
)
from chatapp.protocol.connection import ServerFrameReceived
from chatapp.protocol.states import State

Phase = Literal["connect", "send", "closing"]

SYNC_PONG_MARK = b'{"type":"pong","ref":"sync"'
"""The answer to the ping every client sends before the clock starts (:meth:`Tally.pongs_seen`)."""
# Text layout: B<sender:05>:<seq:07>:<monotonic_ns:019>: then padding. Fixed widths: cheap to slice.
TEXT_HEAD = 35
FAKE_TS = "2026-01-01T00:00:00.000Z"
_RETRY = frozenset({"server_error", "rate_limited"})
_MAX_RETRIES = 10


def own_mark(sid: int) -> bytes:
    """What only sender ``sid``'s messages contain: the start of its texts."""
    return b'"text":"B%05d:' % sid


class Tally:
    """What the N clients report, and what they need to know: cheap counters the run reads."""

    def __init__(self, spec: DriverSpec, loop: asyncio.AbstractEventLoop) -> None:
        self.spec = spec
        self.loop = loop
        self.phase: Phase = "connect"
        self.last_id: int | None = 0 if spec.target == "chatapp" else None
        """The newest message id seen before signing in: a resume replays only what came after it
        (every run starts on a database without messages, unless it fills one)."""
        self.count_presence = spec.storm is not None or spec.replay is not None or bool(spec.ports)
        """Presence frames can arrive while the clock runs (others signing in, or another process's
        news of a sign-in arriving late): not deliveries."""
        self.per_round = sum(len(spec.senders_for(i)) for i in range(spec.clients)) * spec.messages
        """Deliveries in one round."""
        self.target = self.per_round * (spec.warmup_rounds + spec.rounds)
        self.counted = 0
        self.last_delivery = 0
        self.all_delivered = asyncio.Event()
        self.presence_total = 0
        self.pongs = 0
        self.synced = asyncio.Event()
        self.last_activity = time.monotonic()
        self.signin_retries = 0
        self.disconnected = 0

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

    def client_lost(self) -> None:
        if self.phase != "closing":
            self.disconnected += 1
            if self.phase == "send":
                # A receiver cut off mid-run will never get the rest: stop waiting for it.
                self.all_delivered.set()


class CountingClient(Link):
    """One of the N connections. Decodes frames while signing in, then only counts and stores."""

    def __init__(self, tally: Tally, index: int) -> None:
        super().__init__()
        self.tally = tally
        self.index = index
        self.ready: asyncio.Future[None] = tally.loop.create_future()
        self.signing_in = True
        self.failed = False
        self.presence = Marker(PRESENCE_MARK)
        self.pings = Marker(PING_MARK)
        self.pongs = Marker(SYNC_PONG_MARK)
        self.at_boundary = True
        self.recording = False
        self.skip_first = False
        """Recording started in the middle of a line: the first line recorded is not whole."""
        self.chunks: list[tuple[int, bytes]] = []
        self.sender: Sender | None = None
        self.retries = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.signing_in:
            self._sign_in(data)
            return
        tally = self.tally
        if self.recording:
            now = time.monotonic_ns()
            self.chunks.append((now, data))
            lines = data.count(b"\n")
            if tally.count_presence:
                lines -= self.presence.feed(data)
            sender = self.sender
            if sender is not None:
                sender.acked(sender.own.feed(data))
            tally.delivered(lines, now)
        else:
            n = self.presence.feed(data)
            if n:
                tally.presence_seen(n)
            self.answer_pings(self.pings.feed(data))
            pongs = self.pongs.feed(data)
            if pongs:
                tally.pongs_seen(pongs)
            tally.last_activity = time.monotonic()
        self.at_boundary = data[-1] == 10

    def link_lost(self) -> None:
        if not self.ready.done():
            lost = ConnectionError(f"client {self.index}: connection lost while signing in")
            self.ready.set_exception(lost)
        self.tally.client_lost()

    def start_recording(self) -> None:
        self.skip_first = not self.at_boundary
        self.recording = True

    # -- signing in ---------------------------------------------------------------------

    def _sign_in(self, data: bytes) -> None:
        self.tally.last_activity = time.monotonic()
        # The protocol object gets the whole lines; the start of a line this chunk cuts off goes to
        # it too while signing in, but to the counting path if this chunk signed the client in: the
        # hand-over happens at a line boundary, so neither side ever sees half a line.
        cut = data.rfind(b"\n") + 1
        for event in self.protocol.receive_data(data[:cut]):
            if not isinstance(event, ServerFrameReceived):
                self._fail(f"a line the server should not have sent while signing in: {event.error.message}")
            else:
                self._frame(event.frame)
            if self.failed:
                return
        rest = data[cut:]
        if self.signing_in:
            self.protocol.receive_data(rest)
        elif rest:
            n = self.presence.feed(rest)
            if n:
                self.tally.presence_seen(n)
            self.at_boundary = False

    def _frame(self, frame: ServerFrame) -> None:
        if isinstance(frame, Presence):
            self.tally.presence_seen(1)
        elif isinstance(frame, Ping):
            self.send(Pong(ref=frame.ref))
        elif not self.signing_in:
            return  # the rest of the chunk that signed the client in: nothing else to do
        elif isinstance(frame, Welcome):
            if self.tally.spec.target == "baseline":
                self._signed_in()
            else:
                self._resume()
        elif isinstance(frame, AuthOk):
            self._signed_in()
        elif isinstance(frame, Error) and frame.code in _RETRY and self.retries < _MAX_RETRIES:
            # What a real client does with "try again": wait a little, then try again.
            self.retries += 1
            self.tally.signin_retries += 1
            delay = frame.retry_after or 0.05 * self.retries
            self.tally.loop.call_later(delay, self._resume)
        elif isinstance(frame, Error | Bye):
            self._fail(f"sign-in refused: {frame}")

    def _resume(self) -> None:
        if self.protocol.state is State.GREETED:
            token = self.tally.spec.tokens[self.index]
            self.send(Resume(token=token, last_id=self.tally.last_id, ref=1))

    def _signed_in(self) -> None:
        self.signing_in = False
        if not self.ready.done():
            self.ready.set_result(None)

    def _fail(self, why: str) -> None:
        self.failed = True
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"client {self.index}: {why}"))
        if self.transport is not None:
            self.transport.abort()


class Sender:
    """Makes one client send M messages per round, closed loop (window) or open loop (rate)."""

    def __init__(self, tally: Tally, client: CountingClient, sid: int) -> None:
        self.tally = tally
        self.client = client
        self.sid = sid
        self.spec = tally.spec
        self.sent = 0
        self.end = 0
        self.acks = 0
        self.own = Marker(own_mark(sid))
        self.padding = "x" * max(0, self.spec.text_size - TEXT_HEAD)
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
            return self.client.protocol.send(Send(room=DEFAULT_ROOM, text=text, nonce=nonce))
        # The baseline relays lines verbatim: send what chatapp would deliver, so sizes match.
        return encode(
            Message(id=seq, room=DEFAULT_ROOM, sender=self.username, text=text, ts=FAKE_TS, nonce=nonce)
        )

    def start_round(self, index: int) -> None:
        self._first = self.sent = index * self.spec.messages
        self.end = self.sent + self.spec.messages
        if self.spec.rate:
            self._t0 = self.tally.loop.time() + self._phase_offset()
            self._handle = self.tally.loop.call_at(self._t0, self._tick)
        else:
            self._pump()

    def _phase_offset(self) -> float:
        # Spread open-loop senders evenly over one period so they do not all fire together.
        assert self.spec.rate
        return (self.sid / max(1, self.spec.senders)) / self.spec.rate

    def _pump(self) -> None:
        limit = min(self.end, self.acks + self.spec.window)
        if self.sent >= limit:
            return
        lines = [self.line(seq) for seq in range(self.sent, limit)]
        self.sent = limit
        self.client.write(b"".join(lines))

    def acked(self, n: int) -> None:
        if n:
            self.acks += n
            if not self.spec.rate:
                self._pump()

    def _tick(self) -> None:
        rate = self.spec.rate
        assert rate
        loop = self.tally.loop
        now = loop.time()
        due = min(self.end, self._first + int((now - self._t0) * rate) + 1)
        if due > self.sent:
            self.lateness = max(self.lateness, now - (self._t0 + (self.sent - self._first) / rate))
            self.client.write(b"".join(self.line(seq) for seq in range(self.sent, due)))
            self.sent = due
        if self.sent < self.end:
            self._handle = loop.call_at(self._t0 + (self.sent - self._first) / rate, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
