"""End-to-end encrypted direct messages with a real server process and real client processes (issue 12).

Two users exchange encrypted direct messages while one of them is offline;
the server's database file and its logs (``--log-level debug``, the
activity log included) never hold a plaintext; a second device of the
recipient reads what is sent after it was added and says the older ones are
not readable there; a ciphertext altered in the database file is refused with
a visible notice, never shown.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chatapp.client.e2e.agent import E2eSession
from chatapp.client.e2e.envelope import NOTICES
from chatapp.client.e2e.store import device_dir
from chatapp.client.e2e.vault import Vault
from chatapp.client.net.events import Unreadable
from chatapp.protocol import ChangePassword, Direct, History, HistoryPage, PasswordChanged
from tests.e2e.test_client_chat import wire
from tests.e2e.test_client_cli import client_env
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

TIMEOUT = 30.0
NEW_PASSWORD = "another horse battery staple"
SECRETS = ("the eagle lands at dawn", "bring the blue folder", "roger that, blue folder",
           "for both of your devices", "this one is altered")


def run_client(server: ServerProcess, data: Path, user: str, *lines: str, register: bool = False,
               password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    """The client in line mode, as a script runs it, with its own data directory (its own device)."""
    args = ["--host", server.host, "--port", str(server.port), "--user", user, "--password-stdin",
            "--data-dir", str(data), "--log-file", str(data / "client.log")]
    if register:
        args.append("--register")
    flags = [line for line in lines if line.startswith("--")]
    lines = tuple(line for line in lines if not line.startswith("--"))
    args += flags
    return subprocess.run(
        [sys.executable, "-m", "chatapp.client", *args],
        input="".join(f"{line}\n" for line in (password, *lines)),
        capture_output=True, text=True, timeout=TIMEOUT, env=client_env(data),
    )


def alter_last_envelope(database: Path, recipient_device: str) -> None:
    """Flip one bit in the middle of the newest encrypted message's ciphertext for that device."""
    with sqlite3.connect(database) as db:
        message_id, text = db.execute(
            "SELECT id, text FROM messages WHERE encrypted ORDER BY id DESC LIMIT 1").fetchone()
        envelope = json.loads(text)
        raw = bytearray(base64.b64decode(envelope["ciphertexts"][recipient_device]["body"]))
        raw[len(raw) // 2] ^= 0x01
        envelope["ciphertexts"][recipient_device]["body"] = base64.b64encode(bytes(raw)).decode()
        db.execute("UPDATE messages SET text = ? WHERE id = ?", (json.dumps(envelope), message_id))


def device_id(data: Path, server: ServerProcess, user: str) -> str:
    with sqlite3.connect(device_dir(data, server.host, server.port, user) / "device.db") as db:
        return bytes(db.execute("SELECT value FROM meta WHERE key = 'device_id'").fetchone()[0]).decode()


async def history_on_device(
    server: ServerProcess, data: Path, user: str, peer: str
) -> tuple[list[str], dict[int, str]]:
    """What a client sees of the conversation's history on the device in ``data``: texts and notices."""
    async with E2eSession(server.host, server.port) as session:
        await session.connect()
        await session.login(user, PASSWORD)
        vault = await asyncio.to_thread(Vault.unlock, device_dir(data, server.host, server.port, user), user,
                                        PASSWORD)
        await session.start_e2e(vault)
        session.request(lambda ref: History(with_=peer, limit=50, ref=ref))
        notices: dict[int, str] = {}
        while True:
            event = await asyncio.wait_for(session.next_event(), TIMEOUT)
            if isinstance(event, Unreadable):
                notices.update(event.notices)
            if isinstance(event, HistoryPage) and event.with_ is not None:
                return [m.text for m in event.messages], notices


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    return server_factory(tmp_path / "chat.db", "--log-level", "debug").start()


async def test_encrypted_direct_messages_end_to_end(server: ServerProcess, tmp_path: Path) -> None:
    alice, bob, bob2 = tmp_path / "alice", tmp_path / "bob", tmp_path / "bob2"
    for data, user in ((alice, "alice"), (bob, "bob")):
        data.mkdir()
        registered = await asyncio.to_thread(run_client, server, data, user, register=True)
        assert registered.returncode == 0, registered.stderr

    # bob is offline: alice writes to him, encrypted for his device (pre-key messages)
    sent = await asyncio.to_thread(run_client, server, alice, "alice", f"/msg bob {SECRETS[0]}",
                                   f"/msg bob {SECRETS[1]}")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert f"<alice> \N{LOCK} {SECRETS[0]}" in sent.stdout

    # bob comes back, reads them, and answers
    back = await asyncio.to_thread(run_client, server, bob, "bob", f"/msg alice {SECRETS[2]}")
    assert back.returncode == 0, back.stdout + back.stderr
    assert f"[@alice] <alice> \N{LOCK} {SECRETS[0]}" in back.stdout
    assert f"[@alice] <alice> \N{LOCK} {SECRETS[1]}" in back.stdout
    read = await asyncio.to_thread(run_client, server, alice, "alice")
    assert f"[@bob] <bob> \N{LOCK} {SECRETS[2]}" in read.stdout, read.stdout + read.stderr

    # a second device of bob: it reads what comes after it was added, not what came before
    bob2.mkdir()
    added = await asyncio.to_thread(run_client, server, bob2, "bob")
    assert added.returncode == 0, added.stderr
    after = await asyncio.to_thread(run_client, server, alice, "alice", f"/msg bob {SECRETS[3]}")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "bob has a new device" in after.stdout
    texts, notices = await history_on_device(server, bob2, "bob", "alice")
    assert SECRETS[3] in texts
    assert SECRETS[0] not in texts and SECRETS[1] not in texts
    assert list(notices.values()).count(NOTICES["before"]) >= 2
    texts, notices = await history_on_device(server, bob, "bob", "alice")
    assert [t for t in texts if t in SECRETS] == list(SECRETS[:4])  # the first device still has them all
    assert not notices

    # a ciphertext altered in the database file between sends: a notice, never the text
    sent = await asyncio.to_thread(run_client, server, alice, "alice", f"/msg bob {SECRETS[4]}")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    alter_last_envelope(tmp_path / "chat.db", device_id(bob, server, "bob"))
    texts, notices = await history_on_device(server, bob, "bob", "alice")
    assert SECRETS[4] not in texts
    assert NOTICES["mac"] in notices.values()
    shown = await asyncio.to_thread(run_client, server, bob, "bob")
    assert SECRETS[4] not in shown.stdout

    # what the server kept and logged: ciphertext and public keys only
    server.stop()
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("chat.db*"))
    log = server.log
    for secret in SECRETS:
        assert secret.encode() not in stored
        assert secret not in log
    assert "encrypted dm from=alice" in log and "event=replayed" in log  # the debug and activity logs were on


async def test_a_password_changed_elsewhere_leaves_the_device_alone_in_line_mode(
    server: ServerProcess, tmp_path: Path
) -> None:
    dave = tmp_path / "dave"
    dave.mkdir()
    registered = await asyncio.to_thread(run_client, server, dave, "dave", register=True)
    assert registered.returncode == 0, registered.stderr
    first = device_id(dave, server, "dave")
    carol = await wire(server, "carol")  # no device: only /plain reaches her
    try:
        changed = await WireClient.connect(server.host, server.port)
        await changed.login("dave")
        await changed.send(ChangePassword(old=PASSWORD, new=NEW_PASSWORD, ref=1))
        await changed.expect(PasswordChanged, skip=(object,))  # type: ignore[arg-type]
        await changed.close()

        kept = await asyncio.to_thread(run_client, server, dave, "dave", "/msg carol secret words",
                                       "/plain carol plain words", password=NEW_PASSWORD)
        assert "end-to-end encryption is off for this run: this device's keys do not open with this " \
               "password" in kept.stderr
        assert "--new-device" in kept.stderr
        assert device_id(dave, server, "dave") == first  # never silently replaced
        got = await carol.expect(Direct, skip=(object,))  # type: ignore[arg-type]
        assert got.text == "secret words" and got.e2e is None  # encryption off, said on stderr
        got = await carol.expect(Direct, skip=(object,))  # type: ignore[arg-type]
        assert got.text == "plain words"

        fresh = await asyncio.to_thread(run_client, server, dave, "dave", "--new-device",
                                        password=NEW_PASSWORD)
        assert fresh.returncode == 0 and "encryption is off" not in fresh.stderr, fresh.stderr
        assert device_id(dave, server, "dave") != first
    finally:
        await carol.close()
