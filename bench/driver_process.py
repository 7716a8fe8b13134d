"""What every load-driving process does around its run: its spec in, its event loop, its result out.

The drivers (:mod:`bench.driver`, :mod:`bench.signins`) each run in a process of
their own, started by :mod:`bench.run`: they read a JSON spec from a file or
stdin, run on uvloop when it is installed (as the servers do), and print one
JSON result on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
from collections.abc import Callable

import msgspec


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
