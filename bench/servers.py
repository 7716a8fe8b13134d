"""Server subprocesses for a run: chatapp (optionally under py-spy) and the baseline.

Each server is started with ``--port 0``; its port is read from the
``event=listening ... host=... port=...`` line it logs on stderr, which goes to
a file (the chatapp activity log is one line per connection, too much for a
pipe nobody reads). A server is stopped with SIGTERM and killed if it lingers.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import procstat

REPO = Path(__file__).resolve().parents[1]
LISTENING = re.compile(rb"event=listening .*?host=(\S+) port=(\d+)")

# Limits the bench would otherwise hit, raised so they never bind (they still run on every frame).
CHATAPP_BENCH_ARGS: tuple[str, ...] = (
    "--send-rate",
    "1000000",
    "--send-burst",
    "1000000",
    # The bench does not administer its servers; on PostgreSQL the socket's default place would be
    # the user's data directory.
    "--control-socket",
    "none",
)


EXCEPTION_PREFIXES = ("sqlite3.", "sqlalchemy.", "asyncpg.", "OSError", "RuntimeError", "AssertionError")
"""Lines of a server's log that name an exception, counted by kind in the report."""


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAPP_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class ServerProcess:
    def __init__(self, argv: list[str], log_path: Path, *, profiled: bool = False) -> None:
        self.argv = argv
        self.log_path = log_path
        self.profiled = profiled
        self.proc: subprocess.Popen[bytes] | None = None
        self.host = "127.0.0.1"
        self.port = 0
        self.pid = 0
        """The server itself (not py-spy, when profiled)."""

    def start(self, timeout: float = 60.0) -> ServerProcess:
        return self.launch().wait_listening(timeout)

    def launch(self) -> ServerProcess:
        """Start the process without waiting for it to listen (several servers start at once)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=REPO,
                env=_clean_env(),
                start_new_session=True,
            )
        return self

    def wait_listening(self, timeout: float = 60.0) -> ServerProcess:
        """Wait for the ``listening`` line and read the address it names; raise if the server exits."""
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = LISTENING.search(self.log_path.read_bytes())
            if match:
                self.host = match.group(1).decode()
                self.port = int(match.group(2))
                self.pid = self._server_pid()
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"server did not start within {timeout}s:\n{self.log()[-4000:]}")

    def _server_pid(self) -> int:
        assert self.proc is not None
        if not self.profiled:
            return self.proc.pid
        kids = procstat.children(self.proc.pid)
        return kids[0] if kids else self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def problems(self) -> dict[str, Any]:
        """What the log shows went wrong: how many error lines, and the exceptions by kind."""
        lines = self.log().splitlines()
        errors = [line for line in lines if " ERROR " in line or line.startswith("Traceback")]
        kinds: dict[str, int] = {}
        for line in lines:
            if line.startswith(EXCEPTION_PREFIXES):
                name, colon, detail = line.partition(":")
                kind = name + (": " + detail.strip()[:60] if colon else "")
                kinds[kind] = kinds.get(kind, 0) + 1
        return {"error_lines": len(errors), "exceptions": kinds}

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.pid or self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.kill()

    def kill(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            for pid in {self.pid, self.proc.pid} - {0}:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        return self.proc.wait(10)


def chatapp_server(
    database_url: str, log_path: Path, extra: tuple[str, ...] = (), profile_to: Path | None = None
) -> ServerProcess:
    argv = [
        sys.executable,
        "-m",
        "chatapp.server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--database-url",
        database_url,
        *CHATAPP_BENCH_ARGS,
        *extra,
    ]
    if profile_to is not None:
        spy = py_spy()
        if spy is None:
            raise RuntimeError("py-spy is not installed (pip install -e '.[bench]')")
        argv = [
            spy,
            "record",
            "--rate",
            "250",
            "--nonblocking",
            "--threads",
            "--format",
            "raw",
            "-o",
            str(profile_to),
            "--",
        ] + argv
    return ServerProcess(argv, log_path, profiled=profile_to is not None)


def chatapp_help() -> str:
    """``chatapp-server --help``, to see which features (flags) this version has."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "chatapp.server", "--help"],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=_clean_env(),
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout


def baseline_server(mode: str, log_path: Path) -> ServerProcess:
    argv = [
        sys.executable,
        "-m",
        "bench.baseline_server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--mode",
        mode,
    ]
    return ServerProcess(argv, log_path)
