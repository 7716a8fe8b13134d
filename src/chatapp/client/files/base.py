"""What uploads and downloads share: answers to their frames taken out of the session's events, by ``ref``
(or by upload id), the files that messages share, the tasks and their notes. See ``transfers.py``."""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatapp.protocol import (
    ClientFrame,
    Direct,
    Error,
    FileChunk,
    FileInfo,
    FileRead,
    HistoryPage,
    Message,
    UploadAck,
    UploadCancelled,
    UploadDone,
    UploadReady,
)
from chatapp.protocol.limits import FILE_CHUNK_MAX

from ..e2e.filekey import FileKey
from ..net.errors import SendRefused
from ..net.events import LinkDown, SessionEnded, SessionEvent, TransferNote, TransferProgress
from ..ui.sanitize import sanitize

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


class Interrupted(Exception):
    """The connection went away while waiting for the server: start again once signed in."""


class TransferFailed(Exception):
    """The transfer cannot go on; the message is a sentence for the user."""


def chunk_size(max_frame: int) -> int:
    """The largest chunk whose frame (base64, 4 characters per 3 bytes) fits ``max_frame``."""
    fits = (max_frame - FRAME_OVERHEAD) // 4 * 3
    return max(1024, min(FILE_CHUNK_MAX, fits))


class UploadState:
    """The server's side of one upload as this client knows it: acknowledged so far, done, refused."""

    def __init__(self, acked: int) -> None:
        self.acked = acked
        self.inflight: dict[int, int] = {}
        """Chunks sent and not answered: their ``ref`` and the offset they end at."""
        self.done: FileInfo | None = None
        self.error: Error | None = None
        self.changed = asyncio.Event()


class TransferBase:
    """What uploads and downloads share: the session, the answers by ref, the files seen, the tasks."""

    def __init__(self, session: ChatSession, download_dir: Path | None = None) -> None:
        self._session = session
        self.download_dir = download_dir
        """Where downloads go when no directory is given; None: the caller must give one."""
        self.files: collections.OrderedDict[str, FileInfo] = collections.OrderedDict()
        """Files shared in messages seen, newest last (by id)."""
        self.where: dict[str, tuple[str | None, str | None]] = {}
        """The room, or the person, each remembered file was shared with."""
        self._answers: dict[int, asyncio.Future[object]] = {}
        self._uploads: dict[str, UploadState] = {}
        self._chunk_refs: dict[int, str] = {}
        self._numbers = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._downloading: set[Path] = set()
        """The partial files being written now."""
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


