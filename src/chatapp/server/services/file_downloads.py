"""Downloads of shared files: by ``file_read`` over the connection, and by a ticketed link on the
web port (docs/protocol.md, "File sharing").

A user may read a file while they may read the message that posts it: a member of its room now,
or one of the two people of its conversation; its uploader may also read it before posting it.
Anything else is ``no_such_file``, whether the file exists or not.

Who may read a posted file is cached for ``ACCESS_TTL`` seconds per file (a download is hundreds
of reads; the membership part is the session's, in memory, and always current); removing a
message forgets its file's entry at once (:meth:`FileDownloads.forget_message`). An unposted
file's access is never cached: it changes when it is posted.

The reads a client keeps outstanding (at most ``UPLOAD_WINDOW``) are worked on together: each
one's query and blob read overlap the others' (each costs a hand-over to a thread and back), and
the answers still go out in the order the reads came.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

import msgspec

from chatapp.clock import wire_timestamp
from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.protocol.file_frames import FileChunk, FileLink, FileRead, FileUrl
from chatapp.protocol.limits import FILE_CHUNK_MAX, UPLOAD_WINDOW
from chatapp.server.blobs import BlobStore
from chatapp.server.config import Config
from chatapp.server.file_tickets import SECRET_NAME, Tickets, new_key
from chatapp.server.session import Session
from chatapp.server.store import FileAccess, FileRecord, Store

log = logging.getLogger("chatapp.files")

CHUNK_FRAME_HEADROOM = 768
"""Bytes of a ``file_chunk`` frame around its data (type, file id, offset, eof), the ref apart."""

_FAILED = "the server could not read that file; try again"
ACCESS_TTL = 2.0
"""Seconds a posted file's access (its message's room or people) is kept in memory. Another server
process's removal of the message is seen within this."""
ACCESS_CACHE_MAX = 4096


def no_such_file(file_id: str) -> ProtocolError:
    return ProtocolError(ErrorCode.NO_SUCH_FILE, f"there is no file {file_id!r} you may read")


def may_read(user_id: int, room_ids: set[int] | None, access: FileAccess) -> bool:
    """Whether the user may read the file. ``room_ids``: the user's rooms now (only the one the
    file's message is in matters)."""
    file = access.file
    if access.message_id is None:
        return file.owner_id == user_id and file.attached_at is None
    if access.room_id is not None:
        return room_ids is not None and access.room_id in room_ids
    return user_id in (access.sender_id, access.recipient_id)


class FileDownloads:
    def __init__(self, config: Config, store: Store, blobs: BlobStore) -> None:
        self._config = config
        self._store = store
        self._blobs = blobs
        self._tickets: Tickets | None = None
        self._access: dict[str, tuple[float, FileAccess]] = {}
        self._reading: dict[int, list[asyncio.Task[None]]] = {}
        """By session (its id): its reads being worked on, the oldest first."""

    async def _readable(self, session: Session, file_id: str) -> FileAccess:
        if not self._config.files_enabled:
            raise ProtocolError(ErrorCode.FORBIDDEN, "this server does not share files")
        access = await self._access_of(file_id)
        if access is None or not may_read(session.user_id, set(session.room_ids.values()), access):
            raise no_such_file(file_id)
        return access

    async def _access_of(self, file_id: str) -> FileAccess | None:
        now = time.monotonic()
        cached = self._access.get(file_id)
        if cached is not None and now - cached[0] < ACCESS_TTL:
            return cached[1]
        access = await self._store.file_access(file_id)
        if access is not None and access.message_id is not None:
            if len(self._access) >= ACCESS_CACHE_MAX:
                self._access.pop(next(iter(self._access)))  # the oldest
            self._access[file_id] = (now, access)
        else:
            self._access.pop(file_id, None)
        return access

    def forget_message(self, message_id: int) -> None:
        """A message was removed: its file's access is read again from the store."""
        for file_id, (_, access) in list(self._access.items()):
            if access.message_id == message_id:
                del self._access[file_id]

    async def read(self, session: Session, frame: FileRead) -> FileChunk:
        access = await self._readable(session, frame.file)
        size = access.file.size
        if frame.offset > size:
            raise ProtocolError(
                ErrorCode.WRONG_OFFSET, f"the file has {size} bytes: read from 0 to {size}", offset=size
            )
        room = self._config.max_frame - CHUNK_FRAME_HEADROOM - len(msgspec.json.encode(frame.ref))
        length = min(frame.length or FILE_CHUNK_MAX, FILE_CHUNK_MAX, max(1, room * 3 // 4))
        read = await self._blobs.read(access.file.sha256, frame.offset, length)
        if read is None:
            log.error("the blob of file %s (%s) is missing", access.file.id, access.file.sha256)
            raise no_such_file(frame.file)
        data, _ = read
        eof = frame.offset + len(data) >= size
        return FileChunk(file=frame.file, offset=frame.offset, data=data, eof=eof, ref=frame.ref)

    async def read_in_turn(self, session: Session, frame: FileRead) -> None:
        """Start on a read, and answer it after the session's earlier reads; with ``UPLOAD_WINDOW``
        reads being worked on, wait for the oldest first (the next frame is read after that)."""
        key = id(session)
        reading = self._reading.setdefault(key, [])
        while len(reading) >= UPLOAD_WINDOW:
            await asyncio.wait([reading[0]])
            reading[:] = [task for task in reading if not task.done()]
        before = reading[-1] if reading else None
        task = asyncio.create_task(self._answer(session, frame, before))
        reading.append(task)
        task.add_done_callback(lambda done: self._finished(key, done))

    def _finished(self, key: int, done: asyncio.Task[None]) -> None:
        reading = self._reading.get(key)
        if reading is not None:
            reading[:] = [task for task in reading if task is not done]
            if not reading:
                del self._reading[key]

    async def _answer(self, session: Session, frame: FileRead, before: asyncio.Task[None] | None) -> None:
        answer: FileChunk | ProtocolError
        try:
            answer = await self.read(session, frame)
        except ProtocolError as error:
            answer = error
        except Exception:
            log.exception("reading file %s failed", frame.file)
            answer = ProtocolError(ErrorCode.SERVER_ERROR, _FAILED)
        if before is not None:
            await asyncio.wait([before])
        if isinstance(answer, ProtocolError):
            session.peer.refuse(answer, frame.ref)
        else:
            session.send(answer)

    async def _ticket_keys(self) -> Tickets:
        if self._tickets is None:
            self._tickets = Tickets.from_stored(await self._store.server_secret(SECRET_NAME, new_key()))
        return self._tickets

    async def link(self, session: Session, frame: FileLink) -> FileUrl:
        await self._readable(session, frame.file)
        ticket, expires = (await self._ticket_keys()).issue(frame.file, session.user_id, time.time())
        when = wire_timestamp(datetime.fromtimestamp(expires, UTC))
        url = f"/files/{frame.file}?ticket={ticket}"
        return FileUrl(file=frame.file, url=url, expires=when, ref=frame.ref)

    async def by_ticket(self, file_id: str, ticket: str) -> FileRecord | None:
        """The file a download link names, if its ticket holds and its user may still read it."""
        if not self._config.files_enabled:
            return None
        user_id = (await self._ticket_keys()).check(ticket, file_id, time.time())
        if user_id is None:
            return None
        access = await self._store.file_access(file_id)
        if access is None:
            return None
        rooms = None
        if access.room_id is not None and await self._store.is_member(access.room_id, user_id):
            rooms = {access.room_id}
        return access.file if may_read(user_id, rooms, access) else None

    async def read_blob(self, sha256: str, offset: int, length: int) -> bytes | None:
        """Bytes of a file's blob for a download by link (None: it is gone)."""
        read = await self._blobs.read(sha256, offset, length)
        return None if read is None else read[0]
