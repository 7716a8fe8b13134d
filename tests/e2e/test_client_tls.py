"""``chatapp-client`` over TLS against a real server process: CA verification, pins, mismatches.

The server serves TLS with ``--tls self-signed`` (its own certificate, made on
first start, fingerprint logged) or with a ``trustme`` certificate
(``--tls-cert``/``--tls-key``); the client runs as a user runs it, in a pipe
(line mode) or on a pseudo-terminal (the first-use question). TLS sits below
the store, so these use SQLite files only.
"""

from __future__ import annotations

import asyncio
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.e2e.test_client_cli import Pty, client_env, closed_port
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD

FINGERPRINT = r"SHA256:[0-9A-F]{2}(?::[0-9A-F]{2}){31}"


def tls_port(server: ServerProcess) -> int:
    return int(server.wait_for_log(r"event=listening host=\S+ port=(\d+) tls=on").group(1))


def logged_fingerprint(server: ServerProcess) -> str:
    return server.wait_for_log(rf"event=tls .*fingerprint=({FINGERPRINT})").group(1)


def known_servers(tmp_path: Path) -> Path:
    return tmp_path / "data" / "chatapp" / "known_servers"


def env_with_data(tmp_path: Path) -> dict[str, str]:
    return {**client_env(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}


async def line_client(tmp_path: Path, port: int, *args: str, stdin: str) -> tuple[int, str, str]:
    """The client in line mode (a pipe), with the known-servers file under ``tmp_path``."""
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "chatapp.client", "--host", "127.0.0.1", "--port", str(port), *args],
        input=stdin, capture_output=True, text=True, timeout=30, env=env_with_data(tmp_path),
    )
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream and PASSWORD not in stream
    return result.returncode, result.stdout, result.stderr


@pytest.fixture
def terminal() -> Iterator[type[Pty]]:
    """Start clients on pseudo-terminals; every one is killed at the end of the test."""
    started: list[Pty] = []

    class Tracked(Pty):
        def __init__(self, args: list[str], env: dict[str, str]) -> None:
            super().__init__(args, env)
            started.append(self)

    yield Tracked
    for client in started:
        client.close()


@pytest.fixture
def self_signed(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    return server_factory(
        tmp_path / "one" / "chat.db", "--tls", "self-signed", "--tls-port", str(closed_port()),
        "--tls-handshake-timeout", "1",
    ).start()


async def test_a_ca_verified_server(server_factory: type[ServerProcess], tmp_path: Path) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, bundle = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(bundle))
    server = server_factory(
        tmp_path / "chat.db", "--tls-cert", str(cert), "--tls-key", str(key), "--tls-port", "0"
    ).start()
    port = tls_port(server)
    code, out, err = await line_client(
        tmp_path, port, "--tls", "--ca-file", str(bundle), "--user", "carol", "--register",
        "--password-stdin", stdin=f"{PASSWORD}\nover tls\n",
    )
    assert code == 0, err
    assert "<carol> over tls" in out
    assert not known_servers(tmp_path).exists()  # verified by the CA: nothing to pin
    code, _, err = await line_client(  # without the CA file the same certificate does not verify
        tmp_path, port, "--tls", "--user", "carol", "--password-stdin", stdin=f"{PASSWORD}\n"
    )
    assert code == 1 and "does not verify" in err and "--accept-fingerprint SHA256:" in err


async def test_line_mode_pins_only_with_accept_fingerprint_then_refuses_a_changed_one(
    self_signed: ServerProcess, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    port = tls_port(self_signed)
    assert port != self_signed.port
    fingerprint = logged_fingerprint(self_signed)
    sign_up = ("--tls", "--user", "dave", "--register", "--password-stdin")

    code, out, err = await line_client(tmp_path, port, *sign_up, stdin=f"{PASSWORD}\nhello\n")
    assert code == 1 and out == ""
    assert f"--accept-fingerprint {fingerprint}" in err and "chatapp-admin fingerprint" in err
    assert not known_servers(tmp_path).exists()
    assert "event=register" not in self_signed.log  # nothing was sent

    code, out, err = await line_client(
        tmp_path, port, "--accept-fingerprint", fingerprint.lower(), *sign_up, stdin=f"{PASSWORD}\nhello\n"
    )
    assert code == 0, err
    assert "<dave> hello" in out
    path = known_servers(tmp_path)
    assert path.read_text() == f"127.0.0.1:{port} {fingerprint}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    code, out, err = await line_client(  # remembered: no flag needed
        tmp_path, port, "--tls", "--user", "dave", "--password-stdin", stdin=f"{PASSWORD}\nagain\n"
    )
    assert code == 0, err
    assert "<dave> again" in out

    self_signed.stop()
    other = server_factory(  # another data directory: another self-signed certificate, on the same port
        tmp_path / "two" / "chat.db", "--tls", "self-signed", "--tls-port", str(port)
    ).start()
    changed = logged_fingerprint(other)
    assert changed != fingerprint
    code, out, err = await line_client(
        tmp_path, port, "--accept-fingerprint", changed, "--user", "dave", "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )
    assert code == 1 and out == ""
    assert "has CHANGED" in err and changed in err and fingerprint in err
    assert f"remove line 1 of {path}" in err
    assert path.read_text() == f"127.0.0.1:{port} {fingerprint}\n"  # untouched


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_the_first_use_question_on_a_terminal(
    self_signed: ServerProcess, tmp_path: Path, terminal: type[Pty]
) -> None:
    port = tls_port(self_signed)
    fingerprint = logged_fingerprint(self_signed)
    args = ["--host", "127.0.0.1", "--port", str(port), "--tls"]
    first = terminal(args, env_with_data(tmp_path))
    first.read_until(rb"Trust this certificate\? Type yes or no:")
    plain = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", first.output)
    assert fingerprint.encode() in plain and b"does not verify" in plain
    first.type("yes\r")
    first.read_until(rb"Choice:")
    first.type("2\r")
    first.read_until(rb"Username:")
    first.type("erin\r")
    first.read_until(rb"Password:")
    first.type(PASSWORD + "\r")
    first.read_until(rb"Password again:")
    first.type(PASSWORD + "\r")
    first.read_until(rb"You are online in #general")
    first.read_until(rb"\[tls, pinned\]")
    first.type("\x15\x04")
    assert first.wait() == 0
    assert known_servers(tmp_path).read_text() == f"127.0.0.1:{port} {fingerprint}\n"

    later = terminal(args, env_with_data(tmp_path))  # pinned: straight to the sign-in menu
    later.read_until(rb"Choice:")
    assert b"Trust this certificate" not in later.output
    later.type("\x04")
    later.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_answering_no_on_a_terminal_leaves(
    self_signed: ServerProcess, tmp_path: Path, terminal: type[Pty]
) -> None:
    port = tls_port(self_signed)
    first = terminal(["--port", str(port)], {**env_with_data(tmp_path), "CHATAPP_TLS": "1"})
    first.read_until(rb"Type yes or no:")
    first.type("no\r")
    assert first.wait() == 1
    assert b"was not trusted" in first.output
    assert not known_servers(tmp_path).exists()


async def test_plain_and_tls_mismatches_fail_with_a_sentence(
    self_signed: ServerProcess, tmp_path: Path
) -> None:
    port = tls_port(self_signed)
    code, _, err = await line_client(  # TLS client, plain port
        tmp_path, self_signed.port, "--tls", "--user", "x", "--password-stdin", stdin=f"{PASSWORD}\n"
    )
    assert code == 1
    assert "the TLS handshake failed (is this a plain port? --no-tls connects without TLS)" in err
    code, _, err = await line_client(  # plain client, TLS port: the server's 1 s handshake timeout ends it
        tmp_path, port, "--no-tls", "--user", "x", "--password-stdin", stdin=f"{PASSWORD}\n"
    )
    assert code == 1
    assert "is this a TLS port? --tls connects with TLS" in err
