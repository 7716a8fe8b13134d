"""Standard input as lines for the event loop, read by a thread that waits when they pile up.

Line mode must never lose a line of its input, and must not hold a whole
file in memory either: the reader thread takes a slot for each line and
blocks while none is free (:data:`LINES_AHEAD` lines wait at most), so that a
fast producer (``cat big.txt | chatapp-client ...``) is held back by the pipe
itself while the session sends at the rate the server allows. The thread
hands each line to the loop with ``call_soon_threadsafe`` (a plain call, no
coroutine made in the thread: one the loop never ran, because it ended
first, would be a coroutine never awaited).
"""

from __future__ import annotations

import asyncio
import threading
from typing import TextIO

LINES_AHEAD = 100
"""Lines read ahead of the ones being sent; the reader thread waits beyond that."""


class StdinLines:
    """The lines of standard input (without their line ends), then None at its end (or on a read
    error), as :meth:`get` gives them."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._slots = threading.Semaphore(limit)

    async def get(self) -> str | None:
        line = await self._lines.get()
        self._slots.release()  # the reader may read one more
        return line

    def offer(self, item: str | None) -> bool:
        """From the reader thread: hand ``item`` over once a slot is free; False when the loop is gone."""
        while not self._slots.acquire(timeout=1.0):
            if self._loop.is_closed():  # it ended while the lines piled up: stop reading
                return False
        try:
            self._loop.call_soon_threadsafe(self._lines.put_nowait, item)
        except RuntimeError:
            return False  # the loop is closed: nobody reads any more
        return True


def start_reader(stdin: TextIO, limit: int = LINES_AHEAD) -> StdinLines:
    """Start reading ``stdin`` in a thread. Call from the event loop; the thread stops when the
    loop is gone."""
    lines = StdinLines(limit, asyncio.get_running_loop())

    def read() -> None:
        try:
            for line in stdin:
                if not lines.offer(line.rstrip("\r\n")):
                    return
        except (OSError, ValueError):
            pass  # a closed or unreadable input ends like an empty one
        lines.offer(None)

    threading.Thread(target=read, name="chatapp-client-stdin", daemon=True).start()
    return lines
