"""``/upload`` and ``/download`` on the real chat screen, against a real server: the notes, the file line
with its id, chat going on meanwhile, and ``/download`` alone saving the newest file shared here."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from chatapp.client import ChatSession
from chatapp.protocol import Message, Send
from tests.client.harness import ENTER, Screen
from tests.e2e.test_client_chat import receive, wire
from tests.support.server import ServerProcess


async def test_upload_and_download_on_the_chat_screen(server: ServerProcess, alice: ChatSession,
                                                      screen: Screen, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    (tmp_path / "notes.bin").write_bytes(data)
    alice.files.download_dir = tmp_path / "downloads"
    bob = await wire(server, "bob")
    screen.type(f"/upload {tmp_path / 'notes.bin'} the notes" + ENTER)
    await screen.wait_line("Uploading notes.bin (293.0 KiB).")
    await bob.send(Send(room="general", text="meanwhile, chat", nonce="n1"))  # chat goes on both ways
    screen.type("still here" + ENTER)
    shared = await receive(bob, Message, lambda m: m.file is not None)
    assert isinstance(shared, Message) and shared.file is not None and shared.text == "the notes"
    assert shared.file.name == "notes.bin" and shared.file.sha256 == hashlib.sha256(data).hexdigest()
    line = await screen.wait_line(f"<alice> [file] notes.bin (293.0 KiB, application/octet-stream) \u2014 "
                                  f"/download {shared.file.id}")
    assert line
    await screen.wait_line("<bob> meanwhile, chat")
    await screen.wait_line("<alice> still here")

    screen.type("/download" + ENTER)  # the newest file shared in #general
    await screen.wait_line(f"Saved notes.bin (293.0 KiB) as {tmp_path / 'downloads' / 'notes.bin'}.")
    assert (tmp_path / "downloads" / "notes.bin").read_bytes() == data
    screen.type(f"/download {shared.file.id}" + ENTER)  # again: never over the first copy
    await screen.wait_line("as " + str(tmp_path / "downloads" / "notes (1).bin"))
    assert sorted(p.name for p in (tmp_path / "downloads").iterdir()) == ["notes (1).bin", "notes.bin"]
    await bob.close()
