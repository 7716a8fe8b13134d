"""One run of the load driver, phase by phase: connect the N clients, send, and what runs beside."""

from __future__ import annotations

import asyncio
import functools
import math
import resource
import ssl
import time

from bench import procstat
from bench.driver.counting import CountingClient, Sender, Tally
from bench.driver.decoding import DecodingClient
from bench.driver.replay import Replay
from bench.driver.results import DriverResult
from bench.driver.spec import DriverSpec
from bench.driver.storm import storm
from bench.driver.verify import verify
from bench.link import source_address
from chatapp.protocol import Ping

_QUIET = 1.0
_SETTLE_QUIET = 0.2


def _cpu_self() -> float:
    return time.process_time()  # to the nanosecond (os.times counts 10 ms ticks)


def _sys_self() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


class Run:
    def __init__(self, spec: DriverSpec, loop: asyncio.AbstractEventLoop) -> None:
        self.spec = spec
        self.loop = loop
        self.tally = Tally(spec, loop)
        self.clients: list[CountingClient] = []
        self.senders: list[Sender] = []
        self.replay = Replay(loop, spec, spec.replay) if spec.replay is not None else None
        self.storm_window: tuple[int, int] | None = None
        # Each sign-in is told to every member of its room online then (itself included).
        joins = sum(n * (n + 1) // 2 for n in spec.group_sizes())
        self.presence_expected = joins if spec.target == "chatapp" else 0
        self.ready_at: list[float] = []
        self.complete = True
        """Every client signed in; the send phase runs only then."""
        self.result = DriverResult(
            spec_target=spec.target,
            loop=type(loop).__module__.split(".")[0],
            clients=spec.clients,
            senders=spec.senders,
            messages=spec.messages,
            rounds=spec.rounds,
            warmup_rounds=spec.warmup_rounds,
            expected=self.tally.per_round * spec.rounds,
        )

    def _server(self) -> procstat.ProcSample | None:
        """The server's CPU and memory: every server process's, added up."""
        return server_usage(self.spec)

    def _watched(self) -> dict[str, float]:
        found = {name: procstat.tree_cpu(pid) for name, pid in self.spec.watched_pids.items()}
        return {name: cpu for name, cpu in found.items() if cpu is not None}

    # -- phases --------------------------------------------------------------------------

    async def fill(self) -> None:
        """Put the replay's missed messages in the room before anyone else signs in."""
        assert self.replay is not None
        self.result.replay = self.replay.result
        self.tally.last_id = await self.replay.fill()

    async def _connect_one(self, index: int, gate: asyncio.Semaphore) -> None:
        spec = self.spec
        client_class = DecodingClient if spec.decode_live else CountingClient
        async with gate:
            _, client = await self.loop.create_connection(
                lambda: client_class(self.tally, index),
                spec.host,
                spec.ports[index % len(spec.ports)] if spec.ports else spec.port,
                local_addr=(source_address(index, spec.per_address), 0),
                ssl=_unverified_tls() if spec.tls else None,
            )
            self.clients[index] = client
            await client.ready
            self.ready_at.append(time.monotonic())

    async def connect(self) -> None:
        spec = self.spec
        result = self.result
        tally = self.tally
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
            idle = time.monotonic() - tally.last_activity
            if tally.presence_total >= self.presence_expected and idle >= _SETTLE_QUIET:
                break
            if idle > _QUIET:
                result.problems.append(
                    f"presence settled by silence: {tally.presence_total} of {self.presence_expected} "
                    "received"
                )
                break
            if time.monotonic() - t0 > spec.connect_timeout + spec.settle_timeout:
                result.problems.append(
                    f"presence did not settle: {tally.presence_total} of {self.presence_expected} received"
                )
                break
            await asyncio.sleep(0.02)
        # The time it took, without the quiet period that proved it.
        settled = max(tally.last_activity, t0 + (result.connect_seconds or 0.0))
        result.settle_seconds = round(settled - t0, 4) if self.complete else None
        result.presence_received = tally.presence_total
        result.driver_cpu_connect = round(_cpu_self() - cpu0, 3)
        after = self._server()
        if before is not None and after is not None:
            result.server.cpu_connect = round(after.cpu - before.cpu, 3)
            result.server.rss_before = before.rss
            result.server.rss_ready = after.rss

    async def send(self) -> None:
        spec = self.spec
        result = self.result
        tally = self.tally
        if spec.hold:
            await asyncio.sleep(spec.hold)
        if not spec.senders or not spec.messages:
            return
        if spec.target == "chatapp":
            await self._sync()
        for client in self.clients:
            client.start_recording()
        self.senders = [Sender(tally, self.clients[sid], sid) for sid in range(spec.senders)]
        tally.phase = "send"
        for index in range(spec.warmup_rounds):
            if await self._round(index) is None:
                for sender in self.senders:
                    sender.stop()
                return
        warmed_up = tally.counted
        storm_task = None
        server0 = self._server()
        watched0 = self._watched()
        cpu0 = _cpu_self()
        sys0 = _sys_self()
        busy = 0
        first = time.monotonic_ns()
        if spec.storm is not None:
            storm_task = asyncio.ensure_future(storm(self.loop, spec, spec.storm, first))
        replay_task = None
        if self.replay is not None and self.result.replay is not None:
            replay_task = asyncio.ensure_future(self.replay.catch_up(first))
        for index in range(spec.warmup_rounds, spec.warmup_rounds + spec.rounds):
            took = await self._round(index)
            if took is None:
                break
            busy += took
            result.round_rates.append(round(tally.per_round / max(took, 1) * 1e9, 1))
        cpu1 = _cpu_self()
        server1 = self._server()
        watched1 = self._watched()
        result.watched_cpu_send = {
            name: round(watched1[name] - before, 3) for name, before in watched0.items() if name in watched1
        }
        for sender in self.senders:
            sender.stop()
        result.counted = tally.counted - warmed_up
        result.send_seconds = round(busy / 1e9, 4)
        if busy:
            result.deliveries_per_s = round(result.counted / (busy / 1e9), 1)
            result.driver_cpu_share = round((cpu1 - cpu0) / (busy / 1e9), 3)
        result.driver_cpu_send = round(cpu1 - cpu0, 3)
        result.driver_sys_send = round(_sys_self() - sys0, 3)
        if spec.rate:
            result.max_send_lateness_ms = round(max(s.lateness for s in self.senders) * 1e3, 3)
        if server0 is not None and server1 is not None:
            result.server.cpu_send = round(server1.cpu - server0.cpu, 3)
        if storm_task is not None:
            result.storm, self.storm_window = await storm_task
        if replay_task is not None and self.replay is not None:
            await replay_task
            self.replay.check()

    async def _round(self, index: int) -> int | None:
        """Send round ``index``: nanoseconds from its first send to its last delivery, or None
        if it did not complete (a problem noted)."""
        tally = self.tally
        result = self.result
        tally.target = tally.per_round * (index + 1)
        tally.all_delivered.clear()
        t0 = time.monotonic_ns()
        for sender in self.senders:
            sender.start_round(index)
        try:
            await asyncio.wait_for(tally.all_delivered.wait(), self.spec.run_timeout)
        except TimeoutError:
            result.timed_out = True
        t1 = tally.last_delivery if tally.last_delivery > t0 else time.monotonic_ns()
        if result.timed_out or tally.counted < tally.target:
            result.problems.append(
                f"round {index}: {tally.counted} of {tally.target} deliveries counted"
                + (" (timed out)" if result.timed_out else " (a client was cut off)")
            )
            return None
        return t1 - t0

    async def _sync(self) -> None:
        """Every client pings and waits for its pong before the clock starts.

        A barrier (the server has handled everything sent so far, and all of it has arrived), and a
        sign of life: receivers send nothing while they measure, and the server pings a client
        silent for 45 s. Not for the baseline, which would broadcast the pings to everyone.
        """
        for client in self.clients:
            client.send(Ping(ref="sync"))
        try:
            await asyncio.wait_for(self.tally.synced.wait(), 30.0)
        except TimeoutError:
            self.result.problems.append(
                f"only {self.tally.pongs} of {self.spec.clients} pongs before sending"
            )

    def close(self) -> None:
        self.tally.phase = "closing"
        if self.replay is not None:
            self.replay.close()
        for client in self.clients:
            if client is not None:
                client.close()

    def verify(self) -> None:
        """Decode and check what every client recorded (after the clock stopped)."""
        replay_window = self.replay.window if self.replay is not None else None
        verify(self.spec, self.clients, self.result, self.storm_window, replay_window)


async def drive(spec: DriverSpec) -> DriverResult:
    loop = asyncio.get_running_loop()
    run = Run(spec, loop)
    result = run.result
    try:
        if spec.replay is not None:
            await run.fill()
        await run.connect()
        if run.complete:
            await run.send()
        if spec.server_pid:
            end = server_usage(spec)
            if end is not None:
                result.server.rss_end = end.rss
                result.server.peak_rss = end.hwm
    except Exception as exc:  # reported, not raised: the orchestrator decides
        result.problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        result.disconnected = run.tally.disconnected
        result.signin_retries = run.tally.signin_retries
        run.close()
    if spec.verify and spec.senders and spec.messages and run.complete and run.clients:
        run.verify()
    await asyncio.sleep(0.05)  # let the closes go out
    return result


def server_usage(spec: DriverSpec) -> procstat.ProcSample | None:
    """CPU and memory of the server processes, added up (peak RSS: the sum of each one's peak)."""
    pids = [spec.server_pid, *spec.server_pids] if spec.server_pid else []
    samples = [s for s in map(procstat.sample, pids) if s is not None]
    if not samples:
        return None
    return procstat.ProcSample(
        cpu=sum(s.cpu for s in samples), rss=sum(s.rss for s in samples), hwm=sum(s.hwm for s in samples)
    )


@functools.cache
def _unverified_tls() -> ssl.SSLContext:
    """A client context that takes whatever certificate the server shows: the bench measures what TLS
    costs, not whom it trusts (the tests do that). One for every connection: making one per
    connection (loading no CA file, even) would be the driver's cost, not the server's."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
