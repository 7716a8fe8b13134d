"""Standard input as lines for the event loop, read by a thread that waits when they pile up.

Line mode must never lose a line of its input, and must not hold a whole
file in memory either: the reader thread puts each line on a bounded queue
and blocks while the queue is full, so that a fast producer (``cat big.txt |
chatapp-client ...``) is held back by the pipe itself while the session sends
at the rate the server allows.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import TextIO

LINES_AHEAD = 100
"""Lines read ahead of the ones being sent; the reader thread waits beyond that."""


def start_reader(stdin: TextIO, limit: int = LINES_AHEAD) -> asyncio.Queue[str | None]:
    """A queue of the lines of ``stdin`` (without their line ends), then None at its end (or on a
    read error). Call from the event loop; the thread stops when the loop is gone."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue(maxsize=limit)

    def put(item: str | None) -> bool:
        try:
            future = asyncio.run_coroutine_threadsafe(lines.put(item), loop)
        except RuntimeError:
            return False  # the loop is closed: nobody reads any more
        while True:
            try:
                future.result(timeout=1.0)
                return True
            except concurrent.futures.CancelledError:
                return False
            except TimeoutError:
                if loop.is_closed():  # it ended while the queue was full: stop reading
                    future.cancel()
                    return False

    def read() -> None:
        try:
            for line in stdin:
                if not put(line.rstrip("\r\n")):
                    return
        except (OSError, ValueError):
            pass  # a closed or unreadable input ends like an empty one
        put(None)

    threading.Thread(target=read, name="chatapp-client-stdin", daemon=True).start()
    return lines
