"""``--workers N``: N server processes on this machine sharing the listening ports, supervised.

Each worker is ``chatapp-server`` again, with the same flags plus ``--workers 1 --reuse-port``
(SO_REUSEPORT: the kernel spreads new connections among the processes listening on a port), the
ports fixed (a port given as 0 is picked here once, so that every worker shares the same) and its
own control socket, ``--control-socket``'s path suffixed with ``.N``: a control socket acts on the
process that owns it, and an administration action that must reach every process goes to each.
The workers are ordinary processes of a deployment with ``--redis-url`` (each its own node id,
heartbeat and sessions); this supervisor only starts them, restarts one that dies (logged), and
on SIGTERM or SIGINT stops them all and waits for them.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from chatapp.server import activity
from chatapp.server.config import PORT_OFF, Config

log = logging.getLogger("chatapp.workers")

RESTART_DELAY = 1.0
"""Seconds before a worker that died is started again (a worker failing at once does not spin)."""
CONFIG_ERROR = 2
"""A worker's exit code for a start-up it can never get past (bad settings, an old schema): then
the supervisor stops, rather than restarting it forever."""
POLL = 0.1


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def worker_args(config: Config, argv: Sequence[str]) -> list[list[str]]:
    """Each worker's flags: ``argv`` and what makes the workers share ports and not control sockets."""
    fixed = ["--workers", "1", "--reuse-port"]
    for flag, port in (
        ("--port", config.port),
        ("--tls-port", config.tls_port),
        ("--web-port", config.web_port),
        ("--web-tls-port", config.web_tls_port),
    ):
        if port != PORT_OFF:
            fixed += [flag, str(port or free_port(config.host))]
    control = config.resolved_control_socket
    return [
        [*argv, *fixed, "--control-socket", "none" if control is None else f"{control}.{number}"]
        for number in range(1, config.workers + 1)
    ]


def _die_with_parent() -> None:
    """In the worker before it runs: on Linux, a SIGTERM when the supervisor dies (even by SIGKILL),
    so that no worker is left serving unsupervised."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Supervisor:
    def __init__(self, config: Config, argv: Sequence[str]) -> None:
        self._config = config
        self._args = worker_args(config, argv)
        self._workers: dict[int, subprocess.Popen[bytes]] = {}
        self._stopping = False

    def run(self) -> int:
        """Run until SIGTERM or SIGINT; the exit code of ``chatapp-server``."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        activity.record("workers", count=len(self._args))
        for number in range(1, len(self._args) + 1):
            self._start(number)
        code = 0
        while not self._stopping:
            time.sleep(POLL)
            for number, worker in list(self._workers.items()):
                status = worker.poll()
                if status is None or self._stopping:
                    continue
                activity.record("worker_died", logging.WARNING, number=number, pid=worker.pid, status=status)
                if status == CONFIG_ERROR:
                    code = CONFIG_ERROR
                    self._stopping = True
                    break
                time.sleep(RESTART_DELAY)
                if not self._stopping:
                    self._start(number)
        self._stop_all()
        return code

    def _start(self, number: int) -> None:
        worker = subprocess.Popen(
            [sys.executable, "-m", "chatapp.server", *self._args[number - 1]], preexec_fn=_die_with_parent
        )
        self._workers[number] = worker
        activity.record("worker_started", number=number, pid=worker.pid)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _stop_all(self) -> None:
        for worker in self._workers.values():
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._config.shutdown_timeout + 15
        for number, worker in self._workers.items():
            try:
                status = worker.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.kill()
                status = worker.wait()
            activity.record("worker_stopped", number=number, pid=worker.pid, status=status)
