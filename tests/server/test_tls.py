"""TLS on the server, for real on 127.0.0.1: CA-verified and self-signed certificates, the
handshake's timeout and its seat in the connection limits, clients on the wrong port.

These run an in-process server on an SQLite file of their own: TLS is the transport's, the
database does not take part (tests/server/test_*.py run the store on both backends)."""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import stat
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from chatapp.fingerprint import certificate_fingerprint
from chatapp.protocol import Bye, ByeReason, Direct, Presence, SendDirect
from chatapp.server.app import ChatServer
from chatapp.server.tls import TlsSetupError, certificate_file_fingerprint
from tests.server.conftest import fast_config
from tests.support.wire import WireClient

WAIT = 10.0
"""The longest a test waits for something that should happen (far longer than it takes)."""

Start = Callable[..., Awaitable[ChatServer]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    servers: list[ChatServer] = []

    async def start_server(**overrides: Any) -> ChatServer:
        settings = {"tls_port": 0, **overrides}
        server = ChatServer(fast_config(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}", **settings))
        await server.start()
        servers.append(server)
        return server

    yield start_server
    for server in servers:
        await server.shutdown()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def ca_files(ca: trustme.CA, directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 issued by ``ca`` through an intermediate (so the
    file is a chain), and its key."""
    intermediate = ca.create_child_ca()
    issued = intermediate.issue_cert("localhost", "127.0.0.1")
    cert, key = directory / "chain.pem", directory / "key.pem"
    issued.private_key_pem.write_to_path(str(key))
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    return cert, key


def trusting(certificate: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate))


async def tls_client(server: ChatServer, context: ssl.SSLContext) -> WireClient:
    return await WireClient.connect("127.0.0.1", server.tls_port, ssl=context, server_hostname="localhost")


async def open_tls(
    server: ChatServer, context: ssl.SSLContext
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw TLS connection to the server's TLS port, waiting at most WAIT."""
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", server.tls_port, ssl=context, server_hostname="localhost"), WAIT
    )


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"event={name} ")]


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server has closed the connection (EOF or reset), waiting at most WAIT."""
    try:
        return await asyncio.wait_for(reader.read(), WAIT) == b""
    except ConnectionError:
        return True


async def test_a_ca_verified_certificate_chain_serves_the_protocol_over_tls_1_3(
    start: Start, ca: trustme.CA, tmp_path: Path
) -> None:
    cert, key = ca_files(ca, tmp_path)
    server = await start(tls_cert=str(cert), tls_key=str(key))
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    alice = await tls_client(server, client_context)
    bob = await tls_client(server, client_context)
    try:
        assert alice.writer.get_extra_info("ssl_object").version() == "TLSv1.3"
        await alice.register("alice")
        await bob.register("bob")
        await alice.send(SendDirect(to="bob", text="over tls", ref=1))
        assert (await bob.expect(Direct, skip=(Presence,))).text == "over tls"
    finally:
        await alice.close()
        await bob.close()
    assert server.tls is not None and server.tls.fingerprint == certificate_file_fingerprint(cert)


async def test_a_tls_client_that_leaves_ends_its_connection_cleanly(
    start: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = await start(tls="self-signed")
    reader, writer = await open_tls(server, trusting(tmp_path / "tls-cert.pem"))
    assert b'"welcome"' in await reader.readline()
    writer.close()  # close_notify, then the socket: the server's TLS transport closes itself
    await asyncio.wait_for(_logged(caplog, "disconnect"), WAIT)
    assert "reason=disconnect" in events(caplog, "disconnect")[0]
    await server.shutdown()  # every connection's task has ended, and said so if it failed
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_the_plain_port_still_serves_beside_the_tls_one(
    start: Start, ca: trustme.CA, tmp_path: Path
) -> None:
    cert, key = ca_files(ca, tmp_path)
    server = await start(tls_cert=str(cert), tls_key=str(key))
    plain = await WireClient.connect("127.0.0.1", server.port)
    try:
        assert plain.writer.get_extra_info("ssl_object") is None
        assert (await plain.register("carol")).token
    finally:
        await plain.close()


async def test_self_signed_files_are_made_once_with_a_private_key_and_reused(
    start: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start(tls="self-signed")
    cert, key = tmp_path / "tls-cert.pem", tmp_path / "tls-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(events(caplog, "tls_created")) == 1
    logged = re.search(r"fingerprint=(\S+)", events(caplog, "tls")[0])
    assert logged is not None
    from_file = certificate_file_fingerprint(cert)
    assert logged.group(1) == from_file
    # The fingerprint a client computes from what it is sent is the same string.
    client = await tls_client(server, trusting(cert))
    try:
        der = client.writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert certificate_fingerprint(der) == from_file
        # ...and what openssl prints (cryptography's own hash of the certificate, hex pairs).
        parsed = x509.load_pem_x509_certificate(cert.read_bytes())
        assert from_file == "SHA256:" + parsed.fingerprint(hashes.SHA256()).hex(":").upper()
        names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in names.get_values_for_type(x509.DNSName)
        assert isinstance(parsed.public_key(), ec.EllipticCurvePublicKey)
    finally:
        await client.close()
    await server.shutdown()
    before = (cert.read_bytes(), key.read_bytes())
    caplog.clear()
    again = await start(tls="self-signed")
    assert (cert.read_bytes(), key.read_bytes()) == before
    assert events(caplog, "tls_created") == []
    assert events(caplog, "tls_key_exposed") == []
    assert again.tls is not None and again.tls.fingerprint == from_file
    # A key someone made readable to others is still used, and warned about at every start.
    await again.shutdown()
    key.chmod(0o644)
    await start(tls="self-signed")
    exposed = events(caplog, "tls_key_exposed")
    assert len(exposed) == 1 and "mode=0o644" in exposed[0]


async def test_a_plain_client_on_the_tls_port_is_closed_not_left_hanging(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start(tls="self-signed", tls_handshake_timeout=30.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.tls_port)
    writer.write(b'{"type":"login","username":"alice","password":"secret words"}\n')
    try:
        assert await closed_by_server(reader)
    finally:
        writer.close()
    failed = events(caplog, "tls_handshake_failed")
    assert len(failed) == 1 and "timeout" not in failed[0]
    assert "secret words" not in caplog.text


async def test_a_tls_client_on_the_plain_port_fails_with_a_clear_error(start: Start, tmp_path: Path) -> None:
    server = await start(tls="self-signed")
    with pytest.raises(ssl.SSLError, match="WRONG_VERSION_NUMBER|wrong version number"):
        await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", server.port, ssl=trusting(tmp_path / "tls-cert.pem"), server_hostname="localhost"
            ),
            WAIT,
        )


async def test_a_stalled_handshake_is_closed_after_the_timeout_and_logged_once(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start(tls="self-signed", tls_handshake_timeout=0.5)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.tls_port)  # says nothing
    try:
        assert await closed_by_server(reader)
    finally:
        writer.close()
    failed = events(caplog, "tls_handshake_failed")
    assert len(failed) == 1 and "reason=timeout" in failed[0]


async def test_a_handshake_holds_its_seat_in_the_per_address_limit(
    start: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start(tls="self-signed", tls_handshake_timeout=1.0, max_connections_per_address=1)
    stalled_reader, stalled_writer = await asyncio.open_connection("127.0.0.1", server.tls_port)
    try:
        # The stalled handshake has the address's only seat: a second TLS client is closed
        # before its handshake, a plain one is told why.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await open_tls(server, trusting(tmp_path / "tls-cert.pem"))
        plain = await WireClient.connect("127.0.0.1", server.port, greet=False)
        bye = await plain.expect(Bye)
        assert bye.reason == ByeReason.TOO_MANY_CONNECTIONS.value
        await plain.close()
        assert any("reason=too_many_connections" in line for line in events(caplog, "refused"))
        # The timeout closes the stalled one and gives its seat back.
        assert await closed_by_server(stalled_reader)
    finally:
        stalled_writer.close()
    later = await tls_client(server, trusting(tmp_path / "tls-cert.pem"))
    assert later.welcome is not None
    await later.close()


async def test_tls_1_1_is_refused(start: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    server = await start(tls="self-signed")
    old = trusting(tmp_path / "tls-cert.pem")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # as they should be
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # this side would allow it: the server must say no
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await open_tls(server, old)
    await asyncio.wait_for(_logged(caplog, "tls_handshake_failed"), WAIT)
    assert "reason=unsupported_protocol" in events(caplog, "tls_handshake_failed")[0]


async def _logged(caplog: pytest.LogCaptureFixture, name: str) -> None:
    while not events(caplog, name):
        await asyncio.sleep(0.01)


async def test_tls_1_2_is_still_accepted(start: Start, tmp_path: Path) -> None:
    server = await start(tls="self-signed")
    context = trusting(tmp_path / "tls-cert.pem")
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    client = await tls_client(server, context)
    try:
        assert client.writer.get_extra_info("ssl_object").version() == "TLSv1.2"
    finally:
        await client.close()


async def test_a_plain_listener_off_loopback_is_warned_about(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    await start(host="127.0.0.1")
    assert events(caplog, "plain_exposed") == []
    await start(host="0.0.0.0")
    warned = events(caplog, "plain_exposed")
    assert len(warned) == 1 and "in clear" in warned[0]


async def test_tls_only_serves_no_plain_port(start: Start, tmp_path: Path) -> None:
    server = await start(tls="self-signed", plain=False)
    with pytest.raises(LookupError):
        _ = server.port
    client = await tls_client(server, trusting(tmp_path / "tls-cert.pem"))
    await client.close()


async def test_a_key_that_does_not_match_the_certificate_stops_the_start(
    start: Start, ca: trustme.CA, tmp_path: Path
) -> None:
    cert, _ = ca_files(ca, tmp_path)
    other = ca.issue_cert("localhost")
    other.private_key_pem.write_to_path(str(tmp_path / "other-key.pem"))
    with pytest.raises(TlsSetupError, match="cannot use the TLS certificate"):
        await start(tls_cert=str(cert), tls_key=str(tmp_path / "other-key.pem"))
    with pytest.raises(TlsSetupError, match="no such file"):
        await start(tls_cert=str(tmp_path / "missing.pem"), tls_key=str(tmp_path / "other-key.pem"))
