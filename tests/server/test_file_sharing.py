"""Sharing files through a real server on both databases: upload, post, download; resume; refused
chunks; who may read; every limit with its numbers; dedup, removal, retention and clean-up."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from chatapp.clock import utc_now
from chatapp.protocol import (
    Direct,
    Error,
    History,
    HistoryPage,
    Join,
    Joined,
    Leave,
    Left,
    Message,
    Presence,
    Send,
)
from chatapp.protocol.file_frames import (
    FileChunk,
    FileLink,
    FileRead,
    FileUrl,
    UploadAck,
    UploadCancel,
    UploadCancelled,
    UploadChunk,
    UploadDone,
    UploadStart,
)
from chatapp.protocol.frames import SendDirect
from chatapp.protocol.moderation_frames import DeleteMessage, MessageRemoved
from chatapp.server.app import ChatServer
from chatapp.server.services.file_sharing import SweepReport
from chatapp.server.store import Store
from tests.server.file_helpers import (
    SKIP,
    chunk,
    digest,
    download,
    random_bytes,
    refused,
    send_from,
    start,
    upload,
)
from tests.support.databases import ScratchDatabase
from tests.support.http import get
from tests.support.wire import WireClient
from tests.support.ws_wire import WsWireClient

Start = Callable[..., Awaitable[ChatServer]]
Dial = Callable[..., Awaitable[WireClient]]

SIZE = 100_000  # four chunks: 3 × 32 KiB and a short one


@pytest.fixture
async def files_server(start_server: Start, tmp_path: Path) -> ChatServer:
    return await start_server(files_dir=str(tmp_path / "files"))


async def online(server: ChatServer, dial: Dial, name: str) -> WireClient:
    client = await dial(server)
    await client.register(name)
    await client.expect(Presence)
    return client


def blobs(server: ChatServer) -> list[str]:
    root = server.config.resolved_files_dir / "blobs"
    return sorted(path.name for path in root.glob("*/*"))


def partials(server: ChatServer) -> list[str]:
    return sorted(path.name for path in (server.config.resolved_files_dir / "partial").glob("*"))


async def post(
    client: WireClient, file_id: str, room: str = "general", text: str = "", nonce: str = "n1"
) -> Message:
    await client.send(Send(room=room, text=text, file=file_id, nonce=nonce, ref="post"))
    while True:  # others' messages may come first: the sender's own copy has the ref
        message = await client.expect(Message, skip=SKIP)
        if message.ref == "post":
            return message


async def test_a_file_goes_up_is_posted_and_comes_down_whole(files_server: ChatServer, dial: Dial) -> None:
    alice = await online(files_server, dial, "alice")
    bob = await online(files_server, dial, "bob")
    data = random_bytes(SIZE)
    done = await upload(alice, data, name="r\u00e9sum\u00e9.pdf", mime="application/pdf")
    info = done.file
    assert (info.name, info.size, info.sha256, info.mime, info.encrypted) == (
        "r\u00e9sum\u00e9.pdf", SIZE, digest(data), "application/pdf", False,
    )
    assert blobs(files_server) == [digest(data)] and partials(files_server) == []
    # The caption may be empty; the sender's copy and bob's carry the file.
    own = await post(alice, info.id)
    assert own.file == info and own.text == "" and own.ref == "post"
    seen = await bob.expect(Message, skip=SKIP)
    assert seen.file == info and seen.id == own.id
    assert digest(await download(bob, info.id, SIZE)) == digest(data)
    # Reads kept outstanding are answered in the order they were asked, a refused one in its place.
    for offset in (65536, 0, SIZE + 5, 98304):
        await bob.send(FileRead(file=info.id, offset=offset, ref=offset))
    answers = [await bob.recv() for _ in range(4)]
    assert [a.ref for a in answers] == [65536, 0, SIZE + 5, 98304]
    assert [type(a).__name__ for a in answers] == ["FileChunk", "FileChunk", "Error", "FileChunk"]
    # In history too.
    await bob.send(History(room="general", ref=1))
    page = await bob.expect(HistoryPage, skip=SKIP)
    assert [m.file for m in page.messages if m.id == own.id] == [info]
    # A read at the end is empty with eof; past it is refused with the size.
    await bob.send(FileRead(file=info.id, offset=SIZE))
    end = await bob.expect(FileChunk, skip=SKIP)
    assert end.data == b"" and end.eof
    await bob.send(FileRead(file=info.id, offset=SIZE + 1))
    assert (await refused(bob, "wrong_offset")).offset == SIZE


async def test_an_upload_resumes_from_the_last_acknowledged_offset(
    files_server: ChatServer, dial: Dial
) -> None:
    alice = await online(files_server, dial, "alice")
    data = random_bytes(SIZE)
    ready = await start(alice, data)
    for offset in (0, 32768):
        await alice.send(chunk(ready.upload, data, offset))
        assert (await alice.expect(UploadAck, skip=SKIP)).offset == offset + 32768
    await alice.close()
    # A new connection (a restarted client with no state): the same file resumes where it stopped.
    again = await dial(files_server)
    await again.login("alice")
    resumed = await start(again, data)
    assert (resumed.upload, resumed.offset) == (ready.upload, 65536)
    done = await send_from(again, resumed.upload, data, resumed.offset)
    assert done.file.sha256 == digest(data)
    assert digest(await download(again, done.file.id, SIZE)) == digest(data)


async def test_bad_chunks_are_refused_and_say_where_to_send_from(
    files_server: ChatServer, dial: Dial
) -> None:
    alice = await online(files_server, dial, "alice")
    data = random_bytes(SIZE)
    ready = await start(alice, data)
    good = chunk(ready.upload, data, 0)
    # Corrupted in transit: the data does not match its digest.
    corrupted = b"x" + good.data[1:]
    await alice.send(UploadChunk(upload=ready.upload, offset=0, data=corrupted, sha256=good.sha256))
    error = await refused(alice, "bad_chunk")
    assert error.offset == 0
    await alice.send(good)
    assert (await alice.expect(UploadAck, skip=SKIP)).offset == 32768
    # Ahead of, or behind, the next expected byte.
    for offset in (65536, 0):
        await alice.send(chunk(ready.upload, data, offset))
        assert (await refused(alice, "wrong_offset")).offset == 32768
    # Past the declared size.
    for offset in (32768, 65536):
        await alice.send(chunk(ready.upload, data, offset))
        await alice.expect(UploadAck, skip=SKIP)
    await alice.send(chunk(ready.upload, random_bytes(SIZE + 40000), 98304))
    assert (await refused(alice, "bad_chunk")).offset == 98304
    # Someone else's upload is not theirs to write to.
    bob = await online(files_server, dial, "bob")
    await bob.send(chunk(ready.upload, data, 65536))
    await refused(bob, "no_such_upload")


async def test_a_whole_file_with_another_digest_is_refused_and_removed(
    files_server: ChatServer, dial: Dial
) -> None:
    alice = await online(files_server, dial, "alice")
    data = random_bytes(40_000)
    ready = await start(alice, data, sha256=digest(b"something else"))
    await alice.send(chunk(ready.upload, data, 0))
    await alice.expect(UploadAck, skip=SKIP)
    await alice.send(chunk(ready.upload, data, 32768))
    await alice.expect(UploadAck, skip=SKIP)
    await refused(alice, "digest_mismatch")
    assert blobs(files_server) == [] and partials(files_server) == []
    await alice.send(chunk(ready.upload, data, 0))
    await refused(alice, "no_such_upload")


async def test_who_may_read_follows_the_message(files_server: ChatServer, dial: Dial) -> None:
    alice = await online(files_server, dial, "alice")
    bob = await online(files_server, dial, "bob")
    carol = await online(files_server, dial, "carol")
    for client in (alice, bob):
        await client.send(Join(room="dev"))
        await client.expect(Joined, skip=SKIP)
        await client.expect(HistoryPage, skip=SKIP)
    data = random_bytes(1000)
    done = await upload(alice, data, room="dev")
    # Not posted yet: only its uploader reads it.
    assert await download(alice, done.file.id, 1000) == data
    await bob.send(FileRead(file=done.file.id, offset=0))
    await refused(bob, "no_such_file")
    own = await post(alice, done.file.id, room="dev", text="the plan")
    assert await download(bob, done.file.id, 1000) == data
    assert await download(alice, done.file.id, 1000) == data  # just read: the removal below is seen at once
    # Carol is not in dev (an outsider): as if there were no such file, by frame or by link.
    for frame in (FileRead(file=done.file.id, offset=0), FileLink(file=done.file.id)):
        await carol.send(frame)
        await refused(carol, "no_such_file")
    await carol.send(FileRead(file="NOSUCHFILE000000", offset=0))
    await refused(carol, "no_such_file")
    # Bob leaves dev: no more downloads for him.
    await bob.send(Leave(room="dev"))
    await bob.expect(Left, skip=SKIP)
    await bob.send(FileRead(file=done.file.id, offset=0))
    await refused(bob, "no_such_file")
    # Alice removes her message: nobody reads the file any more, and the tombstone has no file.
    await alice.send(DeleteMessage(id=own.id))
    await alice.expect(MessageRemoved, skip=SKIP)
    await alice.send(FileRead(file=done.file.id, offset=0))
    await refused(alice, "no_such_file")
    await alice.send(History(room="dev"))
    page = await alice.expect(HistoryPage, skip=SKIP)
    assert [(m.removed_by, m.file) for m in page.messages if m.id == own.id] == [("alice", None)]


async def test_a_file_in_a_direct_message_is_for_the_two_people_only(
    files_server: ChatServer, dial: Dial
) -> None:
    alice = await online(files_server, dial, "alice")
    bob = await online(files_server, dial, "bob")
    carol = await online(files_server, dial, "carol")
    data = random_bytes(5000)
    done = await upload(alice, data, to="bob", name="file")
    # Posted only to the person it was uploaded for.
    await alice.send(SendDirect(to="carol", text="", file=done.file.id))
    await refused(alice, "no_such_file")
    await alice.send(Send(room="general", text="", file=done.file.id))
    await refused(alice, "no_such_file")
    await alice.send(SendDirect(to="bob", text="for you", file=done.file.id, nonce="d1"))
    sent = await alice.expect(Direct, skip=SKIP)
    assert sent.file == done.file and sent.text == "for you"
    assert (await bob.expect(Direct, skip=SKIP)).file == done.file
    assert await download(bob, done.file.id, 5000) == data
    await carol.send(FileRead(file=done.file.id, offset=0))
    await refused(carol, "no_such_file")


async def test_only_the_uploader_posts_a_file_and_only_once(files_server: ChatServer, dial: Dial) -> None:
    alice = await online(files_server, dial, "alice")
    bob = await online(files_server, dial, "bob")
    done = await upload(alice, random_bytes(100))
    await bob.send(Send(room="general", text="mine now", file=done.file.id))
    await refused(bob, "no_such_file")
    first = await post(alice, done.file.id, nonce="p1")
    await bob.expect(Message, skip=SKIP)
    await alice.send(Send(room="general", text="again", file=done.file.id, nonce="p2"))
    await refused(alice, "file_attached")
    # The same send again (a client resending after a lost link) is acknowledged, not refused.
    resent = await post(alice, done.file.id, nonce="p1")
    assert (resent.id, resent.file) == (first.id, done.file)
    # A message with neither text nor file is still refused.
    await alice.send(Send(room="general", text=" "))
    await refused(alice, "bad_frame")


@pytest.fixture
async def tight_server(start_server: Start, tmp_path: Path) -> ChatServer:
    return await start_server(
        files_dir=str(tmp_path / "files"),
        max_file_size=1000,
        file_quota=2500,
        files_budget=4000,
        max_uploads=2,
    )


async def test_each_limit_refuses_with_its_numbers(tight_server: ChatServer, dial: Dial) -> None:
    alice = await online(tight_server, dial, "alice")
    bob = await online(tight_server, dial, "bob")

    async def refusal(client: WireClient, size: int, n: int) -> tuple[str, int | None, int | None]:
        await client.send(UploadStart(name="f", size=size, sha256=f"{n:064x}", room="general"))
        error = await client.expect(Error, skip=SKIP)
        return error.code, error.limit, error.over

    assert await refusal(alice, 1500, 1) == ("file_too_large", 1000, 500)
    await upload(alice, random_bytes(1000))  # alice holds 1,000 bytes in a finished file
    await start(alice, random_bytes(1000))  # and 1,000 in an unfinished upload
    assert await refusal(alice, 600, 2) == ("quota_exceeded", 2500, 100)
    second = random_bytes(400)
    await start(alice, second)  # a second unfinished upload: the most at once
    assert await refusal(alice, 10, 3) == ("too_many_uploads", 2, 1)
    # 2,400 held by alice; bob's 1,000 and then 700 more go over the server's 4,000.
    await start(bob, random_bytes(1000))
    assert await refusal(bob, 700, 4) == ("storage_full", 4000, 100)
    # Cancelling an upload frees its place and its bytes.
    ready = await start(alice, second)  # the same upload again: resumed, not a new one
    await alice.send(UploadCancel(upload=ready.upload))
    assert (await alice.expect(UploadCancelled, skip=SKIP)).upload == ready.upload
    await start(bob, random_bytes(500))


async def test_one_blob_for_the_same_content_removed_with_its_last_reference(
    files_server: ChatServer, dial: Dial
) -> None:
    alice = await online(files_server, dial, "alice")
    bob = await online(files_server, dial, "bob")
    data = random_bytes(3000)
    mine = await upload(alice, data, name="a.bin")
    theirs = await upload(bob, data, name="b.bin")
    assert mine.file.id != theirs.file.id
    assert blobs(files_server) == [digest(data)]
    first = await post(alice, mine.file.id, nonce="a")
    second = await post(bob, theirs.file.id, nonce="b")
    sweep = files_server.files
    assert sweep is not None
    later = time.time() + files_server.config.file_expiry + 60
    await alice.send(DeleteMessage(id=first.id))
    await alice.expect(MessageRemoved, skip=SKIP + (Message,))
    report = await sweep.sweep(later)
    assert (report.files, report.blobs) == (1, 0)
    assert blobs(files_server) == [digest(data)]  # bob's message still shares it
    assert await download(bob, theirs.file.id, 3000) == data
    await bob.send(DeleteMessage(id=second.id))
    await bob.expect(MessageRemoved, skip=SKIP + (Message,))
    report = await sweep.sweep(later)
    assert (report.files, report.blobs) == (1, 1)
    assert blobs(files_server) == []


async def test_retention_removes_expired_files(
    files_server: ChatServer, dial: Dial, database: ScratchDatabase
) -> None:
    alice = await online(files_server, dial, "alice")
    data = random_bytes(2000)
    done = await upload(alice, data)
    await post(alice, done.file.id)
    sweep = files_server.files
    assert sweep is not None
    # What --history-days does, with the clock a day ahead: the message expires.
    store = await Store.open(database.url)  # as another process sharing the database would
    try:
        await store.prune_messages(utc_now() + timedelta(days=1))
    finally:
        await store.close()
    await alice.send(FileRead(file=done.file.id, offset=0))
    await refused(alice, "no_such_file")
    report = await sweep.sweep(time.time() + files_server.config.file_expiry + 60)
    assert (report.files, report.blobs) == (1, 1)
    assert blobs(files_server) == []


async def test_abandoned_uploads_and_unposted_files_are_cleaned_up(
    files_server: ChatServer, dial: Dial
) -> None:
    alice = await online(files_server, dial, "alice")
    data = random_bytes(SIZE)
    ready = await start(alice, data)
    await alice.send(chunk(ready.upload, data, 0))
    await alice.expect(UploadAck, skip=SKIP)
    unposted = await upload(alice, random_bytes(500))
    sweep = files_server.files
    assert sweep is not None
    # Within the expiry, nothing goes.
    assert await sweep.sweep() == SweepReport(uploads=0, files=0, blobs=0)
    assert partials(files_server) == [ready.upload]
    # Bytes of an upload whose row is gone (cancelled through another server process meanwhile).
    ghost = files_server.config.resolved_files_dir / "partial" / "GHOSTUPLOAD00000"
    ghost.write_bytes(b"left behind")
    report = await sweep.sweep(time.time() + files_server.config.file_expiry + 60)
    assert (report.uploads, report.files, report.blobs) == (2, 1, 1)
    assert partials(files_server) == [] and blobs(files_server) == []
    await alice.send(chunk(ready.upload, data, 32768))
    await refused(alice, "no_such_upload")
    await alice.send(Send(room="general", text="", file=unposted.file.id))
    await refused(alice, "no_such_file")


async def test_chat_flows_while_a_file_is_in_flight(files_server: ChatServer, dial: Dial) -> None:
    """Chat frames interleave with chunks: a message sent between two chunks is answered before
    the upload ends."""
    alice = await online(files_server, dial, "alice")
    data = random_bytes(SIZE)
    ready = await start(alice, data)
    await alice.send(chunk(ready.upload, data, 0))
    await alice.send(Send(room="general", text="still here", nonce="c"))
    await alice.send(chunk(ready.upload, data, 32768))
    kinds: list[Any] = []
    while len(kinds) < 3:
        frame = await alice.recv()
        if not isinstance(frame, Presence):
            kinds.append(type(frame))
    # The message is acknowledged once stored (its commit may land after the next chunk's ack),
    # and before the upload is over.
    assert sorted(kind.__name__ for kind in kinds) == ["Message", "UploadAck", "UploadAck"]
    done = await send_from(alice, ready.upload, data, 65536)
    assert isinstance(done, UploadDone)


async def test_a_download_link_serves_an_attachment_to_its_user_only(
    start_server: Start, tmp_path: Path, dial: Dial
) -> None:
    server = await start_server(files_dir=str(tmp_path / "files"), web_port=0)
    alice = await online(server, dial, "alice")
    bob = await online(server, dial, "bob")
    data = random_bytes(70_000)
    done = await upload(alice, data, name='evil"\r\nname<script>.html', mime="text/html")
    await post(alice, done.file.id)
    await bob.send(FileLink(file=done.file.id, ref="l"))
    link = await bob.expect(FileUrl, skip=SKIP + (Message,))
    assert link.url.startswith(f"/files/{done.file.id}?ticket=") and link.ref == "l"
    answer = await get(server.web_port, link.url)
    assert answer.status == 200 and answer.body == data
    headers = answer.headers
    assert headers["content-type"] == "application/octet-stream"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].startswith("sandbox")
    assert headers["content-disposition"].startswith('attachment; filename="evil_')
    assert "\r" not in headers["content-disposition"] and "<" not in headers["content-disposition"]
    assert headers["content-length"] == str(len(data))
    head = await get(server.web_port, link.url, method="HEAD")
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", str(len(data)))
    # Another file's id, a changed ticket, no ticket: not found.
    ticket = link.url.partition("ticket=")[2]
    for path in (
        f"/files/NOSUCHFILE000000?ticket={ticket}",
        link.url[:-1] + ("A" if link.url[-1] != "A" else "B"),
        f"/files/{done.file.id}",
    ):
        assert (await get(server.web_port, path)).status == 404
    # Bob leaves the room: the link he holds stops working.
    await bob.send(Leave(room="general"))
    await bob.expect(Left, skip=SKIP + (Message,))
    assert (await get(server.web_port, link.url)).status == 404


async def test_a_web_client_uploads_over_its_websocket(
    start_server: Start, tmp_path: Path, dial: Dial
) -> None:
    """The same frames over the web port's WebSocket: one sign-in, nothing else to open."""
    server = await start_server(files_dir=str(tmp_path / "files"), web_port=0)
    browser = await WsWireClient.open(f"ws://127.0.0.1:{server.web_port}/ws")
    try:
        await browser.register("alice")
        await browser.expect(Presence)
        bob = await online(server, dial, "bob")
        data = random_bytes(SIZE)
        done = await upload(browser, data)
        await post(browser, done.file.id, text="from the browser")
        assert (await bob.expect(Message, skip=SKIP)).file == done.file
        assert digest(await download(bob, done.file.id, SIZE)) == digest(data)
        assert digest(await download(browser, done.file.id, SIZE)) == digest(data)
    finally:
        await browser.close()


async def test_a_server_without_file_sharing_says_so(start_server: Start, tmp_path: Path, dial: Dial) -> None:
    server = await start_server(files_dir=str(tmp_path / "files"), max_file_size=0)
    alice = await online(server, dial, "alice")
    await alice.send(UploadStart(name="a", size=1, sha256=digest(b"a"), room="general", ref=1))
    error = await refused(alice, "forbidden")
    assert error.message == "this server does not share files" and error.ref == 1
    assert not (tmp_path / "files").exists()


async def test_an_empty_file_is_done_at_once(files_server: ChatServer, dial: Dial) -> None:
    alice = await online(files_server, dial, "alice")
    ready = await start(alice, b"", name="empty.txt")
    assert ready.offset == 0
    done = await alice.expect(UploadDone, skip=SKIP)
    assert (done.upload, done.file.size, done.file.sha256) == (ready.upload, 0, digest(b""))
    own = await post(alice, done.file.id, text="nothing in it")
    assert own.file == done.file
    assert await download(alice, done.file.id, 0) == b""


async def test_a_missed_message_with_a_file_is_replayed_with_it(files_server: ChatServer, dial: Dial) -> None:
    alice = await online(files_server, dial, "alice")
    bob = await online(files_server, dial, "bob")
    token = bob.last_token
    await bob.close()
    done = await upload(alice, random_bytes(700))
    own = await post(alice, done.file.id, text="while you were out")
    again = await dial(files_server)
    await again.resume(token, last_id=own.id - 1)
    replayed = [m for m in again.replayed if m.id == own.id]
    assert [(m.text, m.file, m.replayed) for m in replayed] == [("while you were out", done.file, True)]
