"""One raw HTTP/1.1 exchange with the web port, for tests: the bytes sent exactly as given."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from dataclasses import dataclass

TIMEOUT = 10.0


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    """Names lowercase (each appears once in what the server sends)."""
    body: bytes


async def exchange(
    port: int, raw: bytes, *, ssl: ssl_module.SSLContext | None = None, host: str = "127.0.0.1"
) -> HttpAnswer:
    """Send ``raw`` and read the whole answer (the server closes after it)."""
    reader, writer = await asyncio.open_connection(
        host, port, ssl=ssl, server_hostname="localhost" if ssl is not None else None
    )
    try:
        writer.write(raw)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError, ssl_module.SSLError):
            pass
    return parse_answer(data)


async def get(port: int, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
              ssl: ssl_module.SSLContext | None = None) -> HttpAnswer:
    fields = {"Host": f"127.0.0.1:{port}", **(headers or {})}
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    return await exchange(port, head.encode("latin-1"), ssl=ssl)


def parse_answer(data: bytes) -> HttpAnswer:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), lines[0]
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        assert name.lower() not in headers, f"{name} twice"
        headers[name.lower()] = value.strip()
    return HttpAnswer(status, headers, body)
