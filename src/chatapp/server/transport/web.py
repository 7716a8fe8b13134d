"""The web port's HTTP side: one request per connection, a file or a WebSocket handshake.

The listener hands each accepted connection on a web endpoint (its seat
taken, its TLS handshake done) to :meth:`WebFront.open`, which reads one
request head within ``--web-request-timeout`` (a client that sends it slowly
is closed then, holding its seat meanwhile, like a stalled TLS handshake) and
answers it:

- ``/ws``: the WebSocket handshake, if the page's ``Origin`` is allowed
  (:class:`~chatapp.server.web_origin.OriginPolicy`; else 403, logged as a
  refusal); websockets checks the handshake's headers and makes the answer.
  The connection goes on as a :class:`~chatapp.server.transport.websocket.
  WebSocketConnection`, returned to the listener to serve like a TCP one.
- ``/files/FILE?ticket=…``: a shared file, by a download link
  (:mod:`~chatapp.server.transport.file_download`), and the connection is closed.
- anything else: a file of the :class:`~chatapp.server.static_site.StaticSite`,
  or an error, and the connection is closed (no keep-alive: a page is three
  files, and a connection that stays idle would hold a seat for nothing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress

from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.server import ServerProtocol as SocketProtocol

from chatapp.server.config import Config
from chatapp.server.services import Services
from chatapp.server.static_site import StaticSite, error_response, security_headers
from chatapp.server.transport.file_download import PREFIX as DOWNLOAD_PREFIX
from chatapp.server.transport.file_download import serve_download
from chatapp.server.transport.http_request import MAX_HEAD, BadRequest, head_end, parse_head
from chatapp.server.transport.websocket import WebSocketConnection, socket_protocol
from chatapp.server.web_origin import OriginPolicy

WEBSOCKET_PATH = "/ws"

Refused = Callable[[str], None]
"""Logs a refusal of this connection, by kind (once per kind per interval)."""


class WebFront:
    """One web endpoint (plain or TLS): its files, its origin policy, its request limits."""

    def __init__(self, config: Config, site: StaticSite, origins: OriginPolicy, *, tls: bool) -> None:
        self._config = config
        self.site = site
        self._origins = origins
        self.tls = tls
        self.scheme = "https" if tls else "http"

    async def open(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, services: Services, refused: Refused
    ) -> tuple[WebSocketConnection, bytes] | None:
        """Answer the connection's request; a WebSocket connection to serve (and the bytes read
        past the handshake), or None when it was answered and closed."""
        buffer = bytearray()
        end = -1
        try:
            async with asyncio.timeout(self._config.web_request_timeout):
                while (end := head_end(buffer)) < 0 and len(buffer) <= MAX_HEAD:
                    data = await reader.read(4096)
                    if not data:
                        break
                    buffer += data
        except TimeoutError:
            refused("web_request_timeout")
            await self._close(writer)
            return None
        except (ConnectionError, OSError):
            await self._close(writer)
            return None
        if end < 0:  # ended, or too long, before the request was whole
            if len(buffer) > MAX_HEAD:
                await self._answer(writer, error_response(431, "request too large", tls=self.tls, host=None))
            else:
                await self._close(writer)
            return None
        request = parse_head(bytes(buffer[:end]))
        if isinstance(request, BadRequest):
            refusal = error_response(request.status, request.reason, tls=self.tls, host=None)
            await self._answer(writer, refusal)
            return None
        host = request.header("host")
        if request.path.startswith(DOWNLOAD_PREFIX):
            try:
                await serve_download(request, writer, services, tls=self.tls)
            except (TimeoutError, ConnectionError, OSError):
                writer.transport.abort()
            await self._close(writer)
            return None
        if request.path != WEBSOCKET_PATH:
            await self._answer(writer, self.site.respond(request, tls=self.tls))
            return None
        if request.method != "GET":
            await self._answer(writer, error_response(405, "method not allowed", tls=self.tls, host=host))
            return None
        if not self._origins.allows(request.header("origin"), scheme=self.scheme, host=host):
            refused("origin")
            await self._answer(writer, error_response(403, "origin not allowed", tls=self.tls, host=host))
            return None
        handshake = SocketProtocol().accept(Request(request.target, Headers(request.headers)))
        for name, value in security_headers(tls=self.tls, host=host):
            handshake.headers[name] = value
        if handshake.status_code != 101:
            await self._answer(writer, handshake.serialize())
            return None
        writer.write(handshake.serialize())
        connection = WebSocketConnection(reader, writer, services, socket_protocol(self._config.max_frame))
        return connection, bytes(buffer[end:])

    def refusal(self, status: int, text: str) -> bytes:
        """What a connection refused at accept is told (503: a limit; 403: a banned address)."""
        return error_response(status, text, tls=self.tls, host=None)

    async def _answer(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        with suppress(ConnectionError, OSError):
            writer.write(data)
        await self._close(writer)

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        """Close after the answer is flushed; a client that does not read it is cut off after
        ``--close-grace``."""
        writer.close()
        try:
            async with asyncio.timeout(self._config.close_grace):
                await writer.wait_closed()
        except TimeoutError:
            writer.transport.abort()
        except (ConnectionError, OSError):
            pass

