"""``python -m chatapp.client`` as a user runs it: a subprocess, in a pipe or on a pseudo-terminal."""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatapp.protocol import Message
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

TIMEOUT = 20.0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def client_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data"),
            "PROMPT_TOOLKIT_NO_CPR": "1",
            "TERM": "xterm-256color"}


def run_client(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatapp.client", *args],
        input=stdin, capture_output=True, text=True, timeout=TIMEOUT, env=client_env(tmp_path),
    )


def test_closed_port_is_a_clear_one_line_error(tmp_path: Path) -> None:
    port = closed_port()
    result = run_client(tmp_path, "--port", str(port))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"chatapp-client: cannot connect to 127.0.0.1:{port}: connection refused "
        "(is the server running? see --host and --port)\n"
    )
    assert "Traceback" not in result.stderr


def test_usage_error_exits_2(tmp_path: Path) -> None:
    result = run_client(tmp_path, "--password-stdin")
    assert result.returncode == 2 and "needs --user" in result.stderr and "Traceback" not in result.stderr


async def test_scripted_register_send_and_login(server: ServerProcess, tmp_path: Path) -> None:
    base = ("--host", server.host, "--port", str(server.port))
    bob = await WireClient.connect(server.host, server.port)
    await bob.register("bob")

    registered = await asyncio.to_thread(
        run_client, tmp_path, *base, "--user", "scripty", "--register", "--password-stdin",
        stdin=f"{PASSWORD}\nfirst line\n//literal slash\n",
    )
    assert registered.returncode == 0, registered.stderr
    assert "<scripty> first line" in registered.stdout
    assert "<scripty> /literal slash" in registered.stdout
    texts = []
    while len(texts) < 2:
        frame = await bob.recv()
        if isinstance(frame, Message):
            texts.append(frame.text)
    assert texts == ["first line", "/literal slash"]

    wrong = await asyncio.to_thread(
        run_client, tmp_path, *base, "--user", "scripty", "--password-stdin", stdin="not it at all\n"
    )
    assert wrong.returncode == 1
    assert wrong.stderr == "chatapp-client: Wrong username or password.\n"

    login = await asyncio.to_thread(
        run_client, tmp_path, *base, "--user", "scripty", "--password-stdin", stdin=f"{PASSWORD}\n"
    )
    assert login.returncode == 0, login.stderr
    for output in (registered, wrong, login):
        assert PASSWORD not in output.stdout + output.stderr
        assert "Traceback" not in output.stdout + output.stderr
    assert PASSWORD not in server.log
    await bob.close()


class Pty:
    """The client on a pseudo-terminal, as a person would run it."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        import pty

        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execve(sys.executable, [sys.executable, "-m", "chatapp.client", *args], env)
        self.output = b""

    def read_until(self, pattern: bytes, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.output):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} not seen; got {self.output[-2000:]!r}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.1))
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    break

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = TIMEOUT) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.read_rest()
                return os.waitstatus_to_exitcode(status)
            self.read_rest()
            time.sleep(0.02)
        raise AssertionError("the client did not exit")

    def read_rest(self) -> None:
        while select.select([self.fd], [], [], 0)[0]:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def close(self) -> None:
        try:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)


@pytest.fixture
def pty_client(tmp_path: Path) -> Iterator[type[Pty]]:
    started: list[Pty] = []

    class Tracked(Pty):
        def __init__(self, args: list[str], env: dict[str, str]) -> None:
            super().__init__(args, env)
            started.append(self)

    yield Tracked
    for client in started:
        client.close()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_interactive_session_on_a_terminal(
    server: ServerProcess, tmp_path: Path, pty_client: type[Pty]
) -> None:
    client = pty_client(["--host", server.host, "--port", str(server.port)], client_env(tmp_path))
    client.read_until(rb"Choice:")
    client.type("2\r")
    client.read_until(rb"Username:")
    client.type("termuser\r")
    client.read_until(rb"Password:")
    client.type(PASSWORD + "\r")
    client.read_until(rb"Password again:")
    client.type(PASSWORD + "\r")
    client.read_until(rb"\x1b\[\?1049h")  # the chat screen opened (alternate screen)
    client.read_until(rb"You are online in #general")
    client.type("hello from a terminal\r")
    client.read_until(rb"hello from a terminal")
    client.type("/nope\r")
    client.read_until(rb"Unknown command /nope")
    client.type("\x15\x04")  # Ctrl-U clears the line, Ctrl-D on the empty line leaves
    assert client.wait() == 0
    assert b"\x1b[?1049l" in client.output  # the terminal is back to normal
    assert PASSWORD.encode() not in client.output
    assert b"Traceback" not in client.output
    server.wait_for_log(r"event=disconnect user=termuser .*reason=quit")
    assert PASSWORD not in server.log


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_sigterm_on_the_chat_screen_leaves_cleanly(
    server: ServerProcess, tmp_path: Path, pty_client: type[Pty]
) -> None:
    env = client_env(tmp_path)
    args = ["--host", server.host, "--port", str(server.port), "--user", "sigterm_user", "--register"]
    client = pty_client(args, env)
    client.read_until(rb"Password:")
    client.type(PASSWORD + "\r")
    client.read_until(rb"Password again:")
    client.type(PASSWORD + "\r")
    client.read_until(rb"You are online in #general")
    client.type("typed but not sent")
    client.read_until(rb"typed but not sent")
    os.kill(client.pid, signal.SIGTERM)
    assert client.wait() == 0
    assert b"\x1b[?1049l" in client.output and b"Traceback" not in client.output
    server.wait_for_log(r"event=disconnect user=sigterm_user .*reason=quit")
