"""A private PostgreSQL server for tests: ``initdb`` into a temporary directory, started on a
free port of 127.0.0.1, stopped at the end; what pytest-postgresql does, in a page.

Each test gets a database of its own (:meth:`PostgresServer.create_database`), so tests
share one server (starting it costs about a second) but never each other's rows. The
server runs without fsync: tests measure behaviour, not durability across power cuts.

PostgreSQL refuses to run as root; when the tests run as root (CI containers), the
server's processes run as the ``postgres`` system user that Debian's package creates.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

USER = "chatapp"
PASSWORD = "chatapp-test-password"
INSTALL_HINT = "PostgreSQL tests skipped: install PostgreSQL (apt-get install -y postgresql) to run them"


def find_bindir() -> Path | None:
    """The directory of ``initdb`` and ``postgres``: on PATH, or Debian's versioned directory."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(initdb).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3])
    return versions[-1].parent if versions else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TEST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # When each transaction committed, for tests about the order of commits (test_message_order).
    "track_commit_timestamp": "on",
}
"""Tests measure behaviour, not durability across power cuts."""


class PostgresServer:
    def __init__(self, base: Path, bindir: Path, settings: dict[str, str] | None = None) -> None:
        """``settings``: the server's ``-c`` options besides the address and the connection limit
        (by default :data:`TEST_SETTINGS`)."""
        self.settings = TEST_SETTINGS if settings is None else settings
        self.base = base
        self.bindir = bindir
        self.data = base / "data"
        self.sockets = base / "sockets"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self._as_user = _demote_to_postgres() if os.geteuid() == 0 else None

    def url(self, database: str = "postgres", *, password: str = PASSWORD, driver: str = "asyncpg") -> str:
        return f"postgresql+{driver}://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 30.0) -> PostgresServer:
        self.base.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        pwfile = self.base / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self._as_user is not None:
            for path in (self.base, self.sockets, pwfile):
                os.chown(path, _postgres_uid(), _postgres_gid())
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.port = free_port()
        log = open(self.base / "postgres.log", "wb")  # noqa: SIM115 - the child writes it; closed below
        self._proc = subprocess.Popen(
            [
                str(self.bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-k",
                str(self.sockets),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
                *[option for name, value in self.settings.items() for option in ("-c", f"{name}={value}")],
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            preexec_fn=self._as_user,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"postgres exited:\n{self.log}")
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postgres did not start within {timeout}s:\n{self.log}")

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while it runs."""
        return None if self._proc is None else self._proc.pid

    @property
    def log(self) -> str:
        try:
            return (self.base / "postgres.log").read_text(errors="replace")
        except OSError:
            return ""

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                USER,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atq",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "PGPASSWORD": PASSWORD},
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"psql failed: {result.stderr}")
        return result.stdout

    def create_database(self) -> str:
        """A new, empty database; its name."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self.psql(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()  # SIGTERM: "smart" shutdown would wait for clients; fast is SIGINT
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [str(self.bindir / tool), *args], capture_output=True, preexec_fn=self._as_user, check=False
        )
        if result.returncode:
            raise RuntimeError(f"{tool} failed: {result.stderr.decode(errors='replace')}")


def _postgres_uid() -> int:
    return pwd.getpwnam("postgres").pw_uid


def _postgres_gid() -> int:
    return pwd.getpwnam("postgres").pw_gid


def _demote_to_postgres() -> Callable[[], None]:
    uid, gid = _postgres_uid(), _postgres_gid()

    def demote() -> None:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return demote
