"""The fast path: frames recognised by a byte marker in the stream, never decoded.

A load driver that decoded every frame it receives would need several times the
CPU of the server it loads (see "Benchmarks" in docs/design.md for the figures),
so the bulk traffic — deliveries while the clock runs, the presence fan-out of
thousands of sign-ins, keep-alive pings — is only counted: ``bytes.count`` on
each chunk, in C. Everything else a bench client receives goes through
:class:`chatapp.protocol.connection.ClientProtocol` (:mod:`bench.link`).

The markers rely on msgspec's compact encoding (no spaces, fields in declaration
order), which the smoke tests would catch changing: a marker that no longer
matches leaves a run waiting for deliveries it never counts.
"""

from __future__ import annotations

PRESENCE_MARK = b'"type":"presence"'
PING_MARK = b'{"type":"ping"'


class Marker:
    """Counts a marker in a byte stream fed in chunks, including ones split across chunks."""

    __slots__ = ("mark", "keep", "tail")

    def __init__(self, mark: bytes) -> None:
        self.mark = mark
        self.keep = len(mark) - 1
        self.tail = b""

    def feed(self, data: bytes) -> int:
        keep = self.keep
        n = data.count(self.mark)
        if self.tail:
            n += (self.tail + data[:keep]).count(self.mark)
        self.tail = data[-keep:] if len(data) >= keep else (self.tail + data)[-keep:]
        return n
