"""A shared file by link on the web port: ``GET /files/FILE?ticket=TICKET`` (docs/protocol.md,
"File sharing").

The ticket (:mod:`chatapp.server.file_tickets`) names the user; the service checks that they may
still read the file. The answer is an attachment that no browser runs or renders in the web
client's origin: ``application/octet-stream``, ``Content-Disposition: attachment``, ``nosniff``
and a CSP ``sandbox``. The bytes go out in pieces read in an executor, each written only once
the previous one has drained, so a slow reader holds one piece in memory, not the file; one that
takes no piece within ``--web-request-timeout`` is cut off.
"""

from __future__ import annotations

import asyncio
import re
import urllib.parse

from chatapp.server.services import Services
from chatapp.server.static_site import error_response, response
from chatapp.server.transport.http_request import RequestHead

PREFIX = "/files/"
PIECE = 256 * 1024
"""Bytes read and written at a time."""

_FILE_ID = re.compile(r"[A-Za-z0-9_-]{16,32}")
_SAFE = re.compile(r"[^A-Za-z0-9._ -]")


def content_disposition(name: str) -> str:
    """``attachment`` with the name twice: a plain ASCII fallback, and the exact name (RFC 6266,
    percent-encoded UTF-8 per RFC 8187) for browsers that read ``filename*``."""
    fallback = _SAFE.sub("_", name).strip(" .") or "file"
    exact = urllib.parse.quote(name, safe="")
    return f'attachment; filename="{fallback}"; filename*=UTF-8\'\'{exact}'


def download_headers(name: str) -> list[tuple[str, str]]:
    return [
        ("Content-Disposition", content_disposition(name)),
        ("X-Content-Type-Options", "nosniff"),
        ("Content-Security-Policy", "sandbox; default-src 'none'"),
        ("Cache-Control", "private, no-store"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
    ]


async def serve_download(
    request: RequestHead, writer: asyncio.StreamWriter, services: Services, *, tls: bool
) -> None:
    """Answer a download request (the caller closes the connection after)."""
    host = request.header("host")
    head_only = request.method == "HEAD"
    if request.method not in ("GET", "HEAD"):
        writer.write(error_response(405, "method not allowed", tls=tls, host=host))
        return
    file_id = request.path.removeprefix(PREFIX)
    ticket = urllib.parse.parse_qs(request.query).get("ticket", [""])[0]
    file = None
    if _FILE_ID.fullmatch(file_id) and ticket:
        file = await services.downloads.by_ticket(file_id, ticket)
    if file is None:
        writer.write(error_response(404, "not found", tls=tls, host=host, head_only=head_only))
        return
    head = response(200, download_headers(file.name), head_only=True, content_type="application/octet-stream")
    # The length is the file's, not the empty body's that response() was given.
    head = head.replace(b"Content-Length: 0\r\n", f"Content-Length: {file.size}\r\n".encode())
    writer.write(head)
    if head_only:
        return
    timeout = services.config.web_request_timeout
    offset = 0
    while offset < file.size:
        piece = await services.downloads.read_blob(file.sha256, offset, PIECE)
        if not piece:
            writer.transport.abort()  # the blob vanished mid-way: a short body, never a wrong one
            return
        writer.write(piece)
        offset += len(piece)
        async with asyncio.timeout(timeout):
            await writer.drain()
