"""Chat latency while a 20 MiB file is being shared: ``python -m bench.file_latency`` (``make bench`` runs
it; ``python -m bench.run --only files`` runs it alone).

One chatapp server (a subprocess, on a fresh SQLite file). Alice sends small messages to ``#general``
at a steady pace (20 a second) and Bob, another client, receives them; the latency of each is the time
from Alice's write to Bob's read (both in this process, one clock). Three phases of the same pace:

- *idle*: no transfer;
- *upload*: Carol, a real ``chatapp-client`` process in line mode, runs ``/upload`` of a 20 MiB file
  to ``#general`` (the same room) over her connection;
- *download*: Dave, another ``chatapp-client`` process, runs ``/download`` of that file.

Carol's and Dave's clients are started and signed in before the first phase and told what to do on
their standard input, so a phase's window holds the transfer alone (no process starting, no password
hashed); a new file is written before the window opens.

Only the messages sent while the transfer's process is running count for its phase (the phase is
repeated with a new file until it has enough of them). The target (docs/performance.md): each
transfer phase's p99 within 2× of the idle phase's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench import servers
from bench.raw_client import RawClient
from chatapp.protocol import Send, encode

PASSWORD = "a long bench password for every user"
FILE_BYTES = 20 * 1024 * 1024
PACE = 20.0
"""Messages a second from Alice."""
SAMPLES = 200
"""Messages measured per phase (a transfer phase repeats its transfer until it has this many)."""
MAX_TRANSFERS = 6
"""Transfers a phase runs at most to get its samples."""
TARGET_RATIO = 2.0
FILE_LINE = re.compile(r"/download ([A-Za-z0-9_-]{16,32})")


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    samples: int
    p50_ms: float
    p99_ms: float
    transfers: int
    """Transfers run to get the samples (0 for idle)."""
    transfer_seconds: float
    """Wall time of the transfers, in all."""


@dataclass(frozen=True, slots=True)
class FileLatency:
    file_bytes: int
    pace: float
    idle: Phase
    upload: Phase
    download: Phase

    @property
    def worst_ratio(self) -> float:
        return max(self.upload.p99_ms, self.download.p99_ms) / self.idle.p99_ms


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class _Chat:
    """Alice writing to Bob at a steady pace; latencies of the messages sent while ``counting``."""

    def __init__(self, alice: RawClient, bob: RawClient) -> None:
        self.alice, self.bob = alice, bob
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []
        self.counting: set[str] = set()
        self._seq = 0

    async def receive(self) -> None:
        marker = re.compile(rb'"text":"(m\d+)"')
        while True:
            line = await self.bob.line()
            found = marker.search(line)
            if found is None:
                continue
            text = found.group(1).decode()
            began = self.sent.pop(text, None)
            if began is not None and text in self.counting:
                self.latencies.append(time.perf_counter() - began)
                self.counting.discard(text)

    async def drain_alice(self) -> None:
        while True:
            await self.alice.line()

    async def send_while(self, running: asyncio.Future[None] | None, wanted: int) -> int:
        """Send at the pace until ``running`` is done (or, without one, ``wanted`` messages); counted."""
        counted = 0
        while (running is None and counted < wanted) or (running is not None and not running.done()):
            self._seq += 1
            text = f"m{self._seq}"
            self.counting.add(text)
            self.sent[text] = time.perf_counter()
            self.alice.writer.write(encode(Send(room="general", text=text)))
            counted += 1
            await asyncio.sleep(1 / PACE)
        await asyncio.sleep(0.5)  # the last ones arrive
        return counted


def _client_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAPP_")}
    env.update(XDG_DATA_HOME=str(home / "data"), XDG_STATE_HOME=str(home / "state"), PYTHONUNBUFFERED="1")
    return env


async def _client(port: int, user: str, home: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        # --takeover: the account was just registered on a connection the server may not have seen close.
        sys.executable, "-m", "chatapp.client", "--port", str(port), "--user", user, "--password-stdin",
        "--takeover",
        "--download-dir", str(home / "downloads"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env=_client_env(home),
    )


class _Client:
    """Carol's or Dave's ``chatapp-client``, running (signed in) from the start, so that a phase's window
    holds the transfer alone, not a process starting or a password hashed: told what to do on stdin."""

    def __init__(self, process: asyncio.subprocess.Process, home: Path, file_bytes: int) -> None:
        self.process = process
        self.home = home
        self.file_bytes = file_bytes
        self.ids: asyncio.Queue[str] = asyncio.Queue()
        self.outcomes: asyncio.Queue[str] = asyncio.Queue()
        self.lines: list[str] = []
        self.known: list[str] = []
        self.transfers = 0
        self.next_file: Path | None = None

    async def read(self) -> None:
        assert self.process.stdout is not None
        while line := (await self.process.stdout.readline()).decode():
            self.lines.append(line)
            found = FILE_LINE.search(line)
            if found:
                self.ids.put_nowait(found.group(1))
            elif any(word in line for word in ("Saved ", "Uploaded ", "Not saved", "Not uploaded",
                                                 "Not downloaded")):
                self.outcomes.put_nowait(line.strip())

    async def _do(self, command: str, done: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{command}\n".encode())
        outcome = await asyncio.wait_for(self.outcomes.get(), 300)
        if done not in outcome:
            raise RuntimeError(f"{command}: {outcome}")

    async def prepare_upload(self) -> None:
        """A new file of random bytes to upload (made before the phase's window opens)."""
        self.next_file = self.home / f"shared-{self.transfers}.bin"
        await asyncio.to_thread(self.next_file.write_bytes, os.urandom(self.file_bytes))

    async def upload(self) -> None:
        assert self.next_file is not None
        path, self.next_file = self.next_file, None
        self.transfers += 1
        await self._do(f"/upload {path} bench file", "Uploaded ")
        path.unlink()

    async def prepare_download(self) -> None:
        if not self.known:
            try:
                self.known.append(await asyncio.wait_for(self.ids.get(), 60))
            except TimeoutError:
                raise RuntimeError("the downloading client saw no file shared:\n" + "".join(self.lines)) \
                    from None
        while not self.ids.empty():
            self.known.append(self.ids.get_nowait())

    async def download(self) -> None:
        file_id = self.known[self.transfers % len(self.known)]  # again if the phase needs more samples
        self.transfers += 1
        await self._do(f"/download {file_id}", "Saved ")

    async def finish(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await self.process.wait()


async def _phase(chat: _Chat, name: str, start: Callable[[], Awaitable[None]] | None, samples: int,
                 prepare: Callable[[], Awaitable[None]] | None = None) -> Phase:
    chat.latencies = []
    transfers, seconds = 0, 0.0
    if start is None:
        await chat.send_while(None, samples)
    while start is not None and len(chat.latencies) < samples and transfers < MAX_TRANSFERS:
        if prepare is not None:
            await prepare()
        began = time.perf_counter()
        running = asyncio.ensure_future(start())
        await chat.send_while(running, 0)
        await running
        seconds += time.perf_counter() - began
        transfers += 1
    values = [v * 1000 for v in chat.latencies]
    return Phase(name, len(values), round(statistics.median(values), 2), round(percentile(values, 0.99), 2),
                 transfers, round(seconds, 2))


async def _run(port: int, workdir: Path, file_bytes: int, samples: int) -> FileLatency:
    alice = await RawClient.signed_in(port, "alice", PASSWORD)
    bob = await RawClient.signed_in(port, "bob", PASSWORD)
    for user in ("carol", "dave"):  # accounts for the client processes
        (await RawClient.signed_in(port, user, PASSWORD)).writer.close()
    chat = _Chat(alice, bob)
    carol = _Client(await _client(port, "carol", workdir), workdir, file_bytes)
    dave = _Client(await _client(port, "dave", workdir), workdir, file_bytes)
    for client in (carol, dave):
        assert client.process.stdin is not None
        client.process.stdin.write(f"{PASSWORD}\n".encode())
    tasks = [asyncio.create_task(chat.receive()), asyncio.create_task(chat.drain_alice()),
             asyncio.create_task(carol.read()), asyncio.create_task(dave.read())]
    try:
        await asyncio.sleep(3)  # both clients are signed in
        idle = await _phase(chat, "idle", None, samples)
        upload = await _phase(chat, "upload", carol.upload, samples, carol.prepare_upload)
        download = await _phase(chat, "download", dave.download, samples, dave.prepare_download)
    finally:
        for task in tasks:
            task.cancel()
        for wire in (alice, bob):
            wire.writer.close()
        for client in (carol, dave):
            await client.finish()
    return FileLatency(file_bytes, PACE, idle, upload, download)


def measure(workdir: Path | None = None, file_bytes: int = FILE_BYTES, samples: int = SAMPLES) -> FileLatency:
    """Start a server on a fresh database, measure, stop it."""
    with tempfile.TemporaryDirectory(prefix="chatapp-file-latency-") as scratch:
        where = workdir or Path(scratch)
        where.mkdir(parents=True, exist_ok=True)
        url = f"sqlite+aiosqlite:///{where / 'file-latency.db'}"
        server = servers.chatapp_server(url, where / "file-latency-server.log", ("--min-password-score", "0"))
        server.start()
        try:
            return asyncio.run(_run(server.port, where, file_bytes, samples))
        finally:
            server.stop()


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None).parse_args()
    result = measure()
    for phase in (result.idle, result.upload, result.download):
        print(f"{phase.name:>8}: p50 {phase.p50_ms:.2f} ms, p99 {phase.p99_ms:.2f} ms ({phase.samples} "
              f"messages, {phase.transfers} transfers in {phase.transfer_seconds:.1f} s)")
    verdict = "met" if result.worst_ratio <= TARGET_RATIO else "missed"
    print(f"worst p99 during a transfer / idle p99: {result.worst_ratio:.2f} "
          f"(target {TARGET_RATIO:.0f}x: {verdict})")


if __name__ == "__main__":
    main()
