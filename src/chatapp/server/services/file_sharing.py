"""Sharing files: uploads in chunks, the file a message posts, and the sweeper that removes what
is no longer wanted (docs/protocol.md, "File sharing"; docs/design.md, "Shared files").
Downloads are :mod:`.file_downloads`.

The database holds who owns which file and for whom (:mod:`chatapp.server.store.files`); the
bytes are on disk (:class:`~chatapp.server.blobs.BlobStore`), every read, write and hash in an
executor.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from chatapp.clock import utc_now
from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.protocol.file_frames import (
    FileInfo,
    UploadAck,
    UploadCancel,
    UploadCancelled,
    UploadChunk,
    UploadDone,
    UploadReady,
    UploadStart,
)
from chatapp.protocol.rules import check_file_name, check_upload_target
from chatapp.server.blobs import BlobStore
from chatapp.server.config import Config
from chatapp.server.services.people import find_user
from chatapp.server.services.room_sanctions import RoomSanctions
from chatapp.server.session import Session
from chatapp.server.store import FileLimits, FileRecord, Store, UploadRefused

log = logging.getLogger("chatapp.files")

DIGEST_QUERY = 500
"""Blob digests asked about in one query by the sweeper."""

_LIMIT_CODES = {
    "size": ErrorCode.FILE_TOO_LARGE,
    "quota": ErrorCode.QUOTA_EXCEEDED,
    "budget": ErrorCode.STORAGE_FULL,
    "uploads": ErrorCode.TOO_MANY_UPLOADS,
}


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _refusal(refused: UploadRefused, size: int) -> ProtocolError:
    limit, over = refused.limit, refused.over
    if refused.kind == "size":
        text = f"the file is {_mib(size)}; the largest allowed is {_mib(limit)} ({_mib(over)} over)"
    elif refused.kind == "quota":
        text = f"your files would hold {_mib(limit + over)}; your quota is {_mib(limit)} ({_mib(over)} over)"
    elif refused.kind == "budget":
        text = f"the server's file storage is full: this file goes {_mib(over)} over its {_mib(limit)}"
    else:
        text = f"you have {limit} unfinished uploads, the most at once: finish or cancel one first"
    return ProtocolError(_LIMIT_CODES[refused.kind], text, limit=limit, over=over)


def file_info(record: FileRecord) -> FileInfo:
    return FileInfo(
        id=record.id,
        name=record.name,
        size=record.size,
        sha256=record.sha256,
        mime=record.mime,
        encrypted=record.encrypted,
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    """What a message posting a file carries: the file's id and its description for the frames.
    ``resend``: the message was stored already (the same nonce), so it is left to the writer."""

    file_id: str | None
    file: str | None
    resend: bool = False


@dataclass(frozen=True, slots=True)
class SweepReport:
    uploads: int
    files: int
    blobs: int


class FileSharing:
    def __init__(self, config: Config, store: Store, blobs: BlobStore, sanctions: RoomSanctions) -> None:
        self._config = config
        self._store = store
        self._blobs = blobs
        self._sanctions = sanctions
        self._limits = FileLimits(
            max_size=config.max_file_size,
            quota=config.file_quota,
            budget=config.files_budget,
            uploads=config.max_uploads,
        )
        self._uploads: dict[str, FileRecord] = {}
        """Unfinished uploads this process has seen, so that a chunk needs no query to find its own."""
        self._busy: dict[str, asyncio.Lock] = {}
        """One chunk of an upload at a time (two connections of one user resuming it at once)."""

    def check_enabled(self) -> None:
        if not self._config.files_enabled:
            raise ProtocolError(ErrorCode.FORBIDDEN, "this server does not share files")

    # -- uploads ------------------------------------------------------------------

    async def start(self, session: Session, frame: UploadStart) -> tuple[UploadReady, FileRecord | None]:
        """The upload's id and where to send from; and the upload to :meth:`finish` at once when it
        has every byte already (an empty file; one whose last chunk arrived but not its check)."""
        self.check_enabled()
        check_upload_target(frame.room, frame.to)
        check_file_name(frame.name)
        room_id = recipient_id = None
        if frame.room is not None:
            room_id = await self._sanctions.room_to_post(frame.room, session.room_ids, session.user_id)
        else:
            assert frame.to is not None
            recipient_id = (await find_user(self._store, frame.to)).id
        new = FileRecord(
            id=secrets.token_urlsafe(16),
            owner_id=session.user_id,
            sha256=frame.sha256,
            size=frame.size,
            name=frame.name,
            mime=frame.mime,
            encrypted=bool(frame.encrypted),
            room_id=room_id,
            recipient_id=recipient_id,
            created_at=utc_now(),
        )
        try:
            upload, resumed = await self._store.start_upload(new, self._limits)
        except UploadRefused as refused:
            raise _refusal(refused, frame.size) from None
        self._uploads[upload.id] = upload
        offset = await self._blobs.received(upload.id) if resumed else 0
        log.debug("upload %s by %s: %d bytes from %d", upload.id, session.username, upload.size, offset)
        ready = UploadReady(upload=upload.id, offset=offset, ref=frame.ref)
        return ready, upload if offset == upload.size else None

    async def _own_upload(self, session: Session, upload_id: str) -> FileRecord:
        upload = self._uploads.get(upload_id)
        if upload is None:
            upload = await self._store.find_upload(upload_id, session.user_id)
            if upload is not None:
                self._uploads[upload_id] = upload
        if upload is None or upload.owner_id != session.user_id:
            raise ProtocolError(ErrorCode.NO_SUCH_UPLOAD, f"you have no unfinished upload {upload_id!r}")
        return upload

    async def chunk(self, session: Session, frame: UploadChunk) -> tuple[UploadAck, FileRecord | None]:
        """Store one chunk: its acknowledgment, and when it was the last, the upload to
        :meth:`finish` (after the acknowledgment is sent: a digest mismatch answers the last chunk)."""
        upload = await self._own_upload(session, frame.upload)
        lock = self._busy.setdefault(upload.id, asyncio.Lock())
        async with lock:
            if not frame.data or frame.offset + len(frame.data) > upload.size:
                raise ProtocolError(
                    ErrorCode.BAD_CHUNK,
                    f"a chunk holds 1 byte or more and ends by the file's size ({upload.size})",
                    offset=frame.offset,
                )
            end = await self._blobs.append(upload.id, frame.offset, frame.data, frame.sha256)
            if end is None:
                raise ProtocolError(
                    ErrorCode.BAD_CHUNK,
                    f"the chunk at offset {frame.offset} does not match its sha256: send it again",
                    offset=frame.offset,
                )
            if end < 0:
                raise ProtocolError(
                    ErrorCode.WRONG_OFFSET,
                    f"the upload has {-end} bytes: send from offset {-end}",
                    offset=-end,
                )
            ack = UploadAck(upload=upload.id, offset=end, ref=frame.ref)
            return ack, upload if end == upload.size else None

    async def finish(self, upload: FileRecord) -> UploadDone:
        self._uploads.pop(upload.id, None)
        self._busy.pop(upload.id, None)
        if not await self._blobs.finish(upload.id, upload.sha256):
            await self._store.drop_upload(upload.id)
            raise ProtocolError(
                ErrorCode.DIGEST_MISMATCH,
                "the file's SHA-256 is not the one its upload_start gave: the upload is removed; start again",
            )
        file = FileRecord(
            id=secrets.token_urlsafe(16),
            owner_id=upload.owner_id,
            sha256=upload.sha256,
            size=upload.size,
            name=upload.name,
            mime=upload.mime,
            encrypted=upload.encrypted,
            room_id=upload.room_id,
            recipient_id=upload.recipient_id,
            created_at=utc_now(),
        )
        if not await self._store.finish_upload(upload.id, file):
            raise ProtocolError(ErrorCode.NO_SUCH_UPLOAD, f"the upload {upload.id!r} was removed meanwhile")
        return UploadDone(upload=upload.id, file=file_info(file))

    async def cancel(self, session: Session, frame: UploadCancel) -> UploadCancelled:
        upload = await self._own_upload(session, frame.upload)
        async with self._busy.setdefault(upload.id, asyncio.Lock()):
            self._uploads.pop(upload.id, None)
            await self._store.drop_upload(upload.id)
            await self._blobs.discard(upload.id)
        self._busy.pop(upload.id, None)
        return UploadCancelled(upload=upload.id, ref=frame.ref)

    # -- posting ------------------------------------------------------------------

    async def claim(
        self,
        session: Session,
        file_id: str,
        nonce: str | None,
        *,
        room_id: int | None,
        recipient_id: int | None,
    ) -> Claimed:
        """Take the user's file for the message about to be stored (room or person as uploaded for)."""
        self.check_enabled()
        outcome = await self._store.claim_file(file_id, session.user_id, room_id, recipient_id, utc_now())
        if isinstance(outcome, FileRecord):
            return Claimed(file_id, msgspec.json.encode(file_info(outcome)).decode())
        if outcome is False:
            raise ProtocolError(ErrorCode.NO_SUCH_FILE, f"you have no file {file_id!r} to post there")
        access = await self._store.file_access(file_id)
        if nonce is not None and access is not None and access.sender_id == session.user_id:
            if access.nonce == nonce:  # the same send again (after a lost link): its acknowledgment
                return Claimed(None, None, resend=True)
        raise ProtocolError(ErrorCode.FILE_ATTACHED, f"the file {file_id!r} is posted already")

    async def release(self, file_id: str) -> None:
        """The message that claimed the file was not stored: it may be posted again."""
        try:
            await self._store.release_file(file_id)
        except Exception:
            log.exception("could not release file %s", file_id)

    # -- clean-up -----------------------------------------------------------------

    async def sweep(self, now: float | None = None) -> SweepReport:
        """Remove abandoned uploads, files no message shares, and blobs no file names.

        ``now`` (Unix seconds; default: the clock) lets tests look ahead instead of waiting.
        """
        now = time.time() if now is None else now
        cutoff = now - self._config.file_expiry
        uploads = 0
        for upload_id in await self._store.stale_uploads(datetime.fromtimestamp(cutoff, UTC)):
            busy = self._busy.get(upload_id)
            if busy is not None and busy.locked():
                continue
            idle = await self._blobs.idle_since(upload_id)
            if idle is None or idle < cutoff:
                self._uploads.pop(upload_id, None)
                self._busy.pop(upload_id, None)
                await self._store.drop_upload(upload_id)
                await self._blobs.discard(upload_id)
                uploads += 1
        # Bytes of uploads whose row is gone (cancelled or swept by another process while a chunk
        # was being written here): nobody resumes them.
        partial = await self._blobs.partial_uploads()
        unknown = set(partial) - await self._store.known_uploads(partial)
        uploads += len(await self._blobs.remove_unused_partials(unknown, cutoff))
        orphans = await self._store.orphan_files(datetime.fromtimestamp(cutoff, UTC))
        await self._store.delete_files(orphans)
        digests = await self._blobs.stored_digests()
        unused: set[str] = set()
        for start in range(0, len(digests), DIGEST_QUERY):
            batch = digests[start : start + DIGEST_QUERY]
            unused |= set(batch) - await self._store.digests_in_use(batch)
        removed = await self._blobs.remove_unused(unused, cutoff)
        report = SweepReport(uploads=uploads, files=len(orphans), blobs=len(removed))
        if uploads or orphans or removed:
            log.info("files swept: %d uploads, %d files, %d blobs removed", uploads, len(orphans),
                     len(removed))
        return report


def sweep_interval(config: Config) -> float:
    """How often the sweeper runs: often enough that nothing outlives its expiry by much."""
    return max(1.0, min(600.0, config.file_expiry / 4))


async def sweep_forever(files: FileSharing, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await files.sweep()
        except Exception:
            log.exception("sweeping shared files failed")

