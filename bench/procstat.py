"""CPU time and memory of a process, read from ``/proc/<pid>`` (Linux).

Used by the driver to measure the server it loads (and itself) at the exact
boundaries of a measured phase. Everything degrades to ``None`` where ``/proc``
is missing, so the suite still runs (without those columns) elsewhere.

CPU time is read to the nanosecond from each thread's ``schedstat`` (the time the
scheduler ran it). ``/proc/<pid>/stat`` counts it in clock ticks, 10 ms here: a
send phase of a few hundred milliseconds of server CPU, read at both ends in each
of four processes, would be off by up to 80 ms, as much as a setup's difference;
it is the fallback where ``schedstat`` is missing. A thread that ended between
two readings takes its time with it (the servers' threads live as long as they do).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class ProcSample:
    cpu: float
    """User plus system CPU seconds since the process started."""
    rss: int
    """Resident set size now, in bytes."""
    hwm: int
    """Peak resident set size so far (VmHWM), in bytes."""


def _stat_fields(stat: bytes) -> list[bytes]:
    """The fields of a ``stat`` file after the command name (field 2), which may contain spaces
    and parentheses: split after the last ')'. Index 11 is utime (field 14)."""
    return stat[stat.rindex(b")") + 2 :].split()


def thread_cpu(pid: int) -> float | None:
    """CPU seconds every thread of ``pid`` alive now has run, to the nanosecond; None where the
    kernel keeps no ``schedstat`` or the process is gone."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    total = 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            if tid == str(pid):
                return None  # no schedstat at all (the main thread lives as long as the process)
    return total / 1e9


def _own_cpu(pid: int, fields: list[bytes]) -> float:
    """The process's CPU seconds: to the nanosecond, or from its ``stat`` fields in ticks."""
    cpu = thread_cpu(pid)
    return cpu if cpu is not None else (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def sample(pid: int) -> ProcSample | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status", "rb") as f:
            status = f.read()
    except OSError:
        return None
    cpu = _own_cpu(pid, _stat_fields(stat))
    rss = hwm = 0
    for line in status.splitlines():
        if line.startswith(b"VmRSS:"):
            rss = int(line.split()[1]) * 1024
        elif line.startswith(b"VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    return ProcSample(cpu=cpu, rss=rss, hwm=hwm)


def children(pid: int) -> list[int]:
    """Direct children of a process (for a server started under a profiler)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found.extend(int(p) for p in f.read().split())
        except OSError:
            continue
    return found


def tree_cpu(pid: int) -> float | None:
    """CPU seconds a process and its children have used so far: its own, its reaped children's
    (cutime, cstime), and those of the children alive now (PostgreSQL's backends, say). None without
    ``/proc`` or when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = _stat_fields(stat)
    # Reaped children are known only in ticks (cutime, cstime); the process itself to the nanosecond.
    total = _own_cpu(pid, fields) + (int(fields[13]) + int(fields[14])) / _TICKS
    for child in children(pid):
        found = sample(child)
        if found is not None:
            total += found.cpu
    return total
