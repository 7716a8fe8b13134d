"""Run a real ``chatapp-server`` as a subprocess for end-to-end tests.

The server is started with ``--port 0``; the port it bound is read from its
``listening`` log line on stderr. Its whole stderr is kept, so a test can
assert on the activity log (and that no secret ever appears in it).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.support.databases import ScratchDatabase, run_sql

LISTENING = re.compile(rb"event=listening .*?host=(\S+) port=(\d+)")
TLS_LISTENING = re.compile(rb"event=listening .*?port=(\d+) tls=on")
WEB_URL = re.compile(rb"event=web url=(http://\S+?:(\d+)/)")

# Settings that keep tests fast: cheap argon2, short timeouts. Tests override per case.
FAST_ARGS: tuple[str, ...] = (
    "--argon2-memory-kib",
    "8",
    "--argon2-time-cost",
    "1",
    "--log-level",
    "debug",
    "--shutdown-timeout",
    "3",
    "--min-password-score",  # test passwords are short; the default (3) is tested on its own
    "0",
)


class ServerProcess:
    """A chatapp server subprocess bound to 127.0.0.1 on an ephemeral port."""

    def __init__(
        self,
        database: Path | ScratchDatabase,
        *args: str,
        env: dict[str, str] | None = None,
        fd_limit: int | None = None,
    ) -> None:
        """``database``: an SQLite file, or a test's database on either backend (its ``url`` is
        used). ``fd_limit``: start the server with this many file descriptors at most (soft and hard)."""
        self.database = database
        self._own_directory: Path | None = None
        self.control_socket = self._control_socket(args)
        """Where the server's control socket is (chatapp-admin's), None if it has none."""
        self.args = args
        self.env = env
        self.fd_limit = fd_limit
        self.host = "127.0.0.1"
        self.port = 0
        self.tls_port: int | None = None
        self.web_port: int | None = None
        """The plain web port (--web-port), once started with one; a restart keeps it."""
        self.web_url: str | None = None
        """The URL the server logs for it (``http://127.0.0.1:PORT/``)."""
        """The TLS listener's port, once started with TLS (its listening line comes after the plain one)."""
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = bytearray()
        self._log_lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def _control_socket(self, args: tuple[str, ...]) -> Path | None:
        """The control socket the server will make: as given, or its default beside an SQLite file;
        on PostgreSQL a directory of the test's own, not the user's data directory (the default,
        which every server on the machine would share)."""
        if "--control-socket" in args:
            given = args[args.index("--control-socket") + 1]
            return None if given == "none" else Path(given)
        sqlite = self.database if isinstance(self.database, Path) else self.database.path
        if sqlite is not None:
            return sqlite.parent / "control.sock"
        self._own_directory = Path(tempfile.mkdtemp(prefix="chatapp-control-"))
        return self._own_directory / "control.sock"

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on the server's database, whichever backend (see ScratchDatabase.rows)."""
        return run_sql(self.url, sql, params, fetch=True)  # type: ignore[no-any-return]

    @property
    def url(self) -> str:
        if isinstance(self.database, ScratchDatabase):
            return self.database.url
        return f"sqlite+aiosqlite:///{self.database}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start the server (again, after a stop) and wait until it listens."""
        port_args = ("--port", str(self.port)) if self.port else ("--port", "0")
        env = {**os.environ, **(self.env or {})}
        env.pop("CHATAPP_DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chatapp.server",
                "--host",
                self.host,
                *port_args,
                "--database-url",
                self.url,
                *FAST_ARGS,
                *self._control_args(),
                *self._args(),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            preexec_fn=self._limit_descriptors if self.fd_limit is not None else None,
        )
        started = len(self._log)
        self._reader = threading.Thread(target=self._pump, args=(self.proc,), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._log_lock:
                match = LISTENING.search(bytes(self._log[started:]))
            if match:
                self.host = match.group(1).decode()
                self.port = int(match.group(2))
                self._wait_for_tls_port(started, deadline)
                self._wait_for_web_port(started, deadline)
                return self
            if self.proc.poll() is not None:
                time.sleep(0.1)
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log}")
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"server did not start within {timeout}s:\n{self.log}")

    def _wait_for_tls_port(self, started: int, deadline: float) -> None:
        if "--tls" not in self.args and "--tls-cert" not in self.args:
            return
        while time.monotonic() < deadline:
            with self._log_lock:
                match = TLS_LISTENING.search(bytes(self._log[started:]))
            if match:
                self.tls_port = int(match.group(1))
                return
            time.sleep(0.02)
        raise RuntimeError(f"the TLS listener did not start:\n{self.log}")

    def _args(self) -> tuple[str, ...]:
        """The test's arguments; a ``--web-port 0`` becomes the port bound at the first start, so
        that a restarted server is found at the same URL."""
        args = list(self.args)
        if self.web_port is not None and "--web-port" in args:
            args[args.index("--web-port") + 1] = str(self.web_port)
        return tuple(args)

    def _wait_for_web_port(self, started: int, deadline: float) -> None:
        if "--web-port" not in self.args:
            return
        while time.monotonic() < deadline:
            with self._log_lock:
                match = WEB_URL.search(bytes(self._log[started:]))
            if match:
                self.web_url = match.group(1).decode()
                self.web_port = int(match.group(2))
                return
            time.sleep(0.02)
        raise RuntimeError(f"the web listener did not start:\n{self.log}")

    def start_expecting_failure(self, timeout: float = 60.0) -> int:
        """Start the server expecting it to fail before it listens; its exit code (the log is kept)."""
        try:
            self.start(timeout)
        except RuntimeError:
            assert self.proc is not None and self.proc.poll() is not None, self.log
            if self._reader is not None:
                self._reader.join(timeout)
            return self.proc.returncode
        raise AssertionError(f"the server started:\n{self.log}")

    def _control_args(self) -> tuple[str, ...]:
        if self._own_directory is None:
            return ()
        return ("--control-socket", str(self.control_socket))

    def _limit_descriptors(self) -> None:
        assert self.fd_limit is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.fd_limit, self.fd_limit))

    def _pump(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self._log_lock:
                self._log += line

    @property
    def log(self) -> str:
        with self._log_lock:
            return self._log.decode("utf-8", "replace")

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait until a log line matches ``pattern`` (a regex); return the match."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log)
            if match:
                return match
            time.sleep(0.02)
        raise AssertionError(f"no log line matched {pattern!r} within {timeout}s:\n{self.log}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Signal the server and wait for it to exit; return its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # Its log says how far its shutdown got.
            message = f"the server did not exit {timeout}s after signal {sig}:\n{self.log}"
            raise AssertionError(message) from None
        if self._reader is not None:
            self._reader.join(timeout)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        if self._own_directory is not None:
            shutil.rmtree(self._own_directory, ignore_errors=True)
