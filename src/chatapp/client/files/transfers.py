"""Uploads and downloads over the session's own connection, as tasks on the event loop.

:class:`Transfers` belongs to a :class:`~chatapp.client.net.session.ChatSession`
(``session.files``). The session shows it every event first (:meth:`Transfers.take`):
it takes out the answers to its own frames (``upload_ready``, ``upload_ack``,
``upload_done``, ``file_chunk``, and ``error`` by ``ref``), remembers the
files that messages share (by id, for ``/download ID``), and lets the rest
through. What it has to say comes out as :class:`TransferNote` and
:class:`TransferProgress` events among the session's.

Pacing (docs/protocol.md, "File sharing"): an upload keeps at most
``UPLOAD_WINDOW`` chunks unacknowledged and a download at most as many
``file_read`` unanswered, so a transfer never holds more than a few chunks in
the connection's send queue and chat frames go out between them. Reading,
writing and hashing files run in threads; the loop only moves frames.

Resuming: a lost connection interrupts the frame exchange (:class:`Interrupted`);
the transfer waits until the session is signed in again and starts over from
where the server is: ``upload_start`` of the same file answers with the offset
the server already has (also after the client was killed and started again),
and a download continues from the bytes in its partial file
(``.ID.part`` in the download directory).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import itertools
import logging
import mimetypes
import os
import re
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatapp.protocol import (
    ClientFrame,
    Direct,
    Error,
    ErrorCode,
    FileChunk,
    FileInfo,
    FileRead,
    HistoryPage,
    Message,
    ProtocolError,
    UploadAck,
    UploadCancelled,
    UploadChunk,
    UploadDone,
    UploadReady,
    UploadStart,
)
from chatapp.protocol.limits import FILE_CHUNK_MAX, FILE_NAME_MAX, MIME_MAX, UPLOAD_WINDOW

from ..e2e.filekey import FileKey
from ..net.errors import SendRefused
from ..net.events import LinkDown, SessionEnded, SessionEvent, TransferNote, TransferProgress
from ..ui.sanitize import sanitize
from .names import place, safe_name
from .progress import Progress, human_size, progress_line
from .refusals import refusal_text
from .sealing import OpenFailed, open_file, seal_file

if TYPE_CHECKING:
    from ..net.session import ChatSession

log = logging.getLogger("chatapp.client.files")

FILES_REMEMBERED = 1000
"""Files seen in messages, kept by id for ``/download``."""
PROGRESS_EVERY = 0.25
"""Seconds between two progress events of one transfer."""
MAX_INTERRUPTIONS = 20
"""Lost connections a transfer survives before it gives up."""
ANSWER_TIMEOUT = 60.0
FRAME_OVERHEAD = 512
"""Bytes of a chunk frame besides its base64 data."""
SEALED_NAME = "file"
"""The name an encrypted file is uploaded under: the real one travels inside the encrypted message."""
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


class Interrupted(Exception):
    """The connection went away while waiting for the server: start again once signed in."""


class TransferFailed(Exception):
    """The transfer cannot go on; the message is a sentence for the user."""


def chunk_size(max_frame: int) -> int:
    """The largest chunk whose frame (base64, 4 characters per 3 bytes) fits ``max_frame``."""
    fits = (max_frame - FRAME_OVERHEAD) // 4 * 3
    return max(1024, min(FILE_CHUNK_MAX, fits))


def describe_file(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a regular file (blocking)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        if not os.path.isfile(path):
            raise TransferFailed(f"{sanitize(str(path))} is not a regular file")
        while block := source.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _read_chunk(fd: int, offset: int, length: int) -> tuple[bytes, str]:
    data = os.pread(fd, length, offset)
    return data, hashlib.sha256(data).hexdigest()


class _Upload:
    """The server's side of one upload as this client knows it: acknowledged so far, done, refused."""

    def __init__(self, acked: int) -> None:
        self.acked = acked
        self.inflight: dict[int, int] = {}
        """Chunks sent and not answered: their ``ref`` and the offset they end at."""
        self.done: FileInfo | None = None
        self.error: Error | None = None
        self.changed = asyncio.Event()


class Transfers:
    """See the module docstring."""

    def __init__(self, session: ChatSession, download_dir: Path | None = None) -> None:
        self._session = session
        self.download_dir = download_dir
        """Where downloads go when no directory is given; None: the caller must give one."""
        self.files: collections.OrderedDict[str, FileInfo] = collections.OrderedDict()
        """Files shared in messages seen, newest last (by id)."""
        self.where: dict[str, tuple[str | None, str | None]] = {}
        """The room, or the person, each remembered file was shared with."""
        self._answers: dict[int, asyncio.Future[object]] = {}
        self._uploads: dict[str, _Upload] = {}
        self._chunk_refs: dict[int, str] = {}
        self._numbers = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._online = asyncio.Event()
        self.running = 0
        """Transfers going on now."""
        self.encrypts_for: Callable[[str], bool] = lambda to: False
        """Whether a direct message to this person is end-to-end encrypted (set by ``E2eSession``)."""
        self.sealed: dict[str, FileKey] = {}
        """Keys of the encrypted files this client uploaded, by file id, for the message that shares it."""
        self.keys: dict[str, FileKey] = {}
        """Keys of encrypted files from opened messages, by file id (``E2eSession`` fills it)."""

    # -- events in --------------------------------------------------------------------------------------

    def take(self, event: SessionEvent) -> bool:
        """Look at one of the session's events; True when it was an answer to a transfer (not passed on)."""
        if isinstance(event, Message | Direct):
            self._remember(event)
            return False
        if isinstance(event, HistoryPage):
            for message in event.messages:
                self._remember(message)
            return False
        if isinstance(event, LinkDown | SessionEnded):
            self._interrupt()
            return False
        if isinstance(event, UploadAck | UploadDone):
            upload = self._uploads.get(event.upload)
            if upload is None:
                return True
            if isinstance(event, UploadAck):
                upload.acked = max(upload.acked, event.offset)
                upload.inflight = {ref: end for ref, end in upload.inflight.items() if end > event.offset}
            else:
                upload.done = event.file
            upload.changed.set()
            return True
        ref = getattr(event, "ref", None)
        if isinstance(event, Error) and isinstance(ref, int) and ref in self._chunk_refs:
            upload = self._uploads.get(self._chunk_refs.pop(ref))
            if upload is not None:
                upload.inflight.pop(ref, None)
                upload.error = event
                upload.changed.set()
            return True
        if isinstance(event, UploadReady | FileChunk | UploadCancelled | Error) and isinstance(ref, int):
            future = self._answers.pop(ref, None)
            if future is not None:
                if not future.done():
                    future.set_result(event)
                return True
        return False

    def _remember(self, message: Message | Direct) -> None:
        if message.file is None:
            return
        self.files[message.file.id] = message.file
        self.files.move_to_end(message.file.id)
        if isinstance(message, Message):
            self.where[message.file.id] = (message.room, None)
        else:
            me = (self._session.username or "").casefold()
            peer = message.to if message.sender.casefold() == me else message.sender
            self.where[message.file.id] = (None, peer)
        while len(self.files) > FILES_REMEMBERED:
            old, _ = self.files.popitem(last=False)
            self.where.pop(old, None)

    def newest(self, room: str | None, peer: str | None) -> str | None:
        """The id of the newest file seen shared in ``room`` or with ``peer``."""
        want = (room.casefold() if room else None, peer.casefold() if peer else None)
        for file_id in reversed(self.files):
            where_room, where_peer = self.where.get(file_id, (None, None))
            if (where_room.casefold() if where_room else None,
                    where_peer.casefold() if where_peer else None) == want:
                return file_id
        return None

    def _interrupt(self) -> None:
        for future in self._answers.values():
            if not future.done():
                future.set_exception(Interrupted())
        self._answers.clear()
        self._chunk_refs.clear()
        for upload in self._uploads.values():
            upload.changed.set()

    # -- starting -----------------------------------------------------------------------------------

    def start_upload(self, path: Path, *, room: str | None, to: str | None, caption: str = "") -> int:
        """Upload the file at ``path`` and share it in ``room`` or with ``to``, in a task; its number."""
        number = next(self._numbers)
        self._spawn(self._guarded(number, self._upload(number, path, room, to, caption), room, to))
        return number

    def start_download(self, file_id: str, directory: Path | None = None) -> int:
        """Download the file ``file_id`` into ``directory`` (default: :attr:`download_dir`), in a task."""
        number = next(self._numbers)
        room, peer = self.where.get(file_id, (None, None))
        self._spawn(self._guarded(number, self._download(number, file_id, directory), room, peer))
        return number

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Return when no transfer is running (line mode waits before it quits)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _guarded(
        self, number: int, work: Coroutine[Any, Any, None], room: str | None, peer: str | None,
    ) -> None:
        self.running += 1
        try:
            await work
        except TransferFailed as exc:
            self._emit(TransferNote(str(exc), room=room, peer=peer, level="error", failed=True))
        except asyncio.CancelledError:
            raise
        except OSError as exc:
            self._emit(TransferNote(f"The transfer failed: {sanitize(exc.strerror or str(exc))}"
                                    f"{' (' + sanitize(str(exc.filename)) + ')' if exc.filename else ''}.",
                                    room=room, peer=peer, level="error", failed=True))
        except Exception:
            log.exception("a file transfer failed")
            self._emit(TransferNote("The transfer failed (details in the log).", room=room, peer=peer,
                                    level="error", failed=True))
        finally:
            self.running -= 1
            self._emit(TransferProgress(number, None))

    def _emit(self, event: SessionEvent) -> None:
        self._session.keeper.emit(event)

    # -- asking the server ---------------------------------------------------------------------------

    async def _wait_online(self) -> None:
        session = self._session
        while not session.online:
            if session.ended is not None or session.keeper.closing:
                raise TransferFailed("The session is over; the transfer stopped.")
            await asyncio.sleep(0.1)

    async def _ask(self, build: Callable[[int], ClientFrame]) -> object:
        try:
            ref = self._session.request(build)
        except SendRefused as exc:
            raise Interrupted() from exc
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._answers[ref] = future
        try:
            return await asyncio.wait_for(future, ANSWER_TIMEOUT)
        except TimeoutError:
            raise TransferFailed("The server did not answer; the transfer stopped.") from None
        finally:
            self._answers.pop(ref, None)

    def _chunk(self) -> int:
        welcome = self._session.welcome
        return chunk_size(welcome.max_frame if welcome is not None else 65536)

    # -- uploading ------------------------------------------------------------------------------------

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
        upload = _Upload(ready.offset)
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

    async def _download(self, number: int, file_id: str, directory: Path | None) -> None:
        info = self.files.get(file_id)
        if info is None:
            raise TransferFailed(
                f"No file {sanitize(file_id)} was seen here: /download takes the id shown on a file line "
                f"of this session (scroll back or /history to see older ones).")
        directory = directory or self.download_dir
        if directory is None:
            raise TransferFailed("No download directory: give one, /download ID DIR.")
        shown = sanitize(info.name) or "the file"
        await asyncio.to_thread(_make_directory, directory)
        part = directory / f".{info.id}.part"
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
        else:
            raise TransferFailed(f"Not downloaded ({shown}): the connection was lost too often.")
        if hasher.hexdigest() != info.sha256:
            await asyncio.to_thread(part.unlink, True)
            raise TransferFailed(f"Not saved: {shown} arrived damaged (its SHA-256 is not the one it was "
                                 f"shared with); try /download {info.id} again.")
        saved = await self._finish(info, part, directory)
        self._emit(TransferNote(
            f"Saved {shown} ({human_size(info.size)}) as {sanitize(str(saved))}.", level="ok"))

    async def _finish(self, info: FileInfo, part: Path, directory: Path) -> Path:
        """Give the verified file its safe name (decrypting it first when it is encrypted)."""
        if not info.encrypted:
            return await asyncio.to_thread(place, part, directory, safe_name(info.name))
        key = self.keys.get(info.id) or self.sealed.get(info.id)
        shown = sanitize(info.name) or "the file"
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

    def _read(self, file_id: str, offset: int, length: int) -> asyncio.Future[object]:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        try:
            ref = self._session.request(
                lambda ref: FileRead(file=file_id, offset=offset, length=length, ref=ref))
        except SendRefused:
            future.set_exception(Interrupted())
            return future
        self._answers[ref] = future
        return future


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
