"""Ctrl-Z on the real client on a pseudo-terminal: it stops (SIGTSTP); `fg` (SIGCONT) brings the screen back.

A job-control shell is needed for that to be real: a stopped process group
whose parent is in another session is "orphaned", and the kernel drops
SIGTSTP for it. So the pseudo-terminal runs :data:`SHELL`, a few lines
doing what a shell does: the client in its own process group in the
foreground, ``waitpid(WUNTRACED)`` to see it stop, and on ``fg`` the terminal
given back and SIGCONT sent. It reports to the test on a pipe.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_client_cli import TIMEOUT, Pty, client_env
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD

SHELL = r"""
import os, signal, sys
status, control = int(os.environ["JOB_STATUS_FD"]), int(os.environ["JOB_CONTROL_FD"])
signal.signal(signal.SIGTTOU, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    os.tcsetpgrp(0, os.getpid())
    signal.signal(signal.SIGTTOU, signal.SIG_DFL)
    os.close(status); os.close(control)
    os.execv(sys.executable, [sys.executable, "-m", "chatapp.client", *sys.argv[1:]])
try:
    os.setpgid(pid, pid)
    os.tcsetpgrp(0, pid)
except OSError:
    pass  # the child did it first
while True:
    _, code = os.waitpid(pid, os.WUNTRACED)
    if os.WIFSTOPPED(code):
        os.tcsetpgrp(0, os.getpgrp())
        os.write(status, b"stopped %d\n" % os.WSTOPSIG(code))
        os.read(control, 3)  # "fg\n"
        os.tcsetpgrp(0, pid)
        os.killpg(pid, signal.SIGCONT)
        continue
    os.write(status, b"exited %d\n" % os.waitstatus_to_exitcode(code))
    sys.exit(0)
"""


class JobShell(Pty):
    """The client under :data:`SHELL` on a pseudo-terminal."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        status_read, status_write = os.pipe()
        control_read, control_write = os.pipe()
        os.set_inheritable(status_write, True)
        os.set_inheritable(control_read, True)
        env = {**env, "JOB_STATUS_FD": str(status_write), "JOB_CONTROL_FD": str(control_read)}
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(sys.executable, [sys.executable, "-c", SHELL, *args], env)
        os.close(status_write)
        os.close(control_read)
        self.status, self.control = status_read, control_write
        self.output = b""

    def report(self, timeout: float = TIMEOUT) -> str:
        """The shell's next word on its job (``stopped N``, ``exited N``), reading the terminal meanwhile."""
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no word from the shell; the terminal shows {self.output[-1500:]!r}")
            ready, _, _ = select.select([self.status, self.fd], [], [], min(left, 0.1))
            if self.fd in ready:
                self.read_rest()
            if self.status in ready:
                line += os.read(self.status, 1)
        return line.decode().strip()

    def read_until(self, pattern: bytes, timeout: float = TIMEOUT, offset: int = 0) -> None:
        """Like :meth:`Pty.read_until`, looking only at what came after ``offset``."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.output[offset:]):
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not seen; got {self.output[offset:][-2000:]!r}")
            if select.select([self.fd], [], [], 0.1)[0]:
                self.read_rest()

    def fg(self) -> None:
        os.write(self.control, b"fg\n")

    def close(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)  # the shell's group; the client's is killed below
        except ProcessLookupError:
            pass
        super().close()
        os.close(self.status)
        os.close(self.control)


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    return server_factory(tmp_path / "chat.db").start()


@pytest.mark.skipif(not hasattr(signal, "SIGTSTP"), reason="needs job control")
def test_ctrl_z_suspends_and_fg_brings_the_screen_back(server: ServerProcess, tmp_path: Path) -> None:
    args = ["--host", server.host, "--port", str(server.port), "--user", "zed", "--register"]
    shell = JobShell(args, client_env(tmp_path))
    try:
        shell.read_until(rb"Password:")
        shell.type(PASSWORD + "\r")
        shell.read_until(rb"Password again:")
        shell.type(PASSWORD + "\r")
        shell.read_until(rb"You are online in #general")
        shell.type("typed before")
        shell.read_until(rb"typed before")
        shell.type("\x1a")  # Ctrl-Z
        assert shell.report() == f"stopped {signal.SIGTSTP.value}"
        shell.read_rest()
        assert b"\x1b[?1049l" in shell.output  # the terminal was given back in its normal screen
        assert b"\x1a" not in shell.output and b"^Z" not in shell.output
        stopped_at = len(shell.output)

        shell.fg()  # SIGCONT: the screen comes back, redrawn, with the line as it was typed
        shell.read_until(rb"(?s)\x1b\[\?1049h.*You are online in #general.*typed before", offset=stopped_at)
        shell.type(" and after\r")
        # The nick may be drawn in a style of its own: colour codes may stand around it.
        style = rb"(?:\x1b\[[0-9;]*m)*"
        shell.read_until(rb"<" + style + rb"zed" + style + rb">" + style + rb" typed before and after")
        shell.type("/quit\r")
        assert shell.report() == "exited 0"
    finally:
        shell.close()
    server.wait_for_log(r"event=disconnect user=zed .*reason=quit")
    assert b"Traceback" not in shell.output
