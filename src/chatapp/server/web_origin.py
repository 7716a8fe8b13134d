"""Which web pages may open the web client's WebSocket: origins, parsed strictly, and the policy.

A browser sends an ``Origin`` header with every WebSocket handshake, naming the
page that opens it; cookies or not, a page from another site must not get a
connection that the user's browser opened for it (cross-site WebSocket
hijacking). The policy: the origins given with ``--web-origin``, or, when none
is, the request's own origin (its scheme and ``Host`` header: the page was
served by this server under the same name). A handshake without ``Origin``
comes from a program, not a page (browsers always send one): it is allowed,
as a program can connect to the plain port anyway.

Origins are compared in one normal form: ``scheme://host[:port]``, scheme and
host lowercase, the scheme's default port left out. Anything else — a path,
user information, ``null``, an unknown scheme, a bad port — is no origin.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

MAX_ORIGIN = 300
"""Longest origin looked at (a host name is at most 253 characters)."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_CHARACTERS = frozenset(string.ascii_lowercase + string.digits + "-.")
_IPV6_CHARACTERS = frozenset(string.hexdigits.lower() + ":.")


def parse_origin(text: str) -> str | None:
    """``text`` in the normal form of an origin, or None if it is not one."""
    if len(text) > MAX_ORIGIN or not text.isascii():
        return None
    scheme, separator, rest = text.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in _DEFAULT_PORTS:
        return None
    host_port = _host_and_port(rest.lower())
    if host_port is None:
        return None
    host, port = host_port
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _host_and_port(text: str) -> tuple[str, int | None] | None:
    if text.startswith("["):  # an IPv6 literal
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[: end + 1], text[end + 1 :]
        inside = host[1:-1]
        if not inside or not set(inside) <= _IPV6_CHARACTERS or ":" not in inside:
            return None
    else:
        host, colon, port_text = text.partition(":")
        rest = colon + port_text
        if not host or not set(host) <= _HOST_CHARACTERS or host.startswith((".", "-")) or ".." in host:
            return None
    if not rest:
        return host, None
    if not rest.startswith(":"):
        return None
    digits = rest[1:]
    if not digits or len(digits) > 5 or not digits.isdigit() or not 1 <= int(digits) <= 65535:
        return None
    return host, int(digits)


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    """Whose pages may open the WebSocket: ``allowed`` origins (normal form), or, when empty, the
    request's own."""

    allowed: frozenset[str] = frozenset()

    @classmethod
    def of(cls, origins: tuple[str, ...]) -> OriginPolicy:
        parsed = {parse_origin(origin) for origin in origins}
        if None in parsed:
            raise ValueError(f"not an origin among {origins!r}")
        return cls(frozenset(origin for origin in parsed if origin is not None))

    def allows(self, origin: str | None, *, scheme: str, host: str | None) -> bool:
        """Whether a handshake with this ``Origin`` header (None: none sent), made to this
        server over ``scheme`` (``http``, ``https``) with this ``Host`` header, may go on."""
        if origin is None:
            return True
        claimed = parse_origin(origin)
        if claimed is None:
            return False
        if self.allowed:
            return claimed in self.allowed
        return host is not None and claimed == parse_origin(f"{scheme}://{host}")
