"""File descriptors: the process's limit, and what accept() does when they run out.

The server raises its soft ``RLIMIT_NOFILE`` to the hard limit at start and
holds connections below it (:mod:`chatapp.server.capacity`), so accepting
normally never fails. If it fails anyway (another part of the process, or
the whole system, used the descriptors up), asyncio's own accept loop in
Python 3.11 reports ``socket.accept() out of system resource`` with a
traceback once per waiting connection per try, and goes on trying up to the
listen backlog's count of times, each scheduling another retry: thousands of
tracebacks a second and a busy loop. :class:`AcceptGuard` catches that report
and does what libuv (uvloop) does instead: it gives up a spare descriptor
kept for the purpose, uses it to accept each waiting connection, tells it
``bye`` and closes it, then takes the spare back. The accept loop then finds
nothing waiting and stops; the caller logs one line now and then.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sys
from collections.abc import Callable
from contextlib import suppress
from typing import Any

ACCEPT_OUT_OF_RESOURCES = "socket.accept() out of system resource"
"""The message asyncio's selector loop reports when accept() fails for want of descriptors or memory."""

_MAX_DRAIN = 1000
"""Most connections turned away per failure (the kernel's queue holds at most the listen backlog)."""


def limit() -> int | None:
    """The soft limit on open descriptors in force (None where there is no such limit)."""
    if sys.platform == "win32":
        return None
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def hard_limit() -> int | None:
    """What :func:`raise_limit` can raise the limit to (None: no limit)."""
    if sys.platform == "win32":
        return None
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return None if hard == resource.RLIM_INFINITY else hard


def raise_limit() -> int | None:
    """Raise the soft limit on open descriptors to the hard limit; return the limit now in force.

    Distributions start processes with a soft limit of 1,024 (for select()'s
    sake) and a far higher hard limit; an event-loop server that uses epoll
    has no reason to stay at the soft one.
    """
    if sys.platform == "win32":
        return None
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        # An unlimited hard limit is still capped by the kernel (fs.nr_open): ask for 2^20.
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        with suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return limit()


def _open_spare() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


class AcceptGuard:
    """Turns asyncio's accept() failures for want of descriptors into a ``bye`` and a report.

    ``on_exhausted(error, refused)`` is called once per failure with the
    error's name (``EMFILE``, ...) and how many waiting connections were told
    ``bye``; it decides what to log. Other exceptions the loop reports go to
    the handler that was there before (or asyncio's default one).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        bye: bytes,
        on_exhausted: Callable[[str, int], None],
    ) -> None:
        self._loop = loop
        self._bye = bye
        self._on_exhausted = on_exhausted
        self._spare: int | None = None
        self._previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None = None
        self._installed = False

    def install(self) -> None:
        self._spare = _open_spare()
        self._previous = self._loop.get_exception_handler()
        self._loop.set_exception_handler(self._handle)
        self._installed = True

    def uninstall(self) -> None:
        if self._installed and self._loop.get_exception_handler() == self._handle:
            self._loop.set_exception_handler(self._previous)
        self._installed = False
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None

    def _handle(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        listener = context.get("socket")
        if context.get("message") != ACCEPT_OUT_OF_RESOURCES or listener is None:
            if self._previous is not None:
                self._previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        error = context.get("exception")
        code = getattr(error, "errno", None)
        name = errno.errorcode.get(code, "?") if isinstance(code, int) else "?"
        self._on_exhausted(name, self._turn_away(listener.fileno()))

    def _turn_away(self, listener_fd: int) -> int:
        """Accept every waiting connection with the spare descriptor, say ``bye``, close it."""
        if self._spare is None:
            self._spare = _open_spare()
            if self._spare is None:
                return 0  # still nothing free: asyncio tries again in a second
        os.close(self._spare)
        self._spare = None
        refused = 0
        # The listening socket's own descriptor, wrapped without a dup (there is none to spare)
        # and detached afterwards so that it is not closed here.
        listener = socket.socket(fileno=listener_fd)
        try:
            listener.setblocking(False)
            for _ in range(_MAX_DRAIN):
                try:
                    conn, _ = listener.accept()
                except OSError:  # nothing waiting any more, or still no descriptor
                    break
                with conn:
                    conn.setblocking(False)
                    with suppress(OSError):
                        conn.send(self._bye)
                refused += 1
        finally:
            listener.detach()
            self._spare = _open_spare()
        return refused
