"""Shared files' bytes on disk, under ``--files-dir``; every call does its file I/O and hashing in
an executor, never on the event loop.

Layout: ``partial/UPLOAD`` is an unfinished upload (its size is how far it got: a chunk is checked
against its digest before it is written, so whatever prefix is on disk is right);
``blobs/AB/ABCDEF…`` is a finished file's bytes, named by their SHA-256 (two hex digits of
fan-out), shared by every file with that content. A finished upload is fsynced, its digest
checked, and only then moved into place with one ``rename`` (atomic on one file system), so a
blob is never partial. Blobs are removed by :meth:`BlobStore.remove_unused` once no file names
them and they have not changed for a while (see docs/design.md, "Shared files").
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Iterable
from functools import partial as bind
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

HASH_BLOCK = 1024 * 1024
"""Bytes read at a time when hashing a whole upload."""


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.partial = root / "partial"

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    def blob_path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256

    def partial_path(self, upload_id: str) -> Path:
        return self.partial / upload_id

    # -- uploads ----------------------------------------------------------------

    async def received(self, upload_id: str) -> int:
        """How many bytes of the upload are on disk (0 for none yet)."""
        return await self._run(bind(_size, self.partial_path(upload_id)))

    async def append(self, upload_id: str, offset: int, data: bytes, sha256: str) -> int | None:
        """Write ``data`` at ``offset`` if its digest is ``sha256`` and the upload ends at ``offset``:
        the new end; None for another digest; minus the upload's end for another offset."""
        path = self.partial_path(upload_id)
        return await self._run(bind(_append, self.partial, path, offset, data, sha256))

    async def finish(self, upload_id: str, sha256: str) -> bool:
        """Check the whole upload against ``sha256``; if it matches, fsync it and move it into place
        as the blob (True). A mismatch removes the upload's bytes (False)."""
        return await self._run(
            bind(_finish, self.partial_path(upload_id), self.blob_path(sha256), sha256)
        )

    async def discard(self, upload_id: str) -> None:
        await self._run(bind(_unlink, self.partial_path(upload_id)))

    async def partial_uploads(self) -> list[str]:
        """The ids of the uploads that have bytes on disk."""
        return await self._run(bind(_names, self.partial))

    async def remove_unused_partials(self, upload_ids: Iterable[str], changed_before: float) -> list[str]:
        """Remove these uploads' bytes, each only if they have not changed since ``changed_before``."""
        paths = [(upload_id, self.partial_path(upload_id)) for upload_id in upload_ids]
        return await self._run(bind(_remove_old, paths, changed_before))

    async def idle_since(self, upload_id: str) -> float | None:
        """When the upload's bytes last changed (seconds since the epoch); None: no bytes yet."""
        return await self._run(bind(_mtime, self.partial_path(upload_id)))

    # -- finished files -----------------------------------------------------------

    async def read(self, sha256: str, offset: int, length: int) -> tuple[bytes, int] | None:
        """Up to ``length`` bytes of a blob from ``offset``, and the blob's size; None if it is gone."""
        return await self._run(bind(_read, self.blob_path(sha256), offset, length))

    async def exists(self, sha256: str) -> bool:
        return await self._run(self.blob_path(sha256).is_file)

    async def stored_digests(self) -> list[str]:
        """The digests of every blob on disk."""
        return await self._run(bind(_digests, self.blobs))

    async def remove_unused(self, digests: Iterable[str], changed_before: float) -> list[str]:
        """Remove these blobs, each only if it has not changed since ``changed_before`` (Unix
        seconds): a blob just moved into place by an upload whose file is being stored stays."""
        paths = [(digest, self.blob_path(digest)) for digest in digests]
        return await self._run(bind(_remove_old, paths, changed_before))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _append(directory: Path, path: Path, offset: int, data: bytes, sha256: str) -> int | None:
    if hashlib.sha256(data).hexdigest() != sha256:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as file:
        end = file.seek(0, os.SEEK_END)
        if end != offset:
            return -end
        file.write(data)
        return end + len(data)


def _finish(path: Path, blob: Path, sha256: str) -> bool:
    if not path.exists():  # an empty file: no chunk ever made it
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(HASH_BLOCK):
            digest.update(block)
        os.fsync(file.fileno())
    if digest.hexdigest() != sha256:
        path.unlink(missing_ok=True)
        return False
    blob.parent.mkdir(parents=True, exist_ok=True)
    # Same content whether or not the blob is there already: replacing it is harmless, and the
    # new inode's recent mtime tells the sweeper the blob is in use again.
    os.replace(path, blob)
    os.utime(blob)
    descriptor = os.open(blob.parent, os.O_RDONLY)
    try:
        os.fsync(descriptor)  # the rename itself survives a crash
    finally:
        os.close(descriptor)
    return True


def _read(path: Path, offset: int, length: int) -> tuple[bytes, int] | None:
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            file.seek(offset)
            return file.read(length), size
    except FileNotFoundError:
        return None


def _digests(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    found = []
    for fan in root.iterdir():
        if fan.is_dir() and len(fan.name) == 2:
            found += [entry.name for entry in fan.iterdir() if len(entry.name) == 64]
    return found


def _names(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return [entry.name for entry in directory.iterdir() if entry.is_file()]


def _remove_old(paths: list[tuple[str, Path]], cutoff: float) -> list[str]:
    removed = []
    for digest, path in paths:
        mtime = _mtime(path)
        if mtime is not None and mtime < cutoff:
            path.unlink(missing_ok=True)
            removed.append(digest)
    return removed
