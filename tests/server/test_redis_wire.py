"""The Redis connection spoken directly (:mod:`chatapp.server.redis_wire`): what it writes is what
Redis's own parser reads back, and the addresses of ``--redis-url`` are read as redis-py reads them,
without the password ever showing. Against a real Redis: signing in, refusals, TLS and Unix sockets
are in ``test_redis_link.py`` (they need a server with a password)."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("redis")
hiredis = pytest.importorskip("hiredis")

from chatapp.server.redis_wire import Address, Reply, command, connect  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

parts = st.lists(st.binary(max_size=300), min_size=1, max_size=8)
text = st.characters(exclude_categories=("Cs",))
passwords = st.text(text, min_size=1, max_size=40).map(lambda p: "pw-" + p)
usernames = st.text(text, min_size=1, max_size=20)
hosts = st.sampled_from(["127.0.0.1", "localhost", "redis.example.org", "10.1.2.3"])


@given(parts)
def test_a_command_is_read_back_by_hiredis_as_its_parts(given_parts: list[bytes]) -> None:
    reader = hiredis.Reader()
    reader.feed(command(*given_parts))
    assert reader.gets() == given_parts
    assert reader.gets() is False  # nothing more, nothing left over


@given(st.lists(parts, min_size=1, max_size=5), st.integers(1, 50))
def test_commands_cut_anywhere_are_read_back_whole_and_in_order(
    commands: list[list[bytes]], step: int
) -> None:
    reader = hiredis.Reader()
    data = b"".join(command(*c) for c in commands)
    read: list[Reply] = []
    for at in range(0, len(data), step):
        reader.feed(data[at : at + step])
        while (reply := reader.gets()) is not False:
            read.append(reply)
    assert read == commands


@given(
    st.sampled_from(["redis", "rediss"]),
    hosts,
    st.none() | st.integers(1, 65535),
    st.none() | usernames,
    st.none() | passwords,
    st.sampled_from(["", "/0", "/3"]),
)
def test_a_tcp_url_is_read_and_its_password_never_shown(
    scheme: str, host: str, port: int | None, username: str | None, password: str | None, db: str
) -> None:
    signed = ""
    if password is not None:
        signed = f"{quote(username or '', safe='')}:{quote(password, safe='')}@"
    url = f"{scheme}://{signed}{host}{'' if port is None else f':{port}'}{db}"
    address = Address.from_url(url)
    assert (address.host, address.port, address.path) == (host, port or 6379, None)
    assert address.tls is (scheme == "rediss")
    assert address.verify
    assert address.password == password
    assert address.username == (username if password is not None else None)
    if password is not None:
        assert password not in repr(address) and password not in str(address)
        auth = hiredis.Reader()
        auth.feed(address.sign_in())
        assert auth.gets() == [b"AUTH", *([username.encode()] if username else []), password.encode()]
    else:
        assert address.sign_in() == b""


@given(st.none() | passwords)
def test_a_unix_url_is_read_and_its_password_never_shown(password: str | None) -> None:
    signed = "" if password is None else f":{quote(password, safe='')}@"
    address = Address.from_url(f"unix://{signed}/run/redis/redis.sock?db=0")
    assert address.path == "/run/redis/redis.sock"
    assert address.password == password
    assert password is None or password not in repr(address)


@pytest.mark.parametrize(
    ("query", "verify"),
    [
        ("", True),
        ("?ssl_cert_reqs=required", True),
        ("?ssl_cert_reqs=none", False),
        ("?ssl_cert_reqs=optional", True),
    ],
)
def test_tls_checks_the_certificate_unless_told_none(query: str, verify: bool) -> None:
    # In Python's ssl, CERT_OPTIONAL means CERT_REQUIRED for a client: "optional" must not turn
    # the check off (it did: a MITM's certificate was taken).
    address = Address.from_url(f"rediss://redis.example.org:6380/0{query}")
    assert address.tls and address.verify is verify
    context = address.tls_context()
    assert context is not None
    assert context.check_hostname is verify


def test_the_tls_files_of_the_url_are_read() -> None:
    query = "ssl_ca_certs=/etc/ca.pem&ssl_certfile=/etc/me.pem&ssl_keyfile=/etc/me.key"
    address = Address.from_url(f"rediss://h/0?{query}")
    assert address.ca_certs == "/etc/ca.pem"
    assert (address.certfile, address.keyfile) == ("/etc/me.pem", "/etc/me.key")
    assert Address.from_url("redis://h/0").tls_context() is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "redis:/x", "redis://h:notaport/0"])
def test_what_is_not_a_redis_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        Address.from_url(url)


async def test_replies_come_in_order_and_a_failing_handler_ends_only_its_connection(
    redis_server: RedisServer,
) -> None:
    replies: list[Reply] = []
    wire = await connect(Address.from_url(redis_server.url), replies.append)
    try:
        wire.write(command(b"PING") + command(b"ECHO", b"\x00\r\nbin") + command(b"NOSUCHCOMMAND"))
        async with asyncio.timeout(5):
            while len(replies) < 3:
                await asyncio.sleep(0.01)
        assert replies[:2] == [b"PONG", b"\x00\r\nbin"]
        assert isinstance(replies[2], hiredis.ReplyError)
    finally:
        wire.close()

    def failing(reply: Reply) -> None:
        raise RuntimeError("a bug in a handler")

    broken = await connect(Address.from_url(redis_server.url), failing)
    other = await connect(Address.from_url(redis_server.url), replies.append)
    try:
        broken.write(command(b"PING"))
        async with asyncio.timeout(5):
            why = await broken.closed
        assert isinstance(why, RuntimeError)
        assert not broken.is_open()
        other.write(command(b"ECHO", b"still here"))
        async with asyncio.timeout(5):
            while replies[-1] != b"still here":
                await asyncio.sleep(0.01)
    finally:
        broken.close()
        other.close()


async def test_connecting_where_no_redis_is_fails_with_oserror() -> None:
    from tests.support.postgres import free_port

    with pytest.raises(OSError):
        await connect(Address.from_url(f"redis://127.0.0.1:{free_port()}/0"), lambda reply: None)


@pytest.mark.skipif(not hasattr(socket, "TCP_USER_TIMEOUT"), reason="Linux's TCP options")
async def test_a_redis_gone_without_closing_is_found_within_seconds(redis_server: RedisServer) -> None:
    # A network cut cannot be made here without privileges; what finds one is the socket's
    # settings, read back from the connection: probes after 5 s idle (not the system's 2 hours),
    # and data unacknowledged for 15 s given up.
    wire = await connect(Address.from_url(redis_server.url), lambda reply: None)
    try:
        assert wire.transport is not None
        sock = wire.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        idle = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
        probes = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)
        interval = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)
        assert idle + probes * interval <= 15
        assert 0 < sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) <= 15_000
    finally:
        wire.close()
