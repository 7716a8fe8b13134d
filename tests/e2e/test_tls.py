"""TLS end to end: a real ``chatapp-server --tls self-signed`` process (on the event loop it
picks, uvloop when installed), raw protocol clients verifying its certificate with ``ssl``.

The server's database is an SQLite file in the test's directory, beside which the server makes
its certificate (TLS is the transport's: the store takes no part)."""

from __future__ import annotations

import asyncio
import re
import ssl
import subprocess
import sys
from pathlib import Path

from chatapp.fingerprint import certificate_fingerprint
from chatapp.protocol import Direct, Message, Presence, Send, SendDirect
from tests.support.server import ServerProcess
from tests.support.wire import WireClient

WAIT = 10.0


def tls_server(server_factory: type[ServerProcess], tmp_path: Path, *args: str) -> ServerProcess:
    return server_factory(tmp_path / "chat.db", "--tls", "self-signed", "--tls-port", "0", *args).start()


async def tls_client(server: ServerProcess, context: ssl.SSLContext) -> WireClient:
    assert server.tls_port is not None
    return await WireClient.connect(server.host, server.tls_port, ssl=context, server_hostname="localhost")


async def test_register_send_and_receive_over_tls_verifying_the_self_signed_certificate(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    server = tls_server(server_factory, tmp_path)
    cert = tmp_path / "tls-cert.pem"
    logged = server.wait_for_log(r"event=tls source=self-signed .*fingerprint=(SHA256:\S+)").group(1)
    context = ssl.create_default_context(cafile=str(cert))
    alice = await tls_client(server, context)
    bob = await tls_client(server, context)
    try:
        der = alice.writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert certificate_fingerprint(der) == logged
        await alice.register("alice")
        await bob.register("bob")
        await alice.send(Send(room="general", text="hello over tls", ref=1))
        assert (await bob.expect(Message, skip=(Presence,))).text == "hello over tls"
        await bob.send(SendDirect(to="alice", text="private on the wire", ref=2))
        assert (await alice.expect(Direct, skip=(Presence, Message))).text == "private on the wire"
    finally:
        await alice.close()
        await bob.close()
    # chatapp-admin prints the same fingerprint from the file, with no server needed.
    server.stop()
    admin = subprocess.run(
        [sys.executable, "-m", "chatapp.admin", "--database-url", server.url, "fingerprint"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (admin.returncode, admin.stdout) == (0, logged + "\n")
    # A restart reuses the certificate: the fingerprint clients pinned stays.
    server.start()
    assert re.findall(r"fingerprint=(SHA256:\S+)", server.log) == [logged, logged]
    assert server.log.count("event=tls_created") == 1


async def test_a_stalled_handshake_is_closed_after_the_timeout_and_others_are_served_meanwhile(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    server = tls_server(server_factory, tmp_path, "--tls-handshake-timeout", "1")
    assert server.tls_port is not None
    reader, writer = await asyncio.open_connection(server.host, server.tls_port)  # says nothing
    try:
        # Meanwhile someone else connects, signs up and is answered at once.
        other = await tls_client(server, ssl.create_default_context(cafile=str(tmp_path / "tls-cert.pem")))
        await other.register("carol")
        await other.close()
        assert await asyncio.wait_for(reader.read(), WAIT) == b""
    finally:
        writer.close()
    server.wait_for_log(r"event=tls_handshake_failed .*reason=timeout")
    assert server.log.count("event=tls_handshake_failed") == 1
    server.stop()
    assert "Traceback" not in server.log and " ERROR " not in server.log
    assert "loop=uvloop" in server.log  # the loop this test is for (uvloop comes with the dev install)
