"""Uploading a file and sharing it: ``upload_start``, chunks paced by the window, ``upload_done``, a message.

The file is hashed in a thread first (the server resumes an unfinished upload
of the same user, size, digest and target, so a client started again after
being killed continues from the server's offset). At most ``UPLOAD_WINDOW``
chunks are unacknowledged; a chunk the server refuses (``bad_chunk``,
``wrong_offset``) is sent again from the offset it gives once every chunk in
flight is answered. In an encrypted conversation the file is first encrypted
into a temporary file under a fresh key (``sealing.seal_file``) and uploaded
as ``file`` with ``encrypted``; its key goes into the message's payload.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from chatapp.protocol import (
    ClientFrame,
    Error,
    ErrorCode,
    FileInfo,
    ProtocolError,
    UploadChunk,
    UploadReady,
    UploadStart,
)
from chatapp.protocol.limits import FILE_NAME_MAX, MIME_MAX, UPLOAD_WINDOW

from ..e2e.filekey import FileKey
from ..net.errors import SendRefused
from ..net.events import TransferNote, TransferProgress
from ..ui.sanitize import sanitize
from .base import (
    ANSWER_TIMEOUT,
    MAX_INTERRUPTIONS,
    PROGRESS_EVERY,
    Interrupted,
    TransferBase,
    TransferFailed,
    UploadState,
)
from .progress import Progress, human_size, progress_line
from .refusals import refusal_text
from .sealing import seal_file

SEALED_NAME = "file"
"""The name an encrypted file is uploaded under: the real one travels inside the encrypted message."""
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


def describe_file(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a regular file (blocking)."""
    digest = hashlib.sha256()
    size = 0
    if path.exists() and not path.is_dir() and not path.is_file():  # a FIFO or device would never end
        raise TransferFailed(f"Not uploaded: {sanitize(str(path))} is not a regular file.")
    with path.open("rb") as source:
        while block := source.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _read_chunk(fd: int, offset: int, length: int) -> tuple[bytes, str]:
    data = os.pread(fd, length, offset)
    return data, hashlib.sha256(data).hexdigest()



class Uploads(TransferBase):
    """Uploads, the half of :class:`~.transfers.Transfers` that shares files."""

    def start_upload(self, path: Path, *, room: str | None, to: str | None, caption: str = "") -> int:
        """Upload the file at ``path`` and share it in ``room`` or with ``to``, in a task; its number."""
        number = next(self._numbers)
        self._spawn(self._guarded(number, self._upload(number, path, room, to, caption), room, to))
        return number

    async def _upload(self, number: int, path: Path, room: str | None, to: str | None, caption: str) -> None:
        shown = sanitize(path.name) or "the file"
        try:
            size, sha256 = await asyncio.to_thread(describe_file, path)
        except FileNotFoundError:
            raise TransferFailed(f"Not uploaded: there is no file {sanitize(str(path))}.") from None
        except IsADirectoryError:
            raise TransferFailed(f"Not uploaded: {sanitize(str(path))} is a directory.") from None
        except PermissionError:
            raise TransferFailed(f"Not uploaded: {sanitize(str(path))} cannot be read (permission denied).") \
                from None
        mime = mimetypes.guess_type(path.name, strict=False)[0]
        if to is not None and self.encrypts_for(to):
            await self._upload_sealed(number, path, shown, to, caption, mime)
            return
        start = _upload_start(path.name, size, sha256, room, to, mime)
        fd = await asyncio.to_thread(os.open, path, os.O_RDONLY)
        try:
            done = await self._upload_attempts(number, shown, fd, size, start, room, to)
        finally:
            os.close(fd)
        self._share(done, caption, room, to, shown)

    async def _upload_sealed(self, number: int, path: Path, shown: str, to: str, caption: str,
                             mime: str | None) -> None:
        """An encrypted conversation: upload the file encrypted under a fresh key, with a neutral name.

        The ciphertext differs each time (a fresh key), so an upload cut short starts again from 0.
        """
        handle, temporary = await asyncio.to_thread(tempfile.mkstemp, prefix="chatapp-upload-")
        os.close(handle)
        sealed_path = Path(temporary)
        try:
            sealed = await asyncio.to_thread(seal_file, path, sealed_path)
            size, sha256 = await asyncio.to_thread(describe_file, sealed_path)
            start = _upload_start(SEALED_NAME, size, sha256, None, to, None, encrypted=True)
            fd = await asyncio.to_thread(os.open, sealed_path, os.O_RDONLY)
            try:
                done = await self._upload_attempts(number, shown, fd, size, start, None, to)
            finally:
                os.close(fd)
        finally:
            await asyncio.to_thread(sealed_path.unlink, True)
        self.sealed[done.id] = FileKey(key=sealed.key, nonce=sealed.nonce, sha256=sealed.sha256,
                                       name=path.name[:FILE_NAME_MAX], mime=_clean_mime(mime))
        self._share(done, caption, None, to, shown)

    async def _upload_attempts(
        self, number: int, shown: str, fd: int, size: int, start: Callable[[int], ClientFrame],
        room: str | None, to: str | None,
    ) -> FileInfo:
        progress = Progress(total=size)
        for _ in range(MAX_INTERRUPTIONS):
            await self._wait_online()
            try:
                ready = await self._ask(start)
                if isinstance(ready, Error):
                    raise TransferFailed(f"Not uploaded ({shown}): {refusal_text(ready)}")
                assert isinstance(ready, UploadReady)
                if ready.offset > 0:
                    self._emit(TransferNote(
                        f"Resuming the upload of {shown} at {human_size(ready.offset)} of "
                        f"{human_size(size)} (offset {ready.offset}): the server kept what was sent before.",
                        room=room, peer=to))
                else:
                    self._emit(TransferNote(f"Uploading {shown} ({human_size(size)}).", room=room, peer=to))
                progress.started_at = ready.offset
                return await self._send_chunks(number, shown, fd, size, ready, progress)
            except Interrupted:
                self._emit(TransferProgress(number, f"↑ {shown}: connection lost; resumes when it is back"))
                continue
        raise TransferFailed(f"Not uploaded ({shown}): the connection was lost too often.")

    async def _send_chunks(self, number: int, shown: str, fd: int, size: int, ready: UploadReady,
                           progress: Progress) -> FileInfo:
        upload = UploadState(ready.offset)
        self._uploads[ready.upload] = upload
        loop = asyncio.get_running_loop()
        chunk = self._chunk()
        sent = ready.offset
        last_shown = 0.0
        retries = 0
        try:
            while upload.done is None:
                if upload.error is not None:
                    error, upload.error = upload.error, None
                    if error.code not in (ErrorCode.BAD_CHUNK, ErrorCode.WRONG_OFFSET) or retries >= 5:
                        raise TransferFailed(f"Not uploaded ({shown}): {refusal_text(error)}")
                    retries += 1
                    sent = -1  # send nothing until every chunk in flight is answered
                if sent < 0 and not upload.inflight:
                    sent = upload.acked
                while 0 <= sent < size and sent - upload.acked < UPLOAD_WINDOW * chunk:
                    data, digest = await asyncio.to_thread(_read_chunk, fd, sent, min(chunk, size - sent))
                    if not data:
                        raise TransferFailed(f"Not uploaded ({shown}): the file got shorter meanwhile.")
                    offset = sent
                    try:
                        ref = self._session.request(lambda ref, o=offset, d=data, h=digest: UploadChunk(  # type: ignore[misc]
                            upload=ready.upload, offset=o, data=d, sha256=h, ref=ref))
                    except SendRefused as exc:
                        raise Interrupted() from exc
                    self._chunk_refs[ref] = ready.upload
                    upload.inflight[ref] = offset + len(data)
                    sent += len(data)
                if not self._session.online:
                    raise Interrupted()
                upload.changed.clear()
                try:
                    await asyncio.wait_for(upload.changed.wait(), ANSWER_TIMEOUT)
                except TimeoutError:
                    raise TransferFailed(f"Not uploaded ({shown}): the server stopped answering.") from None
                progress.update(upload.acked, loop.time())
                if loop.time() - last_shown >= PROGRESS_EVERY:
                    last_shown = loop.time()
                    self._emit(TransferProgress(number, progress_line(f"↑ {shown}", progress)))
            return upload.done
        finally:
            del self._uploads[ready.upload]
            for ref in list(upload.inflight):
                self._chunk_refs.pop(ref, None)

    def _share(self, done: FileInfo, caption: str, room: str | None, to: str | None, shown: str) -> None:
        session = self._session
        try:
            if to is not None:
                session.send_direct(caption, to, file=done.id)
            else:
                assert room is not None
                session.send_text(caption, room, file=done.id)
        except ProtocolError as exc:
            raise TransferFailed(f"Uploaded {shown} but could not share it: {sanitize(exc.message)}") \
                from None
        except SendRefused as exc:
            raise TransferFailed(f"Uploaded {shown} but could not share it: {exc}.") from None
        self._emit(TransferNote(
            f"Uploaded {shown} ({human_size(done.size)}); it is shared as file {done.id}.",
            room=room, peer=to, level="ok"))

    # -- downloading ----------------------------------------------------------------------------------


def _clean_mime(mime: str | None) -> str | None:
    if mime and mime.isascii() and len(mime) <= MIME_MAX and _MIME.fullmatch(mime.lower()):
        return mime.lower()
    return None


def _upload_start(name: str, size: int, sha256: str, room: str | None, to: str | None,
                  mime: str | None, *, encrypted: bool = False) -> Callable[[int], ClientFrame]:
    clean_mime = _clean_mime(mime)
    wire_name = name.replace("\x00", "")[:FILE_NAME_MAX] or SEALED_NAME
    return lambda ref: UploadStart(name=wire_name, size=size, sha256=sha256, room=room, to=to,
                                   mime=clean_mime, encrypted=encrypted or None, ref=ref)


