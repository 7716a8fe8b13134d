"""The head of one HTTP/1.1 request, parsed strictly and within fixed limits. Sans-I/O.

The web port answers a handful of GET requests (the web client's files, the
WebSocket handshake), so this is no general HTTP parser: it takes the bytes of
a request head (up to the blank line), and either returns the request, or the
status that refuses it. Limits: the whole head, the request line, the number
of header fields; no obsolete line folding; no body (a request that announces
one is refused: nothing here takes one).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

MAX_HEAD = 16 * 1024
"""Bytes of a request head, request line and header fields together."""
MAX_REQUEST_LINE = 4096
MAX_HEADERS = 64

_TOKEN = frozenset((string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~").encode())
_TARGET = frozenset(range(0x21, 0x7F))
"""Visible ASCII: what a request target may hold (no spaces, controls or bytes over 127)."""


@dataclass(frozen=True, slots=True)
class RequestHead:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    """Names lowercase, values without surrounding whitespace, in order."""

    def header(self, name: str) -> str | None:
        """The value of the one field named ``name`` (lowercase); None if absent."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def path(self) -> str:
        """The target without its query."""
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


@dataclass(frozen=True, slots=True)
class BadRequest:
    status: int
    """400, 414 (request line too long), 431 (header fields too large), 505 (not HTTP/1.x)."""
    reason: str


def head_end(buffer: bytes | bytearray) -> int:
    """Where the head in ``buffer`` ends (after its blank line), or -1 if it has not yet."""
    end = buffer.find(b"\r\n\r\n")
    return end + 4 if end >= 0 else -1


def parse_head(head: bytes) -> RequestHead | BadRequest:
    """Parse a request head: the bytes up to and including the blank line that ends it."""
    if len(head) > MAX_HEAD:
        return BadRequest(431, "request header fields too large")
    if not head.endswith(b"\r\n\r\n"):
        return BadRequest(400, "incomplete request head")
    lines = head[:-4].split(b"\r\n")
    request_line = lines[0]
    if len(request_line) > MAX_REQUEST_LINE:
        return BadRequest(414, "request line too long")
    parts = request_line.split(b" ")
    if len(parts) != 3:
        return BadRequest(400, "bad request line")
    method, target, version = parts
    if not method or not set(method) <= _TOKEN:
        return BadRequest(400, "bad method")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        if version.startswith(b"HTTP/"):
            return BadRequest(505, "only HTTP/1.1 is served")
        return BadRequest(400, "bad request line")
    if not target.startswith(b"/") or not set(target) <= _TARGET:
        return BadRequest(400, "bad request target")
    if len(lines) - 1 > MAX_HEADERS:
        return BadRequest(431, "too many header fields")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or not set(name) <= _TOKEN:
            # Also a line that starts with whitespace: obsolete folding, refused (RFC 9112, 5.2).
            return BadRequest(400, "bad header field")
        stripped = value.strip(b" \t")
        if any(byte < 0x20 and byte != 0x09 or byte == 0x7F for byte in stripped):
            return BadRequest(400, "bad header field")
        headers.append((name.decode("ascii").lower(), stripped.decode("latin-1")))
    request = RequestHead(method.decode("ascii"), target.decode("ascii"), tuple(headers))
    names = [name for name, _ in headers]
    if names.count("host") != 1 and version == b"HTTP/1.1":
        return BadRequest(400, "an HTTP/1.1 request needs exactly one Host field")
    if "transfer-encoding" in names or (request.header("content-length") or "0") != "0":
        return BadRequest(400, "a request body is not accepted")
    return request
