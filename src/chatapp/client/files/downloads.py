"""Downloading a shared file: chunk by chunk into a partial file, checked, then saved under a safe name.

Up to ``UPLOAD_WINDOW`` ``file_read`` are unanswered at once. The bytes go to
``.ID.part`` in the download directory (0600, in a 0700 directory), so an
interrupted download (a lost link, the client killed) continues from what
is there; the file gets its name (``names.safe_name``, never over an existing
one) only when its SHA-256 is the one it was shared with, and, for an
encrypted conversation's file, only once it decrypted and its plaintext
digest matched (``sealing.open_file``). A file id this client has not seen
in a message is asked about once, so that the server says whether it may be
read at all.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import os
from pathlib import Path

from chatapp.protocol import Error, ErrorCode, FileChunk, FileInfo
from chatapp.protocol.limits import UPLOAD_WINDOW

from ..net.events import TransferNote, TransferProgress
from ..ui.sanitize import sanitize
from .base import MAX_INTERRUPTIONS, PROGRESS_EVERY, Interrupted, TransferBase, TransferFailed
from .names import place, safe_name
from .progress import Progress, human_size, progress_line
from .refusals import refusal_text
from .sealing import OpenFailed, open_file


class Downloads(TransferBase):
    """Downloads, the half of :class:`~.transfers.Transfers` that saves files."""

    def start_download(self, file_id: str, directory: Path | None = None) -> int:
        """Download the file ``file_id`` into ``directory`` (default: :attr:`download_dir`), in a task."""
        number = next(self._numbers)
        room, peer = self.where.get(file_id, (None, None))
        self._spawn(self._guarded(number, self._download(number, file_id, directory), room, peer))
        return number

    async def _download(self, number: int, file_id: str, directory: Path | None) -> None:
        info = self.files.get(file_id)
        if info is None:
            await self._unknown(file_id)
            return
        directory = directory or self.download_dir
        if directory is None:
            raise TransferFailed("No download directory: give one, /download ID DIR.")
        shown = sanitize(self.real_name(info)) or "the file"
        await asyncio.to_thread(_make_directory, directory)
        part = directory / f".{info.id}.part"
        if part in self._downloading:  # two writers of one partial file would spoil it
            raise TransferFailed(f"{shown} is already being downloaded into {sanitize(str(directory))}.")
        self._downloading.add(part)
        try:
            await self._download_into(number, info, shown, directory, part)
        finally:
            self._downloading.discard(part)

    async def _download_into(self, number: int, info: FileInfo, shown: str, directory: Path,
                             part: Path) -> None:
        have, hasher = await asyncio.to_thread(_resume_part, part, info.size)
        if have:
            self._emit(TransferNote(f"Resuming the download of {shown} at {human_size(have)} of "
                                    f"{human_size(info.size)}."))
        else:
            self._emit(TransferNote(
                f"Downloading {shown} ({human_size(info.size)}) to {sanitize(str(directory))}."))
        progress = Progress(total=info.size, done=have, started_at=have)
        for _ in range(MAX_INTERRUPTIONS):
            await self._wait_online()
            try:
                have = await self._read_chunks(number, shown, info, part, have, hasher, progress)
                break
            except Interrupted:
                self._emit(TransferProgress(number, f"↓ {shown}: connection lost; resumes when it is back"))
                # Continue from what the partial file really holds (chunks written before the loss).
                have, hasher = await asyncio.to_thread(_resume_part, part, info.size)
                self._emit(TransferNote(f"The connection was lost; the download of {shown} continues at "
                                        f"{human_size(have)} (offset {have}) once it is back."))
        else:
            raise TransferFailed(f"Not downloaded ({shown}): the connection was lost too often.")
        if hasher.hexdigest() != info.sha256:
            await asyncio.to_thread(part.unlink, True)
            raise TransferFailed(f"Not saved: {shown} arrived damaged (its SHA-256 is not the one it was "
                                 f"shared with); try /download {info.id} again.")
        saved = await self._finish(info, part, directory)
        self._emit(TransferNote(
            f"Saved {shown} ({human_size(info.size)}) as {sanitize(str(saved))}.", level="ok"))

    def real_name(self, info: FileInfo) -> str:
        """The file's name: for an encrypted one, the name inside the message (the wire's is neutral)."""
        key = self.keys.get(info.id) or self.sealed.get(info.id) if info.encrypted else None
        return key.name if key is not None else info.name

    async def _unknown(self, file_id: str) -> None:
        """A file id no message seen here shares: ask the server for its first byte, so that the answer says
        whether the user may read it at all; without the message there is no digest to check, so no save."""
        await self._wait_online()
        try:
            answer = await self._read(file_id, 0, 1)
        except Interrupted:
            raise TransferFailed(f"Not downloaded ({file_id}): the connection was lost.") from None
        if isinstance(answer, Error):
            if answer.code == ErrorCode.NO_SUCH_FILE:
                raise TransferFailed(f"Not downloaded: there is no file {file_id} that you may read.")
            raise TransferFailed(f"Not downloaded ({file_id}): {refusal_text(answer)}")
        raise TransferFailed(
            f"Not downloaded: the message sharing file {file_id} was not seen by this client, so its name "
            f"and digest are not known here; /history loads older messages, then /download it again.")

    async def _finish(self, info: FileInfo, part: Path, directory: Path) -> Path:
        """Give the verified file its safe name (decrypting it first when it is encrypted)."""
        if not info.encrypted:
            return await asyncio.to_thread(place, part, directory, safe_name(info.name))
        key = self.keys.get(info.id) or self.sealed.get(info.id)
        shown = sanitize(self.real_name(info)) or "the file"
        if key is None:
            raise TransferFailed(
                f"Downloaded {shown}, but it is encrypted and this device does not have its key (the message "
                f"sharing it could not be read here); the encrypted copy is {sanitize(str(part))}.")
        plain = directory / f".{info.id}.plain"
        try:
            await asyncio.to_thread(open_file, part, plain, key.key, key.nonce, key.sha256)
        except OpenFailed as exc:
            await asyncio.to_thread(part.unlink, True)
            raise TransferFailed(f"Not saved: {shown} could not be decrypted: {exc}.") from None
        await asyncio.to_thread(part.unlink, True)
        return await asyncio.to_thread(place, plain, directory, safe_name(key.name))

    async def _read_chunks(self, number: int, shown: str, info: FileInfo, part: Path, have: int,
                           hasher: hashlib._Hash, progress: Progress) -> int:
        loop = asyncio.get_running_loop()
        chunk = self._chunk()
        pending: collections.deque[tuple[int, asyncio.Future[object]]] = collections.deque()
        asked = have
        last_shown = 0.0
        eof = info.size == 0
        fd = await asyncio.to_thread(os.open, part, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            while not eof:
                if not pending and asked != have:
                    asked = have  # a short chunk: ask again from where the file really is
                while len(pending) < UPLOAD_WINDOW and asked < info.size:
                    offset = asked
                    pending.append((offset, self._read(info.id, offset, chunk)))
                    asked += chunk
                if not pending:
                    break
                offset, future = pending.popleft()
                answer = await future
                if isinstance(answer, Error):
                    if answer.code == ErrorCode.NO_SUCH_FILE:
                        raise TransferFailed(f"Not downloaded ({shown}): the server does not let you read it "
                                             f"(no longer shared with you, removed or expired).")
                    raise TransferFailed(f"Not downloaded ({shown}): {refusal_text(answer)}")
                assert isinstance(answer, FileChunk)
                if answer.offset != have:
                    continue  # after a short chunk: asked too far ahead, ignored
                if have + len(answer.data) > info.size:
                    raise TransferFailed(f"Not downloaded ({shown}): the server sent more than its size.")
                await asyncio.to_thread(_append, fd, answer.data, hasher)
                have += len(answer.data)
                eof = answer.eof or have >= info.size
                progress.update(have, loop.time())
                if loop.time() - last_shown >= PROGRESS_EVERY:
                    last_shown = loop.time()
                    self._emit(TransferProgress(number, progress_line(f"↓ {shown}", progress)))
        finally:
            for _, future in pending:
                future.cancel()
            await asyncio.to_thread(os.close, fd)
        return have


def _make_directory(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


def _resume_part(part: Path, size: int) -> tuple[int, hashlib._Hash]:
    """The bytes of an earlier partial download and their running digest (start afresh if too long)."""
    hasher = hashlib.sha256()
    try:
        have = part.stat().st_size
    except FileNotFoundError:
        return 0, hasher
    if have > size:
        part.unlink()
        return 0, hasher
    with part.open("rb") as partial:
        while block := partial.read(1 << 20):
            hasher.update(block)
    return have, hasher


def _append(fd: int, data: bytes, hasher: hashlib._Hash) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    hasher.update(data)

