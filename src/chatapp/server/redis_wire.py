"""One Redis connection spoken directly: commands written as RESP, replies parsed by hiredis as
they arrive, each handed to a callback in the read that brought it.

This is for the busy pub/sub channels only (:mod:`chatapp.server.redis_link`); everything else
uses redis-py. Through redis-py's ``PubSub.get_message``, each message cost about 65 µs of CPU in
Python (health check, timeout, retry wrapper and the task switch around every message); here one
socket read costs one callback however many messages it holds, and hiredis parses them in C
(about 25 µs for a read holding one message, less per message when several came together). And
a batch that comes with others is handed out with them, so their recipients get one write.
Publishing writes ``PUBLISH`` without waiting for the reply: replies are read and counted as they
come, and a failed one is only counted (every batch is also in PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import hiredis
from redis.connection import SSLConnection, UnixDomainSocketConnection, parse_url

log = logging.getLogger("chatapp.redis")

CONNECT_WITHIN = 2.0
"""Seconds a connection may take to open (TCP, TLS) before the attempt counts as failed."""

RELEASE_WITHIN = 1.0
"""Seconds a closing connection may take to let go of its socket (a TLS goodbye to a Redis that
does not answer) before it is aborted."""

Reply = Any
"""What hiredis makes of one reply: bytes, int, a list, None, or a :class:`hiredis.ReplyError`."""


def command(*parts: bytes) -> bytes:
    """One Redis command as RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n" % len(part))
        out.append(part)
        out.append(b"\r\n")
    return b"".join(out)


class Refused(ConnectionError):
    """Redis refused the password (or the ACL user): its own words, which never hold the password."""


@dataclass(frozen=True)
class Address:
    """Where a Redis server is and how to sign in to it, read from a ``--redis-url``."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None
    """A Unix socket's path (``unix://``), instead of host and port."""
    tls: bool = False
    verify: bool = True
    """With TLS, whether the server's certificate is checked (``?ssl_cert_reqs=none`` turns it off;
    ``optional`` checks it, as it does for a client in Python's ``ssl``)."""
    ca_certs: str | None = None
    """With TLS, the CA file the server's certificate is checked against (``?ssl_ca_certs=``),
    instead of the system's."""
    certfile: str | None = None
    keyfile: str | None = None
    """With TLS, this process's own certificate and key (``?ssl_certfile=&ssl_keyfile=``), for a
    Redis that asks its clients for one (its ``tls-auth-clients``, on by default)."""
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Address:
        """The address in ``url`` (as redis-py reads it); ValueError if it is not a Redis URL."""
        options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        connection = options.get("connection_class")
        username, password = options.get("username"), options.get("password")
        if connection is UnixDomainSocketConnection:
            return cls(path=str(options["path"]), username=username, password=password)
        return cls(
            host=str(options.get("host") or "localhost"),
            port=int(options.get("port") or 6379),
            tls=connection is SSLConnection,
            verify=str(options.get("ssl_cert_reqs", "required")).lower() != "none",
            ca_certs=options.get("ssl_ca_certs"),
            certfile=options.get("ssl_certfile"),
            keyfile=options.get("ssl_keyfile"),
            username=username,
            password=password,
        )

    def sign_in(self) -> bytes:
        """The ``AUTH`` command to send first, or nothing when the URL has no password."""
        if self.password is None:
            return b""
        parts = [b"AUTH"]
        if self.username:
            parts.append(self.username.encode())
        parts.append(self.password.encode())
        return command(*parts)

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS settings of a ``rediss://`` address (None without TLS); OSError (an
        ``ssl.SSLError``) when a certificate file cannot be read."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_certs)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.certfile is not None:
            context.load_cert_chain(self.certfile, self.keyfile)
        return context

    def __repr__(self) -> str:  # never the password (it would end up in a log line)
        where = self.path or f"{self.host}:{self.port}"
        return f"Address({where}{', tls' if self.tls else ''})"


KEEPALIVE_IDLE = 5
KEEPALIVE_INTERVAL = 2
KEEPALIVE_PROBES = 3
"""A quiet connection is probed after 5 s, every 2 s, and given up after 3 unanswered probes:
a Redis gone without closing (a network cut, its host down) is found in about 11 s, instead of
the system's default of over two hours, which a quiet subscribed connection would have waited."""

UNACKED_MOST_MS = 15_000
"""Milliseconds written data may stay unacknowledged before the connection is given up: the
keepalive does not probe a connection with data in flight (the publisher's, Redis gone)."""


def found_gone_within(sock: socket.socket) -> None:
    """Set the keepalive and the unacknowledged-data timeout (where the system has them)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_PROBES),
        ("TCP_USER_TIMEOUT", UNACKED_MOST_MS),
    ):
        if (option := getattr(socket, name, None)) is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


class Wire(asyncio.Protocol):
    """A connection whose replies go to ``on_reply`` in the order they come.

    ``closed`` resolves when the connection ends (with the exception that ended it, or None);
    a reply Redis cannot have sent (a protocol error) ends it too.
    """

    def __init__(self, on_reply: Callable[[Reply], None]) -> None:
        self._on_reply = on_reply
        self._reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[BaseException | None] = loop.create_future()
        self._released: asyncio.Future[None] = loop.create_future()
        """Resolves when the transport has let go of its socket (connection_lost)."""
        self._holding: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is one, without the base class
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family != socket.AF_UNIX:
            found_gone_within(sock)

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        try:
            while (reply := reader.gets()) is not False:
                self._on_reply(reply)  # read each time: replies_to may change it in between
        except Exception as exc:  # a reply Redis cannot have sent, or a bug in what handles it
            log.warning("event=redis_reply_failed error=%r", exc)
            self.close(exc)

    def replies_to(self, on_reply: Callable[[Reply], None]) -> None:
        """Hand the replies from now on to ``on_reply`` (once signed in)."""
        self._on_reply = on_reply

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def buffered(self) -> int:
        """Bytes written and not yet sent (Redis is slow, or gone)."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def is_open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing() and not self.closed.done()

    def hold(self, seconds: float) -> None:
        """Read nothing for ``seconds``: what comes meanwhile waits in the socket, and is then read
        and handed out together. Holding already, or closed, nothing changes."""
        if self._holding is not None or not self.is_open():
            return
        assert self.transport is not None
        self.transport.pause_reading()
        self._holding = asyncio.get_running_loop().call_later(seconds, self._let_go)

    def let_go(self) -> None:
        """End a hold early: read what waits in the socket now. Not holding, nothing changes."""
        if self._holding is not None:
            self._holding.cancel()
            self._let_go()

    def _let_go(self) -> None:
        self._holding = None
        if self.is_open():
            assert self.transport is not None
            self.transport.resume_reading()

    def close(self, why: BaseException | None = None) -> None:
        if self._holding is not None:
            self._holding.cancel()
            self._holding = None
        if not self.closed.done():
            self.closed.set_result(why)
        if self.transport is not None:
            self.transport.close()

    async def shut(self) -> None:
        """Close, and return once the socket is released: ``close`` only asks the transport,
        which lets go in a later turn of the loop (a TLS one after its goodbye), and a loop
        ending first leaves the socket open ("unclosed transport"). Bounded by
        :data:`RELEASE_WITHIN`, after which the transport is aborted."""
        self.close()
        if self.transport is None:
            return
        await asyncio.wait((self._released,), timeout=RELEASE_WITHIN)
        if not self._released.done():
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc or ConnectionResetError("Redis closed the connection"))
        if not self._released.done():
            self._released.set_result(None)


async def connect(address: Address, on_reply: Callable[[Reply], None]) -> Wire:
    """Open a connection to ``address`` and sign in when it has a password, so that every reply
    ``on_reply`` gets is to a command of the caller's. :class:`Refused` when Redis refuses the
    password; OSError or TimeoutError if the connection cannot be opened within
    :data:`CONNECT_WITHIN` (signing in included)."""
    loop = asyncio.get_running_loop()
    auth = address.sign_in()
    signed_in: asyncio.Future[Reply] = loop.create_future()
    wire = Wire(signed_in.set_result if auth else on_reply)
    try:
        async with asyncio.timeout(CONNECT_WITHIN):
            if address.path is not None:
                await loop.create_unix_connection(lambda: wire, address.path)
            else:
                context = address.tls_context()
                await loop.create_connection(
                    lambda: wire,
                    address.host,
                    address.port,
                    ssl=context,
                    server_hostname=address.host if context else None,
                )
            if auth:
                # AUTH's reply is awaited (once per connection): a refusal is told apart from a
                # Redis that is down, and nothing is sent before Redis knows who this is.
                wire.write(auth)
                await asyncio.wait((signed_in, wire.closed), return_when=asyncio.FIRST_COMPLETED)
                if not signed_in.done():
                    raise ConnectionResetError(f"closed at AUTH: {wire.closed.result()!r}")
                if isinstance(reply := signed_in.result(), hiredis.ReplyError):
                    raise Refused(f"Redis refused the password: {reply}")
                wire.replies_to(on_reply)
    except BaseException:
        await wire.shut()
        raise
    return wire
