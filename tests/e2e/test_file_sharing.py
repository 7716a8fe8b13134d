"""Sharing files end to end: real ``chatapp-server`` and ``chatapp-client`` processes (line mode), real files.

The one large test moves a 20 MiB file: its upload is cut by killing the uploading client, which
resumes from the server's offset after a restart, and two other members download it with the same
SHA-256, their downloads continuing from their partial files across a server restart; a user who
may not read a file is refused by the server. The others use small files on a server with small
limits: the size limit and the quota refuse with the limit and by how much, and hostile file names
are saved under safe names inside the download directory. In an encrypted conversation the file
reaches the server as ciphertext under a neutral name, and the other side decrypts it to the same
bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatapp.client import ChatSession
from chatapp.client.e2e.agent import E2eSession
from chatapp.client.e2e.store import device_dir
from chatapp.client.e2e.vault import Vault
from chatapp.client.net.events import TransferNote
from chatapp.protocol import (
    Direct,
    HistoryPage,
    Join,
    Message,
    Presence,
    Send,
    Synced,
    UploadAck,
    UploadChunk,
    UploadDone,
    UploadReady,
    UploadStart,
)
from tests.e2e.test_client_chat import signed_in
from tests.e2e.test_encrypted_dm import run_client as run_encrypting_client
from tests.support.databases import ScratchDatabase
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

MIB = 1024 * 1024
TIMEOUT = 60.0
PASSING = (Message, Direct, Presence, UploadAck, HistoryPage, Synced)
"""Frames a raw uploader passes over while waiting for an answer."""
FILE_LINE = re.compile(r"\[file\] (.*) \((.*)\) \u2014 /download ([A-Za-z0-9_-]{16,32})")


class LineClient:
    """``python -m chatapp.client`` in line mode: lines in on stdin, every line out kept and waited for."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = asyncio.Event()
        self._readers = [asyncio.create_task(self._read(process.stdout, self.out)),
                         asyncio.create_task(self._read(process.stderr, self.err))]

    @classmethod
    async def start(cls, server: ServerProcess, home: Path, user: str, *, register: bool = False,
                    takeover: bool = False, downloads: Path | None = None) -> LineClient:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAPP_")}
        env.update(XDG_DATA_HOME=str(home / "data"), XDG_STATE_HOME=str(home / "state"))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chatapp.client", "--host", server.host, "--port", str(server.port),
            "--user", user, "--password-stdin", *(["--register"] if register else []),
            *(["--takeover"] if takeover else []),
            "--download-dir", str(downloads or home / "downloads"),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        client = cls(process)
        client.type(PASSWORD)
        return client

    async def _read(self, stream: asyncio.StreamReader | None, into: list[str]) -> None:
        assert stream is not None
        while line := await stream.readline():
            into.append(line.decode(errors="replace").rstrip("\n"))
            self._changed.set()

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")

    async def wait_for(self, pattern: str, *, stderr: bool = False, after: int = 0,
                       timeout: float = TIMEOUT) -> re.Match[str]:
        """The first line (from index ``after``) matching ``pattern``; fails with the transcript if none."""
        lines = self.err if stderr else self.out
        compiled = re.compile(pattern)

        async def search() -> re.Match[str]:
            while True:
                for line in lines[after:]:
                    found = compiled.search(line)
                    if found:
                        return found
                self._changed.clear()
                if self.process.returncode is not None and all(r.done() for r in self._readers):
                    raise AssertionError(f"{pattern!r} never came:\n" + "\n".join(self.out + self.err))
                await self._changed.wait()

        try:
            return await asyncio.wait_for(search(), timeout)
        except TimeoutError:
            raise AssertionError(f"{pattern!r} not within {timeout} s:\n" + "\n".join(self.out + self.err)) \
                from None

    async def finish(self, timeout: float = TIMEOUT) -> int:
        """End the input; the exit status once the client is done (transfers finish first)."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await asyncio.gather(*self._readers)
        assert "Traceback" not in "\n".join(self.err), "\n".join(self.err)
        return code

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        for reader in self._readers:
            reader.cancel()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_server(factory: type[ServerProcess], database: ScratchDatabase, files: Path,
                *args: str) -> ServerProcess:
    return factory(database, "--files-dir", str(files), *args).start()


@pytest.fixture
async def registered() -> AsyncIterator[list[ChatSession]]:
    sessions: list[ChatSession] = []
    yield sessions
    for session in sessions:
        await session.aclose()


async def test_a_20_mib_file_resumes_after_a_kill_and_reaches_two_members(
    server_factory: type[ServerProcess], tmp_path: Path, registered: list[ChatSession],
) -> None:
    # On SQLite only, to keep the suite quick: the tests below run on both databases.
    server = server_factory(tmp_path / "chat.db", "--files-dir", str(tmp_path / "files")).start()
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 * MIB))
    bob = await LineClient.start(server, tmp_path / "bob", "bob", register=True)
    carol = await LineClient.start(server, tmp_path / "carol", "carol", register=True)
    for client in (bob, carol):
        await client.wait_for("is online")

    # Alice's first client is killed once the server has acknowledged part of the upload.
    first = await LineClient.start(server, tmp_path / "alice", "alice", register=True)
    first.type(f"/upload {big} twenty mebibytes")
    await first.wait_for(r"\u2191 big\.bin .*%", stderr=True)
    await first.kill()

    second = await LineClient.start(server, tmp_path / "alice", "alice", takeover=True)
    second.type(f"/upload {big} twenty mebibytes")
    resumed = await second.wait_for(r"Resuming the upload of big\.bin at .* \(offset (\d+)\)")
    offset = int(resumed.group(1))
    assert 0 < offset < 20 * MIB
    assert await second.finish() == 0
    assert not any("Uploading big.bin" in line for line in second.out)

    for client in (bob, carol):
        line = await client.wait_for(FILE_LINE.pattern)
        assert line.group(1) == "big.bin" and line.group(2).startswith("20.0 MiB")
        client.type(f"/download {line.group(3)}")

    # The server restarts while they download: each continues from what its partial file holds.
    await bob.wait_for(r"\u2193 big\.bin .*%", stderr=True)
    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.start)
    continued = await bob.wait_for(r"the download of big\.bin continues at .* \(offset (\d+)\)")
    assert 0 < int(continued.group(1)) < 20 * MIB
    for name, client in (("bob", bob), ("carol", carol)):
        await client.wait_for(r"Saved big\.bin \(20\.0 MiB\) as ")
        assert await client.finish() == 0
        saved = tmp_path / name / "downloads" / "big.bin"
        assert sha256(saved) == sha256(big)
        assert [p.name for p in saved.parent.iterdir()] == ["big.bin"]  # no partial file left

    # Dave is not in #vault: he gets the server's refusal for a file shared there.
    alice = await signed_in(server, "alice", register=False)
    registered.append(alice)
    alice.request(lambda ref: Join(room="vault", ref=ref))
    small = tmp_path / "secret.txt"
    small.write_text("only for the vault\n")
    alice.files.start_upload(small, room="vault", to=None)
    file_id = ""
    while not file_id:
        event = await asyncio.wait_for(alice.next_event(), TIMEOUT)
        found = re.search(r"shared as file ([A-Za-z0-9_-]+)", getattr(event, "text", None) or "")
        file_id = found.group(1) if found else ""
    dave = await LineClient.start(server, tmp_path / "dave", "dave", register=True)
    dave.type(f"/download {file_id}")
    await dave.wait_for(f"Not downloaded: there is no file {file_id} that you may read")
    assert await dave.finish() == 1
    assert not (tmp_path / "dave" / "downloads" / "secret.txt").exists()


async def test_the_size_limit_and_the_quota_refuse_with_the_limit(
    server_factory: type[ServerProcess], database: ScratchDatabase, tmp_path: Path,
) -> None:
    server = file_server(server_factory, database, tmp_path / "files", "--max-file-size", "65536",
                         "--file-quota", "100000")
    (tmp_path / "large.bin").write_bytes(b"x" * 70_000)
    (tmp_path / "one.bin").write_bytes(b"1" * 60_000)
    (tmp_path / "two.bin").write_bytes(b"2" * 60_000)
    alice = await LineClient.start(server, tmp_path / "alice", "alice", register=True)
    alice.type(f"/upload {tmp_path / 'large.bin'}")
    await alice.wait_for(r"Not uploaded \(large\.bin\): the file is too large: the server takes files of at "
                         r"most 64\.0 KiB \(4\.4 KiB over\)")
    alice.type(f"/upload {tmp_path / 'one.bin'}")
    await alice.wait_for(r"Uploaded one\.bin")
    alice.type(f"/upload {tmp_path / 'two.bin'}")
    await alice.wait_for(r"Not uploaded \(two\.bin\): it would take your files over your quota of 97\.7 KiB "
                         r"by 19\.5 KiB")
    assert await alice.finish() == 1  # refused transfers make the exit status 1


HOSTILE = {
    "../../etc/passwd": "_.._etc_passwd",
    "/abs": "_abs",
    "bad\x1b[31mred\x07.txt": "bad[31mred.txt",
    "invoice\u202etxt.exe": "invoicetxt.exe",
    "con": "_con",
    "CON.txt": "_CON.txt",
    " . ": "file",
    "\u00e9" * 255: "\u00e9" * 100,
}


async def test_hostile_names_are_saved_safely_in_the_download_directory(
    server_factory: type[ServerProcess], database: ScratchDatabase, tmp_path: Path,
) -> None:
    server = file_server(server_factory, database, tmp_path / "files")
    downloads = tmp_path / "bob" / "downloads"
    bob = await LineClient.start(server, tmp_path / "bob", "bob", register=True, downloads=downloads)
    await bob.wait_for("is online")
    mallory = await WireClient.connect(server.host, server.port)
    await mallory.register("mallory")
    for number, name in enumerate([*HOSTILE, "con"]):  # "con" twice: the second gets a suffix
        data = f"file {number}\n".encode()
        digest = hashlib.sha256(data).hexdigest()
        await mallory.send(UploadStart(name=name, size=len(data), sha256=digest, room="general", ref=1))
        ready = await mallory.expect(UploadReady, skip=PASSING)
        await mallory.send(UploadChunk(upload=ready.upload, offset=0, data=data, sha256=digest, ref=2))
        done = await mallory.expect(UploadDone, skip=PASSING)
        await mallory.send(Send(room="general", text="", file=done.file.id, ref=3))
        line = await bob.wait_for(FILE_LINE.pattern, after=len(bob.out))
        bob.type(f"/download {line.group(3)}")
        await bob.wait_for(r"Saved .* as ", after=len(bob.out))
    assert await bob.finish() == 0
    saved = {path.name: path.read_bytes() for path in downloads.iterdir()}
    expected = {safe: f"file {number}\n".encode() for number, safe in enumerate(HOSTILE.values())}
    expected["_con (1)"] = f"file {len(HOSTILE)}\n".encode()
    assert saved == expected
    assert not (tmp_path / "etc").exists() and not Path("/abs").exists()
    passwd = {p for p in tmp_path.rglob("*") if p.is_file() and "passwd" in p.name}
    assert passwd == {downloads / "_.._etc_passwd"}
    await mallory.close()



async def encrypting(server: ServerProcess, data: Path, user: str) -> E2eSession:
    """An in-process client with its device unlocked (registered before by a line-mode run)."""
    session = E2eSession(server.host, server.port)
    await session.connect()
    await session.login(user, PASSWORD)
    vault = await asyncio.to_thread(Vault.unlock, device_dir(data, server.host, server.port, user), user,
                                    PASSWORD)
    await session.start_e2e(vault)
    return session


async def note(session: ChatSession, pattern: str, *, failed: bool = False) -> re.Match[str]:
    """The session's next transfer note matching ``pattern`` (other events passed over); only a failure
    when ``failed``."""
    while True:
        event = await asyncio.wait_for(session.next_event(), TIMEOUT)
        if isinstance(event, TransferNote):
            assert failed or not event.failed, event.text
            found = re.search(pattern, event.text)
            if found:
                assert event.failed == failed, event.text
                return found


async def test_a_file_in_an_encrypted_conversation_reaches_the_server_as_ciphertext_only(
    server_factory: type[ServerProcess], tmp_path: Path, registered: list[ChatSession],
) -> None:
    files = tmp_path / "files"
    server = server_factory(tmp_path / "chat.db", "--files-dir", str(files)).start()
    for user in ("alice", "bob"):
        (tmp_path / user).mkdir()
        done = await asyncio.to_thread(run_encrypting_client, server, tmp_path / user, user, register=True)
        assert done.returncode == 0, done.stderr
    alice = await encrypting(server, tmp_path / "alice", "alice")
    bob = await encrypting(server, tmp_path / "bob", "bob")
    registered += [alice, bob]
    secret = b"the launch codes are 0000\n" * 2000
    (tmp_path / "plans.txt").write_bytes(secret)

    alice.files.start_upload(tmp_path / "plans.txt", room=None, to="bob", caption="for your eyes")
    file_id = (await note(alice, r"shared as file ([A-Za-z0-9_-]+)")).group(1)
    while True:
        event = await asyncio.wait_for(bob.next_event(), TIMEOUT)
        if isinstance(event, Direct) and event.file is not None:
            break
    assert event.text == "for your eyes" and event.e2e is not None
    assert event.file.id == file_id and event.file.encrypted and event.file.name == "plans.txt"
    bob.files.start_download(file_id, tmp_path / "saved")
    await note(bob, r"Saved plans\.txt")
    assert (tmp_path / "saved" / "plans.txt").read_bytes() == secret
    assert [p.name for p in (tmp_path / "saved").iterdir()] == ["plans.txt"]

    # the server has the ciphertext, under the neutral name: neither the bytes nor the name
    server.stop()
    blobs = [p for p in files.rglob("*") if p.is_file()]
    assert blobs and all(b"launch codes" not in p.read_bytes() for p in blobs)
    assert sum(p.stat().st_size for p in blobs) >= len(secret) + 16
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("chat.db*"))
    assert b"plans.txt" not in stored and b"launch codes" not in stored
