"""``/upload`` and ``/download`` on the real chat screen, against a real server: the notes, the file line
with its id, chat going on meanwhile, and ``/download`` alone saving the newest file shared here."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from chatapp.client import ChatSession
from chatapp.protocol import Message, Send
from tests.client.harness import ENTER, Screen
from tests.e2e.test_client_chat import receive, signed_in, wire
from tests.e2e.test_file_sharing import note
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


async def test_a_partial_download_is_continued_and_a_spoiled_one_is_not_saved(
    server: ServerProcess, alice: ChatSession, tmp_path: Path,
) -> None:
    data = os.urandom(200_000)
    (tmp_path / "report.pdf").write_bytes(data)
    bob = await signed_in(server, "bob")
    drain = asyncio.create_task(drain_events(alice))  # her transfers' answers come with her events
    try:
        alice.files.start_upload(tmp_path / "report.pdf", room="general", to=None)
        while True:
            event = await asyncio.wait_for(bob.next_event(), 20)
            if isinstance(event, Message) and event.file is not None:
                break
        file_id = event.file.id
        downloads = tmp_path / "downloads"
        downloads.mkdir()
        part = downloads / f".{file_id}.part"
        part.write_bytes(data[:70_000])  # what an earlier run got before it was stopped
        bob.files.start_download(file_id, downloads)
        await note(bob, r"Resuming the download of report\.pdf at 68\.4 KiB of 195\.3 KiB")
        await note(bob, r"Saved report\.pdf")
        assert (downloads / "report.pdf").read_bytes() == data and not part.exists()

        part.write_bytes(b"\0" * 70_000)  # a partial file that is not the start of this one
        bob.files.start_download(file_id, downloads)
        await note(bob, r"Not saved: report\.pdf arrived damaged", failed=True)
        assert not part.exists() and sorted(p.name for p in downloads.iterdir()) == ["report.pdf"]
    finally:
        drain.cancel()
        await bob.aclose()


async def drain_events(session: ChatSession) -> None:
    while True:
        await session.next_event()
