"""Accepting a TLS connection so that it holds its seat through the handshake.

asyncio's ``start_server(ssl=...)`` hands over a connection only once its
handshake is done, too late to count a stalled one toward its address's
limits. And a plain stream cannot be upgraded later with ``start_tls``
reliably: uvloop starts reading after ``connection_made`` whatever that did,
and bytes read as plain text (the client's hello) are lost to the handshake.
So the TLS endpoint's protocol (:class:`HandOver`) takes the accepted socket
from the loop's transport before the loop has read a byte from it (a duplicate
of its descriptor; the transport is then dropped), and the listener, once the
connection has its seat, starts TLS on it with the loop's public
``connect_accepted_socket`` (:func:`open_tls_stream`) within the handshake
timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Callable
from typing import cast

Address = tuple[object, ...]


class HandOver(asyncio.Protocol):
    """Gives each accepted connection's socket, with the client's address, to ``take``;
    ``on_error`` when the socket cannot be duplicated (no descriptor left)."""

    def __init__(
        self, take: Callable[[socket.socket, Address], None], on_error: Callable[[OSError], None]
    ) -> None:
        self._take = take
        self._on_error = on_error

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        address = transport.get_extra_info("peername") or ("?", 0)
        raw = transport.get_extra_info("socket")
        try:
            duplicate: socket.socket | None = socket.socket(fileno=os.dup(raw.fileno()))
        except OSError as exc:
            duplicate = None
            self._on_error(exc)
        # The duplicate keeps the connection open: dropping the loop's descriptor sends nothing.
        cast(asyncio.Transport, transport).abort()  # uvloop's transports do not subclass asyncio's
        if duplicate is not None:
            self._take(duplicate, address)

    def data_received(self, data: bytes) -> None:  # pragma: no cover - aborted before any read
        pass


async def open_tls_stream(
    sock: socket.socket, context: ssl.SSLContext, *, timeout: float, limit: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Do the server's side of the handshake on an accepted socket (at most ``timeout`` seconds)
    and return it as a stream; on failure the socket is closed and the error raised."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    try:
        transport, _ = await loop.connect_accepted_socket(
            lambda: protocol, sock, ssl=context, ssl_handshake_timeout=timeout
        )
    except BaseException:
        sock.close()  # the loop may have closed it already: then this does nothing
        raise
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


def handshake_failure(exc: BaseException) -> str:
    """Why a handshake failed, in a few words (OpenSSL's reason when there is one)."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    reason = getattr(exc, "reason", None)
    if isinstance(exc, ssl.SSLError) and reason:
        return str(reason).lower()
    text = " ".join(str(exc).split())[:120]
    if isinstance(exc, ConnectionAbortedError) and "taking longer" in text:  # asyncio's timeout
        return "timeout"
    return text or type(exc).__name__
