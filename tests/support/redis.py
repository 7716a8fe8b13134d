"""A private Redis server for tests: Debian's ``redis-server`` on a free port of 127.0.0.1, in a
temporary directory, without persistence; stopped at the end, and restartable on the same port
(a test stops Redis mid-traffic and starts it again, as an operator's restart would).

Like :mod:`tests.support.postgres`: a real server, never a fake. Under pytest-xdist each worker
process starts its own (a session fixture is per worker).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.postgres import free_port

INSTALL_HINT = "install Redis (apt-get install -y redis-server) to run them"


def find_binary() -> Path | None:
    """``redis-server``, on PATH or where Debian's package puts it."""
    found = shutil.which("redis-server")
    if found is not None:
        return Path(found)
    debian = Path("/usr/bin/redis-server")
    return debian if debian.exists() else None


class RedisServer:
    def __init__(self, base: Path, binary: Path, options: Sequence[str] = ()) -> None:
        """``options`` are more of redis-server's (``--requirepass``, ``--user``, ``--unixsocket``,
        ``--tls-port`` ...), for a test of signing in or of another way to connect."""
        self.base = base
        self.binary = binary
        self.options = tuple(options)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (the bench reads its CPU time)."""
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start it (again): on a new free port the first time, on the same port after :meth:`stop`."""
        self.base.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        log = open(self.base / "redis.log", "ab")  # noqa: SIM115 - the child writes it; closed below
        self._proc = subprocess.Popen(
            [
                str(self.binary),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.base),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
                *self.options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{self.log}")
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start within {timeout}s:\n{self.log}")

    def ping(self) -> bool:
        """Whether it answers PING (spoken in RESP by hand: the test needs no client for this); one
        that wants a password answers that it does, which is as good."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def flush(self) -> None:
        """Forget every key (FLUSHALL, in RESP by hand): what the previous test's processes left,
        such as presence keys still within their TTL, must not reach the next test."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"*1\r\n$8\r\nFLUSHALL\r\n")
            answer = sock.recv(64)
        if not answer.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL was answered {answer!r}")

    @property
    def log(self) -> str:
        try:
            return (self.base / "redis.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop it (SIGTERM; what it held in memory is gone, as nothing is saved)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None

    def restart(self) -> RedisServer:
        self.stop()
        return self.start()
