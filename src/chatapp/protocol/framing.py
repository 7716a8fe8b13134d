"""Splitting a byte stream into lines, with a hard bound on line length.

Sans-I/O: feed it whatever the socket gave, get back complete lines. A line
longer than the bound is not kept in memory: the splitter reports it once as
:data:`LINE_TOO_LONG` and drops bytes until the next newline, so the session
can go on after an error instead of being torn down. Work is linear in the
bytes fed, however they are chunked (a line dribbled one byte at a time does
not cause quadratic copying).
"""

from __future__ import annotations

from typing import Final, final


@final
class _LineTooLong:
    __slots__ = ()

    def __repr__(self) -> str:
        return "LINE_TOO_LONG"


LINE_TOO_LONG: Final = _LineTooLong()
"""Stands in the output where an over-long line was dropped."""


class LineSplitter:
    """Turns chunks of bytes into ``\\n``-terminated lines (newline removed).

    A trailing ``\\r`` is removed too, so CRLF peers (telnet, netcat) work.
    Blank lines are skipped: they carry nothing, and netcat users send them.
    """

    __slots__ = ("_max", "_partial", "_discarding")

    def __init__(self, max_line: int) -> None:
        self._max = max_line
        self._partial = bytearray()
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Bytes held for an unfinished line."""
        return len(self._partial)

    def feed(self, data: bytes) -> list[bytes | _LineTooLong]:
        out: list[bytes | _LineTooLong] = []
        start = 0
        size = len(data)
        if self._discarding:
            nl = data.find(b"\n")
            if nl < 0:
                return out
            self._discarding = False
            start = nl + 1
        while start < size:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            if self._partial:
                self._partial += data[start:nl]
                line = bytes(self._partial)
                self._partial.clear()
            else:
                line = data[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self._max:
                out.append(LINE_TOO_LONG)
            elif line:
                out.append(line)
        if start < size:
            self._partial += data[start:]
            # Allow one byte for a '\r' that may precede the newline.
            if len(self._partial) > self._max + 1:
                self._partial.clear()
                self._discarding = True
                out.append(LINE_TOO_LONG)
        return out
