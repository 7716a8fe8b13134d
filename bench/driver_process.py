"""What every load-driving process does around its run: its spec in, its event loop, its result out.

The drivers (:mod:`bench.driver`, :mod:`bench.signins`) each run in a process of
their own, started by :mod:`bench.run` (:func:`run_driver`): they read a JSON
spec from a file or stdin, run on uvloop when it is installed (as the servers
do), and print one JSON result on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

REPO = Path(__file__).resolve().parents[1]


def run_driver(module: str, payload: bytes, stderr_path: Path, timeout: float) -> dict[str, Any]:
    """Run the driver ``module`` (``bench.driver``, ``bench.signins``) on the spec ``payload`` in a
    process of its own, its stderr to ``stderr_path``; its result. Raises if it fails."""
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.run(
            [sys.executable, "-m", module, "--spec", "-"],
            input=payload,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=REPO,
            timeout=timeout,
        )
    if proc.returncode != 0 or not proc.stdout.strip():
        tail = stderr_path.read_text("utf-8", "replace")[-2000:]
        raise RuntimeError(f"driver exited with {proc.returncode}: {tail}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def raise_fd_limit(wanted: int) -> None:
    """At least ``wanted`` descriptors (up to the hard limit): one per client, and some."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def read_spec(prog: str, description: str, argv: list[str] | None) -> bytes:
    """The raw spec named by ``--spec`` (``-``: stdin)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--spec", required=True, help="a JSON spec file, or - for stdin")
    args = parser.parse_args(argv)
    if args.spec == "-":
        return sys.stdin.buffer.read()
    with open(args.spec, "rb") as file:
        return file.read()


def print_result(result: msgspec.Struct) -> None:
    sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")
    sys.stdout.flush()
