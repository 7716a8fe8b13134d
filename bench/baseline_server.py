"""The limit: a bare asyncio line-broadcast server to measure chatapp against.

Every line a client sends goes, byte for byte, to every connected client (the
sender included): no accounts, no database, no decoding, no rate limits. It
speaks the same NDJSON framing as chatapp (one ``\\n``-terminated line per
frame, a ``welcome`` line on accept) and, like chatapp, cuts off a client whose
unsent output passes a bound instead of ever waiting for it. It runs on uvloop
when installed, with plain ``asyncio.Protocol`` callbacks (no streams), so it is
about as fast as a Python broadcast server gets. Two modes:

- ``naive``: one ``transport.write`` per line per recipient;
- ``coalesced``: each recipient's lines of one event-loop turn go out in one
  ``transport.write`` (what chatapp's outbox does).

Run ``python -m bench.baseline_server --mode coalesced --port 0``; it logs
``event=listening host=... port=...`` on stderr and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
from collections.abc import Callable
from contextlib import suppress

WELCOME = b'{"type":"welcome","server":"baseline","version":1,"max_frame":65536,"max_text":4000}\n'
MAX_LINE = 64 * 1024
SEND_QUEUE_LIMIT = 1024 * 1024


class Broadcaster:
    """Who is connected, and the two ways of sending a line to all of them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, mode: str, limit: int) -> None:
        self.loop = loop
        self.limit = limit
        self.peers: dict[Peer, None] = {}
        self.snapshot: tuple[Peer, ...] = ()
        self.dirty: list[Peer] = []
        self.scheduled = False
        self.dropped = 0
        self.broadcast: Callable[[bytes], None] = (
            self.broadcast_naive if mode == "naive" else self.broadcast_coalesced
        )

    def add(self, peer: Peer) -> None:
        self.peers[peer] = None
        self.snapshot = tuple(self.peers)

    def remove(self, peer: Peer) -> None:
        if self.peers.pop(peer, 0) is None:
            self.snapshot = tuple(self.peers)

    def drop(self, peer: Peer) -> None:
        self.dropped += 1
        peer.open = False
        peer.queue.clear()
        peer.transport.abort()
        self.remove(peer)

    def broadcast_naive(self, line: bytes) -> None:
        limit = self.limit
        for peer in self.snapshot:
            if peer.open:
                transport = peer.transport
                transport.write(line)
                if transport.get_write_buffer_size() > limit:
                    self.drop(peer)

    def broadcast_coalesced(self, line: bytes) -> None:
        dirty = self.dirty
        for peer in self.snapshot:
            queue = peer.queue
            if not queue:
                dirty.append(peer)
            queue.append(line)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
        dirty, self.dirty = self.dirty, []
        limit = self.limit
        for peer in dirty:
            queue = peer.queue
            if not peer.open or not queue:
                continue
            transport = peer.transport
            transport.write(queue[0] if len(queue) == 1 else b"".join(queue))
            queue.clear()
            if transport.get_write_buffer_size() > limit:
                self.drop(peer)


class Peer(asyncio.Protocol):
    def __init__(self, hub: Broadcaster) -> None:
        self.hub = hub
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.queue: list[bytes] = []
        self.partial = b""
        self.open = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport) or hasattr(transport, "write")
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.write(WELCOME)
        self.hub.add(self)

    def data_received(self, data: bytes) -> None:
        if self.partial:
            data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        if len(self.partial) > MAX_LINE:
            self.hub.drop(self)
            return
        broadcast = self.hub.broadcast
        for line in lines:
            if line and self.open:
                broadcast(line + b"\n")

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self.hub.remove(self)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def serve(host: str, port: int, mode: str, limit: int) -> None:
    loop = asyncio.get_running_loop()
    hub = Broadcaster(loop, mode, limit)
    server = await loop.create_server(lambda: Peer(hub), host, port, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    for sock in server.sockets:
        bound_host, bound_port = sock.getsockname()[:2]
        print(
            f"event=listening host={bound_host} port={bound_port} mode={mode} "
            f"loop={type(loop).__module__.split('.')[0]}",
            file=sys.stderr,
            flush=True,
        )
    await stop.wait()
    server.close()
    for peer in list(hub.peers):
        peer.transport.abort()
    print(f"event=stopped dropped={hub.dropped}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.baseline_server", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", choices=("naive", "coalesced"), default="coalesced")
    parser.add_argument(
        "--send-queue-limit", type=int, default=SEND_QUEUE_LIMIT, help="unsent bytes that cut a client off"
    )
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=_new_loop) as runner:
        runner.run(serve(args.host, args.port, args.mode, args.send_queue_limit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
