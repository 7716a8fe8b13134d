"""TLS in the client over real TLS on 127.0.0.1: CA verification, trust on first use, pins, mismatches.

The server is the scripted fake (tests/client/fakeserver.py) with an ``ssl``
context from ``trustme``; tests/e2e/test_client_tls.py does the same against
a real server process.
"""

from __future__ import annotations

import asyncio
import io
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

from chatapp.client import ChatSession
from chatapp.client.__main__ import TLS_PORT, ClientOptions, parse_args, run
from chatapp.client.net.backoff import Backoff
from chatapp.client.net.errors import ConnectError
from chatapp.client.net.events import SessionEnded
from chatapp.client.net.known_servers import KnownServers
from chatapp.client.net.tls import TlsSettings, TrustError
from chatapp.client.ui.bars import is_loopback, link_security
from chatapp.client.ui.trust import ask_trust
from chatapp.fingerprint import certificate_fingerprint as fingerprint
from chatapp.fingerprint import parse_fingerprint
from chatapp.server.config import TLS_PORT as SERVER_TLS_PORT
from tests.client.fakeserver import PASSWORD, FakeServer
from tests.client.harness import ENTER, fake_terminal, running_screen, until

INSTANT = Backoff(initial=0.0, factor=1.0, maximum=0.0, jitter=0.0)


def tls_fake(context: ssl.SSLContext) -> FakeServer:
    fake = FakeServer(tls=context)
    fake.accounts["alice"] = PASSWORD
    return fake


def server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1", "localhost"))).configure_cert(context)
    return context


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def tls_server(ca: trustme.CA) -> AsyncIterator[FakeServer]:
    fake = await tls_fake(server_context(ca)).start()
    yield fake
    await fake.stop()


@pytest.fixture
def known(tmp_path: Path) -> KnownServers:
    return KnownServers(tmp_path / "data" / "known_servers")


async def fingerprint_of(server: FakeServer) -> str:
    """The fingerprint of the certificate ``server`` presents, read with a plain ``ssl`` client."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    _, writer = await asyncio.open_connection(server.host, server.port, ssl=context)
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    return fingerprint(der)


def session(server: FakeServer, settings: TlsSettings | None, **options: float) -> ChatSession:
    return ChatSession(server.host, server.port, tls=settings, backoff=INSTANT, **options)  # type: ignore[arg-type]


# -- fingerprints ----------------------------------------------------------------------------------------


def test_fingerprint_form() -> None:
    text = fingerprint(b"certificate")
    assert text.startswith("SHA256:") and len(text) == 7 + 32 * 3 - 1
    assert text == text.upper() and text.count(":") == 32


@given(st.binary(max_size=64))
def test_a_fingerprint_is_accepted_however_it_is_pasted(der: bytes) -> None:
    canonical = fingerprint(der)
    bare = canonical.removeprefix("SHA256:")
    for pasted in (canonical, canonical.lower(), bare, bare.replace(":", ""), f"  {canonical}\n"):
        assert parse_fingerprint(pasted) == canonical


@pytest.mark.parametrize(
    "text", ["", "SHA256:", "SHA256:AB", "MD5:" + "AB" * 32, "SHA256:" + "G" * 64, "AB" * 33, "A" * 500],
)
def test_what_is_not_a_fingerprint(text: str) -> None:
    assert parse_fingerprint(text) is None


# -- the CA-verified path -----------------------------------------------------------------------------------


async def test_a_certificate_that_verifies_needs_no_pin(
    tls_server: FakeServer, ca: trustme.CA, tmp_path: Path, known: KnownServers
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    async with session(tls_server, TlsSettings(ca_file=bundle, known_servers=known)) as chat:
        await chat.connect()
        await chat.login("alice", PASSWORD)
        assert chat.trust is not None and not chat.trust.pinned
        assert chat.trust.fingerprint == await fingerprint_of(tls_server)
    assert not known.path.exists()


async def test_a_wrong_host_name_does_not_verify(ca: trustme.CA, tmp_path: Path, known: KnownServers) -> None:
    fake = await tls_fake(server_context(ca, "chat.example")).start()
    try:
        bundle = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(bundle))
        async with session(fake, TlsSettings(ca_file=bundle, known_servers=known)) as chat:
            with pytest.raises(TrustError) as refused:
                await chat.connect()
        detail = refused.value.detail
        assert "does not verify" in detail and "--accept-fingerprint SHA256:" in detail
    finally:
        await fake.stop()


# -- trust on first use --------------------------------------------------------------------------------------


async def test_line_mode_refuses_an_unknown_certificate_and_names_its_fingerprint(
    tls_server: FakeServer, known: KnownServers
) -> None:
    seen = await fingerprint_of(tls_server)
    async with session(tls_server, TlsSettings(known_servers=known)) as chat:
        with pytest.raises(TrustError) as refused:
            await chat.connect()
    assert f"--accept-fingerprint {seen}" in refused.value.detail
    assert "chatapp-admin fingerprint" in refused.value.detail
    assert not known.path.exists()
    assert tls_server.frames.empty()  # nothing was sent on the unverified connection


async def test_an_accepted_fingerprint_is_remembered_then_trusted_silently(
    tls_server: FakeServer, known: KnownServers
) -> None:
    seen = await fingerprint_of(tls_server)
    async with session(tls_server, TlsSettings(known_servers=known, accept_fingerprint=seen)) as chat:
        await chat.connect()
        await chat.login("alice", PASSWORD)
        assert chat.trust is not None and chat.trust.pinned and chat.trust.fingerprint == seen
    assert known.path.read_text() == f"127.0.0.1:{tls_server.port} {seen}\n"
    assert stat.S_IMODE(known.path.stat().st_mode) == 0o600
    async with session(tls_server, TlsSettings(known_servers=known)) as chat:  # no flag, no question
        await chat.connect()
        assert chat.trust is not None and chat.trust.pinned


async def test_a_different_accept_fingerprint_is_refused(tls_server: FakeServer, known: KnownServers) -> None:
    other = fingerprint(b"another certificate")
    async with session(tls_server, TlsSettings(known_servers=known, accept_fingerprint=other)) as chat:
        with pytest.raises(TrustError, match="not the one given with --accept-fingerprint"):
            await chat.connect()
    assert not known.path.exists()


async def test_a_changed_certificate_is_refused_naming_the_file_and_line(
    tls_server: FakeServer, known: KnownServers
) -> None:
    old = fingerprint(b"the certificate the server had before")
    known.path.parent.mkdir(parents=True)
    lines = ["# my servers", f"example.org:7778 {fingerprint(b'x')}", f"127.0.0.1:{tls_server.port} {old}"]
    known.path.write_text("\n".join(lines) + "\n")
    seen = await fingerprint_of(tls_server)
    settings = TlsSettings(known_servers=known, accept_fingerprint=seen)  # not even the flag overrides
    async with session(tls_server, settings) as chat:
        with pytest.raises(TrustError) as refused:
            await chat.connect()
    detail = refused.value.detail
    assert "has CHANGED" in detail and seen in detail and old in detail
    assert f"remove line 3 of {known.path}" in detail
    assert known.lookup(f"127.0.0.1:{tls_server.port}") is not None
    assert known.path.read_text().count("\n") == 3  # untouched


async def test_the_first_use_question_in_the_terminal(tls_server: FakeServer, known: KnownServers) -> None:
    seen = await fingerprint_of(tls_server)
    with fake_terminal() as (pipe, terminal):
        async with session(tls_server, TlsSettings(known_servers=known, ask=ask_trust)) as chat:
            connecting = asyncio.create_task(chat.connect())
            await until(lambda: "Type yes or no" in terminal.plain(), what="the question")
            assert seen in terminal.plain() and "does not verify" in terminal.plain()
            pipe.send_text("maybe" + ENTER)
            await until(lambda: "Please type yes or no." in terminal.plain(), what="asked again")
            pipe.send_text("yes" + ENTER)
            await asyncio.wait_for(connecting, 10)
            assert chat.trust is not None and chat.trust.pinned
    assert known.lookup(f"127.0.0.1:{tls_server.port}") is not None


async def test_answering_no_refuses_and_remembers_nothing(
    tls_server: FakeServer, known: KnownServers
) -> None:
    with fake_terminal() as (pipe, terminal):
        async with session(tls_server, TlsSettings(known_servers=known, ask=ask_trust)) as chat:
            connecting = asyncio.create_task(chat.connect())
            await until(lambda: "Type yes or no" in terminal.plain(), what="the question")
            pipe.send_text("no" + ENTER)
            with pytest.raises(TrustError, match="was not trusted"):
                await asyncio.wait_for(connecting, 10)
    assert not known.path.exists()


async def test_a_reconnect_demands_the_same_pin(ca: trustme.CA, known: KnownServers) -> None:
    fake = await tls_fake(server_context(ca)).start()
    try:
        seen = await fingerprint_of(fake)
        async with session(fake, TlsSettings(known_servers=known, accept_fingerprint=seen)) as chat:
            await chat.connect()
            await chat.login("alice", PASSWORD)
            await fake.stop()
            fake.tls = server_context(trustme.CA())  # same port, another certificate
            await fake.start()
            ended = await asyncio.wait_for(_ended(chat), 10)
        assert ended.refused is not None and "CHANGED during this session" in ended.refused
        assert seen in ended.refused
    finally:
        await fake.stop()


async def test_a_reconnect_demands_a_certificate_that_still_verifies(
    ca: trustme.CA, tmp_path: Path, known: KnownServers
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    fake = await tls_fake(server_context(ca)).start()
    try:
        async with session(fake, TlsSettings(ca_file=bundle, known_servers=known)) as chat:
            await chat.connect()
            await chat.login("alice", PASSWORD)
            await fake.stop()
            fake.tls = server_context(trustme.CA())  # a CA the client does not know
            await fake.start()
            ended = await asyncio.wait_for(_ended(chat), 10)
        assert ended.refused is not None and "no longer verifies" in ended.refused
        assert not known.path.exists()  # never silently pinned instead
    finally:
        await fake.stop()


async def _ended(chat: ChatSession) -> SessionEnded:
    while True:
        event = await chat.next_event()
        if isinstance(event, SessionEnded):
            return event


# -- the status bar ---------------------------------------------------------------------------------------


def status_text(bars_status: list[tuple[str, str]]) -> str:
    return "".join(text for _, text, *_ in bars_status)


async def test_the_status_bar_says_the_link_is_encrypted_and_how_it_is_trusted(
    tls_server: FakeServer, ca: trustme.CA, tmp_path: Path, known: KnownServers
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    seen = await fingerprint_of(tls_server)
    for settings, mark in [
        (TlsSettings(ca_file=bundle, known_servers=known), "[tls] "),
        (TlsSettings(known_servers=known, accept_fingerprint=seen), "[tls, pinned] "),
    ]:
        async with session(tls_server, settings) as chat:
            await chat.connect()
            await chat.login("alice", PASSWORD)
            async with running_screen(chat) as screen:
                await until(lambda m=mark: m in status_text(screen.screen.bars.status()), what=mark)
                await until(lambda m=mark: m in screen.terminal.plain(), what=f"{mark} drawn")


async def test_a_plain_link_is_marked_only_off_this_machine(server: FakeServer) -> None:
    server.accounts["alice"] = PASSWORD
    async with session(server, None) as chat:
        await chat.connect()
        await chat.login("alice", PASSWORD)
        async with running_screen(chat) as screen:
            await until(lambda: "connected" in status_text(screen.screen.bars.status()), what="online")
            assert "[plain]" not in status_text(screen.screen.bars.status())
            assert "[tls" not in status_text(screen.screen.bars.status())
    assert link_security(ChatSession("192.0.2.7", 7777)) == ("plain", False)  # never connected: no socket
    assert link_security(ChatSession("localhost", 7777)) is None
    assert link_security(ChatSession("192.0.2.7", 7778, tls=TlsSettings())) == ("tls", True)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("[::1]")
    assert is_loopback("localhost") and is_loopback("LOCALHOST.")
    assert not is_loopback("chat.example") and not is_loopback("192.0.2.7") and not is_loopback("")


# -- plain against TLS, TLS against plain --------------------------------------------------------------


async def test_a_tls_client_against_a_plain_port_says_so(server: FakeServer, known: KnownServers) -> None:
    async with session(server, TlsSettings(known_servers=known)) as chat:
        with pytest.raises(ConnectError, match=r"TLS handshake failed \(is this a plain port\? --no-tls"):
            await chat.connect()


async def test_a_tls_server_closing_before_the_handshake_is_not_called_a_plain_port(
    known: KnownServers
) -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()  # what a TLS listener does to a connection over its limits

    closer = await asyncio.start_server(refuse, "127.0.0.1", 0)
    try:
        port = closer.sockets[0].getsockname()[1]
        async with ChatSession("127.0.0.1", port, tls=TlsSettings(known_servers=known)) as chat:
            with pytest.raises(ConnectError) as refused:
                await chat.connect()
        assert "closed the connection during the TLS handshake" in refused.value.detail
        assert "plain port" not in refused.value.detail
    finally:
        closer.close()
        await closer.wait_closed()


async def test_a_plain_client_against_a_tls_port_says_so(tls_server: FakeServer) -> None:
    async with session(tls_server, None, connect_timeout=1.0) as chat:
        with pytest.raises(ConnectError, match=r"is this a TLS port\? --tls connects with TLS"):
            await chat.connect()


# -- the command line ------------------------------------------------------------------------------------


def test_tls_flags() -> None:
    assert TLS_PORT == SERVER_TLS_PORT  # the client's default-on port is the server's default TLS port
    assert parse_args(["--port", "7778"], {}).tls
    assert not parse_args(["--port", "7778", "--no-tls"], {}).tls
    assert not parse_args(["--port", "7778"], {"CHATAPP_TLS": "0"}).tls
    assert parse_args(["--tls"], {}).tls and parse_args([], {"CHATAPP_TLS": "yes"}).tls
    assert not parse_args(["--no-tls"], {"CHATAPP_TLS": "1"}).tls
    pin = fingerprint(b"c")
    options = parse_args(["--accept-fingerprint", pin.lower()], {})
    assert options.tls and options.accept_fingerprint == pin


@pytest.mark.parametrize(
    ("argv", "env", "complaint"),
    [
        (["--tls", "--no-tls"], {}, "not allowed with argument"),
        ([], {"CHATAPP_TLS": "maybe"}, "CHATAPP_TLS='maybe': use 1 or 0"),
        (["--accept-fingerprint", "SHA256:12"], {}, "--accept-fingerprint: not a SHA-256 fingerprint"),
        (["--no-tls", "--accept-fingerprint", fingerprint(b"c")], {}, "cannot go with --no-tls"),
        (["--ca-file", "/nonexistent/ca.pem"], {}, "not a readable PEM file"),
    ],
)
def test_tls_usage_errors(argv: list[str], env: dict[str, str], complaint: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(argv, env)
    assert caught.value.code == 2
    assert complaint in capsys.readouterr().err


async def test_line_mode_refuses_then_accepts_with_the_flag(
    tls_server: FakeServer, known: KnownServers
) -> None:
    seen = await fingerprint_of(tls_server)
    base = ClientOptions(port=tls_server.port, user="alice", password_stdin=True, tls=True,
                         known_servers=known.path)
    out, err = io.StringIO(), io.StringIO()
    code = await run(base, stdin=io.StringIO(f"{PASSWORD}\nhello\n"), stdout=out, stderr=err)
    assert code == 1 and out.getvalue() == ""
    assert err.getvalue().startswith(f"chatapp-client: cannot connect to 127.0.0.1:{tls_server.port}: the ")
    assert f"--accept-fingerprint {seen}" in err.getvalue()
    accepting = ClientOptions(**{**_fields(base), "accept_fingerprint": seen})
    out, err = io.StringIO(), io.StringIO()
    code = await run(accepting, stdin=io.StringIO(f"{PASSWORD}\nhello\n"), stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    assert "<alice> hello" in out.getvalue()
    assert known.lookup(f"127.0.0.1:{tls_server.port}") is not None


def _fields(options: ClientOptions) -> dict[str, object]:
    return {name: getattr(options, name) for name in ClientOptions.__dataclass_fields__}


# -- the known-servers file -------------------------------------------------------------------------------


def test_the_known_servers_file_keeps_what_it_does_not_understand(known: KnownServers) -> None:
    pin = fingerprint(b"one")
    known.path.parent.mkdir(parents=True)
    known.path.write_text(f"# comment 127.0.0.1:1 {pin}\n\nnot an entry at all\n[::1]:7778 garbage\n")
    assert known.lookup("127.0.0.1:1") is None  # a comment is not an entry
    unreadable = known.lookup("[::1]:7778")
    assert unreadable is not None and unreadable.line == 4 and unreadable.fingerprint == "(unreadable)"
    assert known.add("[::1]:7779", pin) == 5
    assert known.lookup("[::1]:7779") == type(unreadable)(pin, 5)
    assert known.path.read_text().startswith(f"# comment 127.0.0.1:1 {pin}\n\nnot an entry at all\n")
    assert stat.S_IMODE(known.path.stat().st_mode) == 0o600
    assert [p.name for p in known.path.parent.iterdir()] == ["known_servers"]  # no temporary file left


async def test_an_unreadable_pin_is_refused_like_a_changed_one(
    tls_server: FakeServer, known: KnownServers
) -> None:
    known.path.parent.mkdir(parents=True)
    known.path.write_text(f"127.0.0.1:{tls_server.port} SHA256:nonsense\n")
    async with session(tls_server, TlsSettings(known_servers=known)) as chat:
        with pytest.raises(TrustError, match=f"remove line 1 of {known.path}"):
            await chat.connect()


async def test_an_oversized_known_servers_file_is_not_read(
    tls_server: FakeServer, known: KnownServers
) -> None:
    known.path.parent.mkdir(parents=True)
    known.path.write_bytes(b"#" * (2 * 1024 * 1024))
    settings = TlsSettings(known_servers=known, accept_fingerprint=fingerprint(b"x"))
    async with session(tls_server, settings) as chat:
        with pytest.raises(TrustError, match="cannot read the known-servers file"):
            await chat.connect()
