"""The web client's files, served from the installed package: a fixed table made at start.

Every file under ``chatapp/web/static`` (read through :mod:`importlib.resources`,
so a plain ``pip install`` serves them) goes into a table of path to response
when the server starts; a request only ever looks a path up in that table,
byte for byte: nothing a client sends reaches the filesystem, so there is no
traversal to get wrong (``/../``, ``%2e%2e``, ``//``, backslashes, NUL bytes
are simply not in the table). Left out of the table: dotfiles, symbolic
links, names with other characters than letters, digits, ``-``, ``_``, ``.``,
and files of a type not in :data:`CONTENT_TYPES`.

Caching: an HTML page is served with ``no-cache`` (revalidated every time,
with its ETag, so a new version shows at once). Its references to the other
files (``src="app.js"``, ``href="app.css"``) are rewritten at start to carry a
hash of the file's content (``app.js?v=1a2b3c4d5e6f``); a request with the
current hash is ``immutable`` for a year, since that URL's content never
changes; any other (no hash, an old hash) is ``no-cache``. Every response,
errors included, carries the security headers of :func:`security_headers`.
"""

from __future__ import annotations

import email.utils
import hashlib
import importlib.resources
import re
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path

from chatapp.server.transport.http_request import RequestHead
from chatapp.server.web_origin import parse_origin

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
MAX_DEPTH = 4
"""Directories below ``static`` that are looked into."""
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
METHODS = ("GET", "HEAD")

_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")
_REFERENCE = re.compile(rb'(src|href)="([^"?#:]+)"')
_STATUS = {
    200: "OK",
    304: "Not Modified",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    414: "URI Too Long",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    version: str
    """A hash of the content: the ``v`` of its versioned URL."""
    page: bool
    """An HTML page: always revalidated."""


def security_headers(*, tls: bool, host: str | None) -> list[tuple[str, str]]:
    """The headers every response carries. ``host``: the request's ``Host``, for the exact
    WebSocket origin the page may connect to (CSP's ``'self'`` covers ws: only in newer
    browsers); a ``Host`` that is not a host name adds nothing."""
    own = parse_origin(f"http://{host}") if host is not None else None
    sockets = f" ws://{own.removeprefix('http://')} wss://{own.removeprefix('http://')}" if own else ""
    csp = (
        f"default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'{sockets}; "
        "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    headers = [
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if tls:
        headers.append(("Strict-Transport-Security", "max-age=31536000"))
    return headers


def response(
    status: int,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    *,
    head_only: bool = False,
    content_type: str = "text/plain; charset=utf-8",
) -> bytes:
    """A whole HTTP/1.1 response that closes the connection after it (``head_only``: without the
    body, as for HEAD, but with its length)."""
    lines = [f"HTTP/1.1 {status} {_STATUS.get(status, 'Error')}"]
    fields = [("Date", email.utils.formatdate(usegmt=True)), ("Connection", "close"), *headers]
    if status != 304:
        fields += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    lines += [f"{name}: {value}" for name, value in fields]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only or status == 304 else head + body


def error_response(status: int, text: str, *, tls: bool, host: str | None, head_only: bool = False) -> bytes:
    """A small plain-text error page."""
    extra = [("Allow", ", ".join(METHODS))] if status == 405 else []
    extra.append(("Cache-Control", "no-store"))
    body = f"{status} {text}\n".encode()
    return response(status, security_headers(tls=tls, host=host) + extra, body, head_only=head_only)


class StaticSite:
    """The table of files, by request path (``/`` is ``/index.html``)."""

    def __init__(self, assets: dict[str, Asset]) -> None:
        self.assets = assets

    @classmethod
    def load(cls, root: Traversable | None = None) -> StaticSite:
        """Read every file (blocking: call before serving, or in an executor)."""
        if root is None:
            root = importlib.resources.files("chatapp.web").joinpath("static")
        found: dict[str, bytes] = {}
        _collect(root, "", found, 0)
        assets = {path: _asset(path, body) for path, body in found.items() if not path.endswith(".html")}
        for path, body in found.items():
            if path.endswith(".html"):
                assets[path] = _asset(path, _versioned(path, body, assets), page=True)
        if "/index.html" in assets:
            assets["/"] = assets["/index.html"]
        return cls(assets)

    def respond(self, request: RequestHead, *, tls: bool) -> bytes:
        """The response to a request for a file."""
        host = request.header("host")
        head_only = request.method == "HEAD"
        if request.method not in METHODS:
            return error_response(405, "method not allowed", tls=tls, host=host)
        asset = self.assets.get(request.path)
        if asset is None:
            return error_response(404, "not found", tls=tls, host=host, head_only=head_only)
        current = not asset.page and request.query == f"v={asset.version}"
        headers = security_headers(tls=tls, host=host)
        headers += [("Cache-Control", IMMUTABLE if current else REVALIDATE), ("ETag", asset.etag)]
        if _matches(request.header("if-none-match"), asset.etag):
            return response(304, headers)
        return response(200, headers, asset.body, head_only=head_only, content_type=asset.content_type)


def _collect(directory: Traversable, prefix: str, found: dict[str, bytes], depth: int) -> None:
    for entry in directory.iterdir():
        name = entry.name
        if not _NAME.fullmatch(name) or (isinstance(entry, Path) and entry.is_symlink()):
            continue  # dotfiles, odd names, symbolic links: never served
        path = f"{prefix}/{name}"
        if entry.is_dir():
            if depth < MAX_DEPTH:
                _collect(entry, path, found, depth + 1)
        elif entry.is_file() and _suffix(name) in CONTENT_TYPES:
            found[path] = entry.read_bytes()


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot > 0 else ""


def _asset(path: str, body: bytes, *, page: bool = False) -> Asset:
    digest = hashlib.sha256(body).hexdigest()
    return Asset(body, CONTENT_TYPES[_suffix(path)], f'"{digest[:32]}"', digest[:12], page)


def _versioned(page_path: str, body: bytes, assets: dict[str, Asset]) -> bytes:
    """The page with its references to other files carrying their content's hash."""
    directory = page_path.rsplit("/", 1)[0]

    def rewrite(match: re.Match[bytes]) -> bytes:
        reference = match.group(2).decode("ascii", "replace")
        path = reference if reference.startswith("/") else f"{directory}/{reference.removeprefix('./')}"
        asset = assets.get(path)
        if asset is None:
            return match.group(0)
        return match.group(1) + f'="{reference}?v={asset.version}"'.encode()

    return _REFERENCE.sub(rewrite, body)


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False
