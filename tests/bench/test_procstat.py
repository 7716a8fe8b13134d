"""CPU time read from /proc: to the nanosecond, every thread counted, for the benchmark's phases."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from bench import procstat

pytestmark = pytest.mark.skipif(
    procstat.thread_cpu(os.getpid()) is None, reason="needs Linux's /proc/<pid>/task/<tid>/schedstat"
)


def spin(seconds: float) -> None:
    """Use ``seconds`` of this thread's CPU (however busy the machine is)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_a_few_milliseconds_of_cpu_are_seen_as_such_not_as_whole_clock_ticks() -> None:
    before = procstat.thread_cpu(os.getpid())
    spin(0.003)
    after = procstat.thread_cpu(os.getpid())
    assert before is not None and after is not None
    # Read in clock ticks (10 ms) this would be 0 or 0.01.
    assert 0.002 <= after - before < 0.008


def test_every_thread_of_the_process_is_counted() -> None:
    spun = threading.Event()
    stop = threading.Event()

    def spin_then_wait() -> None:
        spin(0.03)
        spun.set()
        stop.wait(30)

    before = procstat.sample(os.getpid())
    worker = threading.Thread(target=spin_then_wait)
    worker.start()
    try:
        assert spun.wait(30)
        after = procstat.sample(os.getpid())
    finally:
        stop.set()
        worker.join(timeout=30)
    assert before is not None and after is not None
    # The worker's 30 ms; the main thread, waiting meanwhile, adds little. Its own schedstat alone
    # (/proc/<pid>/schedstat) would miss them.
    assert 0.03 <= after.cpu - before.cpu < 0.05


def test_a_process_that_is_gone_reads_as_none() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    assert procstat.sample(proc.pid) is None
    assert procstat.thread_cpu(proc.pid) is None
