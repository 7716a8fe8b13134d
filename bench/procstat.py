"""CPU time and memory of a process, read from ``/proc/<pid>`` (Linux).

Used by the driver to measure the server it loads (and itself) at the exact
boundaries of a measured phase. Everything degrades to ``None`` where ``/proc``
is missing, so the suite still runs (without those columns) elsewhere.
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


def sample(pid: int) -> ProcSample | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        with open(f"/proc/{pid}/status", "rb") as f:
            status = f.read()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
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
    fields = stat[stat.rindex(b")") + 2 :].split()
    total = sum(int(value) for value in fields[11:15]) / _TICKS  # utime, stime, cutime, cstime
    for child in children(pid):
        found = sample(child)
        if found is not None:
            total += found.cpu
    return total
