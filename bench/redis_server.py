"""Redis for the benchmark's scaling section: a private ``redis-server`` on a free port of 127.0.0.1.

The tests' support module starts it (:class:`tests.support.redis.RedisServer`: no persistence,
loopback only), as :mod:`bench.postgres` uses the tests' PostgreSQL; this module adds what the
bench reads of it: its CPU time (from ``/proc``) and the bytes it took in and sent out (``INFO
stats``), and empties it between runs.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from tests.support.redis import INSTALL_HINT, RedisServer, find_binary

from bench import procstat


def unavailable() -> str | None:
    """Why Redis cannot be measured here; None if it can."""
    if find_binary() is None:
        return f"redis-server is not installed ({INSTALL_HINT})"
    if importlib.util.find_spec("redis") is None:
        return "the Redis client is not installed (pip install -e '.[redis]')"
    return None


@dataclass(frozen=True, slots=True)
class Traffic:
    """Bytes Redis has taken in from and sent out to its clients so far."""

    received: int
    sent: int


class BenchRedis:
    def __init__(self, workdir: Path) -> None:
        binary = find_binary()
        assert binary is not None
        self.server = RedisServer(workdir / "redis", binary).start()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def pid(self) -> int | None:
        return self.server.pid

    def cpu_seconds(self) -> float | None:
        pid = self.server.pid
        return procstat.tree_cpu(pid) if pid is not None else None

    def traffic(self) -> Traffic:
        import redis  # the bench's Redis extra; unavailable() says when it is missing

        client = redis.Redis.from_url(self.url)
        try:
            stats = client.info("stats")
        finally:
            client.close()
        return Traffic(int(stats["total_net_input_bytes"]), int(stats["total_net_output_bytes"]))

    def flush(self) -> None:
        """Forget every key: a run's presence and heartbeats must not reach the next run."""
        self.server.flush()

    def stop(self) -> None:
        self.server.stop()
