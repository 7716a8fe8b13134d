"""Reading a py-spy profile of the server: where its time goes.

The suite runs the server under ``py-spy record --format raw --threads`` (a
sampling profiler outside the process, so the server runs unmodified) and
summarises the collapsed stacks here: share of samples per thread, the lines
the main thread spends its own time in, and the inclusive share of every
chatapp function. Start-up and shutdown samples are left out.
"""

from __future__ import annotations

import linecache
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?):(?P<line>\d+)\)$")
_THREAD = re.compile(r"^thread \((?P<id>0?x?[0-9a-fA-F]+)\)(?:: (?P<name>.*))?$")

# Stacks containing these are start-up or shutdown, not the workload.
EXCLUDE = (
    "_find_and_load",
    "ChatServer.start",
    "ChatServer.shutdown",
    "PasswordHashing.start",
    "load_config",
)

# What a leaf with no Python below it is doing, for the frames where that is not obvious.
NOTES = {
    "Runner.run": "inside the event loop itself (uvloop's C code: epoll, socket reads, callback dispatch)",
    "_connection_worker_thread": "aiosqlite worker thread: waiting for work or the GIL, or in SQLite",
}


@dataclass
class Entry:
    name: str
    share: float
    """Fraction of the main thread's workload samples."""
    source: str = ""


@dataclass
class Profile:
    samples: int = 0
    excluded: int = 0
    """Start-up and shutdown samples, left out."""
    threads: dict[str, float] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    """Shares of the main thread's samples: signing in, signing out, everything else."""
    self_lines: list[Entry] = field(default_factory=list)
    chatapp_inclusive: list[Entry] = field(default_factory=list)
    top_inclusive: list[Entry] = field(default_factory=list)
    signin_inclusive: list[Entry] = field(default_factory=list)
    """chatapp functions on the sign-in path, as shares of the sign-in samples."""


# Handler names of the sign-in path (older and newer layouts of the server).
SIGN_IN = (
    "on_resume (",
    "on_login (",
    "on_register (",
    "_sign_in (",
    "Connection.become (",
    "Connection._become (",
)
SIGN_OUT = ("Connection._finish",)


def _parse(frame: str) -> tuple[str, str, int] | None:
    match = _FRAME.match(frame)
    if not match:
        return None
    return match["func"], match["file"], int(match["line"])


def _source(file: str, line: int) -> str:
    for base in sys.path:
        path = Path(base) / file
        if path.is_file():
            return linecache.getline(str(path), line).strip()
    return ""


def _thread_group(name: str) -> str:
    if name == "MainThread":
        return "event loop (main thread)"
    if "_connection_worker_thread" in name:
        return "aiosqlite worker threads"
    if name.startswith("sqlite-"):
        return "SQLite fast-path threads (message writer, sessions, checkpoints)"
    if "argon2" in name:
        return "argon2 threads"
    return "other threads"


def summarize(raw: Path, top: int = 15) -> Profile:
    """Summarise py-spy raw (collapsed) stacks recorded with ``--threads``.

    The line and function tables cover the main thread's samples outside
    signing in and out, i.e. the message path and the event loop around it.
    """
    profile = Profile()
    threads: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    self_lines: Counter[tuple[str, str, int]] = Counter()
    inclusive: Counter[str] = Counter()
    signin: Counter[str] = Counter()
    flow_total = 0
    lines = raw.read_text("utf-8", "replace").splitlines()
    # py-spy does not always know a thread's name: a sample without one is named after the
    # other samples of the same thread id (the main thread's id is the process id).
    thread_names: dict[str, str] = {}
    for text in lines:
        match = _THREAD.match(text.split(";", 1)[0])
        if match and match["name"]:
            thread_names.setdefault(match["id"], match["name"])
    for text in lines:
        text = text.strip()
        if not text:
            continue
        stack, _, count_text = text.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        if any(marker in stack for marker in EXCLUDE):
            profile.excluded += count
            continue
        frames = stack.split(";")
        thread = "?"
        if frames and (match := _THREAD.match(frames[0])):
            thread = match["name"] or thread_names.get(match["id"], "?")
            frames = frames[1:]
        profile.samples += count
        threads[_thread_group(thread)] += count
        if thread != "MainThread":
            continue
        if any(marker in stack for marker in SIGN_IN):
            phases["signing in"] += count
            # Each function once per sample, in stack order (not a set's: ties would be ordered by hash).
            names = dict.fromkeys(f"{p[0]} ({p[1]})" for p in (_parse(f) for f in frames) if p is not None)
            for key in names:
                if "chatapp/" in key and "__main__" not in key:
                    signin[key] += count
            continue
        if any(marker in stack for marker in SIGN_OUT):
            phases["signing out"] += count
            continue
        phases["message path and event loop"] += count
        parsed = [p for p in (_parse(f) for f in frames) if p is not None]
        if not parsed:
            continue
        flow_total += count
        self_lines[parsed[-1]] += count
        seen: set[str] = set()
        for func, file, _line in parsed:
            key = f"{func} ({file})"
            if key not in seen:
                seen.add(key)
                inclusive[key] += count
    if not profile.samples:
        return profile
    profile.threads = {k: round(v / profile.samples, 4) for k, v in threads.most_common()}
    main = sum(phases.values())
    if main:
        profile.phases = {k: round(v / main, 4) for k, v in phases.most_common()}
    if phases["signing in"]:
        profile.signin_inclusive = [
            Entry(key, round(count / phases["signing in"], 4)) for key, count in signin.most_common(12)
        ]
    if not flow_total:
        return profile
    for (func, file, line), count in self_lines.most_common(top):
        source = NOTES.get(func, "") or _source(file, line)
        profile.self_lines.append(Entry(f"{func} ({file}:{line})", round(count / flow_total, 4), source))
    for key, count in inclusive.most_common():
        if "chatapp/" in key and "__main__" not in key and len(profile.chatapp_inclusive) < 25:
            profile.chatapp_inclusive.append(Entry(key, round(count / flow_total, 4)))
    profile.top_inclusive = [
        Entry(key, round(count / flow_total, 4))
        for key, count in inclusive.most_common(40)
        if "runpy" not in key and "__main__" not in key and "Runner.run" not in key
    ][:top]
    return profile
