"""Uploading and downloading files over a WireClient (TCP or WebSocket), as a client would: chunks
with their digests, at most ``UPLOAD_WINDOW`` ahead of their acknowledgments."""

from __future__ import annotations

import hashlib
import os

from chatapp.protocol import Direct, Error, Message, Presence
from chatapp.protocol.file_frames import (
    FileChunk,
    FileRead,
    UploadAck,
    UploadChunk,
    UploadDone,
    UploadReady,
    UploadStart,
)
from chatapp.protocol.limits import FILE_CHUNK_MAX, UPLOAD_WINDOW
from chatapp.protocol.moderation_frames import MessageRemoved
from tests.support.wire import WireClient

SKIP = (Presence,)
CHAT = (Presence, Message, Direct, MessageRemoved)
"""Chat that may come between the frames of a transfer."""


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


def chunk(upload: str, data: bytes, offset: int, size: int = FILE_CHUNK_MAX) -> UploadChunk:
    piece = data[offset : offset + size]
    return UploadChunk(upload=upload, offset=offset, data=piece, sha256=digest(piece))


async def start(
    client: WireClient, data: bytes, *, room: str | None = "general", to: str | None = None,
    name: str = "notes.bin", mime: str | None = None, sha256: str | None = None,
) -> UploadReady:
    await client.send(
        UploadStart(
            name=name, size=len(data), sha256=sha256 or digest(data), room=None if to else room, to=to,
            mime=mime, ref="start",
        )
    )
    return await client.expect(UploadReady, skip=SKIP)


async def send_from(client: WireClient, upload: str, data: bytes, offset: int) -> UploadDone:
    """Send the rest of ``data`` from ``offset`` with a window of chunks in flight."""
    in_flight = 0
    while offset < len(data) or in_flight:
        while offset < len(data) and in_flight < UPLOAD_WINDOW:
            frame = chunk(upload, data, offset)
            await client.send(frame)
            offset += len(frame.data)
            in_flight += 1
        ack = await client.expect(UploadAck, skip=CHAT)
        in_flight -= 1
        assert ack.upload == upload and ack.offset <= len(data)
    return await client.expect(UploadDone, skip=CHAT)


async def upload(client: WireClient, data: bytes, **options: str | None) -> UploadDone:
    ready = await start(client, data, **options)
    assert ready.offset == 0
    return await send_from(client, ready.upload, data, 0)


async def download(client: WireClient, file_id: str, size: int) -> bytes:
    """The whole file, read with up to ``UPLOAD_WINDOW`` reads outstanding."""
    pieces: dict[int, bytes] = {}
    asked = 0
    answered = 0
    offsets = list(range(0, max(size, 1), FILE_CHUNK_MAX))
    while answered < len(offsets):
        while asked < len(offsets) and asked - answered < UPLOAD_WINDOW:
            await client.send(FileRead(file=file_id, offset=offsets[asked]))
            asked += 1
        got = await client.expect(FileChunk, skip=CHAT)
        pieces[got.offset] = got.data
        assert got.eof == (got.offset + len(got.data) >= size)
        answered += 1
    return b"".join(pieces[offset] for offset in sorted(pieces))


async def refused(client: WireClient, code: str) -> Error:
    return await client.expect_error(code, skip=SKIP)
