"""Shared files' metadata: unfinished uploads, finished files, what a message shares (part of
:class:`~.store.Store`). The bytes live on disk (``server/files/blobs.py``); the database says
who owns what, for whom, and which message shares it.

Starting an upload locks the user's row first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
writes one at a time), so that two connections of one user cannot together pass the quota or
the uploads-at-once limit. The total budget is checked in the same transaction without a lock:
two users at once may pass it by one file each, which a budget (not a quota) can bear.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import and_, delete, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from .backend import Backend
from .errors import UploadRefused
from .models import Message, ServerSecret, StoredFile, Upload, User
from .orm_ops import NO_SYNC
from .records import FileAccess, FileLimits, FileRecord


def _record(row: StoredFile | Upload) -> FileRecord:
    return FileRecord(
        id=row.id,
        owner_id=row.owner_id,
        sha256=row.sha256,
        size=row.size,
        name=row.name,
        mime=row.mime,
        encrypted=bool(row.encrypted),
        room_id=row.room_id,
        recipient_id=row.recipient_id,
        created_at=row.created_at,
        attached_at=row.attached_at if isinstance(row, StoredFile) else None,
    )


def _values(record: FileRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "owner_id": record.owner_id,
        "sha256": record.sha256,
        "size": record.size,
        "name": record.name,
        "mime": record.mime,
        "encrypted": record.encrypted,
        "room_id": record.room_id,
        "recipient_id": record.recipient_id,
        "created_at": record.created_at,
    }


async def _bytes_held(session: AsyncSession, owner_id: int | None = None) -> int:
    """Bytes of finished files and unfinished uploads (at their full size): one user's, or all."""
    total = 0
    for table in (StoredFile, Upload):
        query = select(func.coalesce(func.sum(table.size), 0))
        if owner_id is not None:
            query = query.where(table.owner_id == owner_id)
        total += int(await session.scalar(query) or 0)
    return total


class Files:
    _backend: Backend

    async def start_upload(self, upload: FileRecord, limits: FileLimits) -> tuple[FileRecord, bool]:
        """The user's unfinished upload of the same size, digest and target (True: resumed), or
        ``upload`` stored as a new one. :class:`UploadRefused` when a new one would pass a limit."""
        if upload.size > limits.max_size:
            raise UploadRefused("size", limits.max_size, upload.size - limits.max_size)
        async with self._backend.writing() as session:
            await session.execute(select(User.id).where(User.id == upload.owner_id).with_for_update())
            same = await session.scalar(
                select(Upload).where(
                    Upload.owner_id == upload.owner_id,
                    Upload.sha256 == upload.sha256,
                    Upload.size == upload.size,
                    Upload.room_id.is_(None) if upload.room_id is None else Upload.room_id == upload.room_id,
                    Upload.recipient_id.is_(None)
                    if upload.recipient_id is None
                    else Upload.recipient_id == upload.recipient_id,
                ).limit(1)
            )
            if same is not None:
                return _record(same), True
            unfinished = int(
                await session.scalar(select(func.count()).where(Upload.owner_id == upload.owner_id)) or 0
            )
            if unfinished >= limits.uploads:
                raise UploadRefused("uploads", limits.uploads, unfinished + 1 - limits.uploads)
            used = await _bytes_held(session, upload.owner_id)
            if used + upload.size > limits.quota:
                raise UploadRefused("quota", limits.quota, used + upload.size - limits.quota)
            held = await _bytes_held(session)
            if held + upload.size > limits.budget:
                raise UploadRefused("budget", limits.budget, held + upload.size - limits.budget)
            await session.execute(insert(Upload).values(**_values(upload)), execution_options=NO_SYNC)
            return upload, False

    async def find_upload(self, upload_id: str, owner_id: int) -> FileRecord | None:
        """One of the user's unfinished uploads; None for another's or none at all."""
        async with self._backend.reading() as session:
            row = await session.scalar(
                select(Upload).where(Upload.id == upload_id, Upload.owner_id == owner_id)
            )
            return None if row is None else _record(row)

    async def drop_upload(self, upload_id: str) -> bool:
        """Remove an unfinished upload's row (cancelled, failed, or abandoned); False if gone already."""
        async with self._backend.writing() as session:
            result = await session.execute(
                delete(Upload).where(Upload.id == upload_id), execution_options=NO_SYNC
            )
            return bool(getattr(result, "rowcount", 0))

    async def finish_upload(self, upload_id: str, file: FileRecord) -> bool:
        """The upload becomes ``file`` in one transaction; False if the upload was gone (cancelled
        or cleaned up meanwhile), and then no file is stored."""
        async with self._backend.writing() as session:
            result = await session.execute(
                delete(Upload).where(Upload.id == upload_id), execution_options=NO_SYNC
            )
            if not getattr(result, "rowcount", 0):
                return False
            await session.execute(insert(StoredFile).values(**_values(file)), execution_options=NO_SYNC)
            return True

    async def claim_file(
        self, file_id: str, owner_id: int, room_id: int | None, recipient_id: int | None, now: datetime
    ) -> FileRecord | bool:
        """Mark the user's file, uploaded for this room or person, as posted: its record, or
        False (no such file of theirs for that target) or True (posted already)."""
        if room_id is not None:
            target = StoredFile.room_id == room_id
        else:
            target = StoredFile.recipient_id == recipient_id
        async with self._backend.writing() as session:
            row = await session.scalar(
                select(StoredFile).where(StoredFile.id == file_id, StoredFile.owner_id == owner_id, target)
            )
            if row is None:
                return False
            if row.attached_at is not None:
                return True
            result = await session.execute(
                update(StoredFile)
                .where(StoredFile.id == file_id, StoredFile.attached_at.is_(None))
                .values(attached_at=now),
                execution_options=NO_SYNC,
            )
            if not getattr(result, "rowcount", 0):
                return True
            return _record(row)

    async def release_file(self, file_id: str) -> None:
        """A claimed file whose message could not be stored may be posted again."""
        async with self._backend.writing() as session:
            await session.execute(
                update(StoredFile).where(StoredFile.id == file_id).values(attached_at=None),
                execution_options=NO_SYNC,
            )

    async def file_access(self, file_id: str) -> FileAccess | None:
        """The file and the message that shares it (if any, and not removed); None: no such file."""
        # One query per chunk read: the file and its message, outer-joined (the message is found by
        # its unique partial index on file_id).
        async with self._backend.reading() as session:
            row = (
                await session.execute(
                    select(
                        StoredFile,
                        Message.id.label("message_id"),
                        Message.room_id.label("message_room_id"),
                        Message.sender_id,
                        Message.recipient_id.label("message_recipient_id"),
                        Message.nonce,
                    )
                    .outerjoin(Message, Message.file_id == StoredFile.id)
                    .where(StoredFile.id == file_id)
                )
            ).first()
            if row is None:
                return None
            return FileAccess(
                _record(row[0]),
                message_id=row.message_id,
                room_id=row.message_room_id,
                sender_id=row.sender_id,
                recipient_id=row.message_recipient_id,
                nonce=row.nonce,
            )

    async def known_uploads(self, upload_ids: Sequence[str]) -> set[str]:
        """Which of these are unfinished uploads (the others were finished, cancelled or swept)."""
        known: set[str] = set()
        async with self._backend.reading() as session:
            for start in range(0, len(upload_ids), 500):
                batch = list(upload_ids[start : start + 500])
                known |= set(await session.scalars(select(Upload.id).where(Upload.id.in_(batch))))
        return known

    async def stale_uploads(self, created_before: datetime) -> list[str]:
        """Unfinished uploads begun before ``created_before``: candidates for clean-up (the caller
        checks whether their bytes moved lately)."""
        async with self._backend.reading() as session:
            return list(await session.scalars(select(Upload.id).where(Upload.created_at < created_before)))

    async def orphan_files(self, before: datetime) -> list[str]:
        """Files to remove: never posted and uploaded before ``before``, or posted (before it) by a
        message that is gone (expired, removed, its room deleted, or never stored)."""
        no_message = ~exists().where(Message.file_id == StoredFile.id)
        async with self._backend.reading() as session:
            rows = await session.scalars(
                select(StoredFile.id).where(
                    (StoredFile.attached_at.is_(None) & (StoredFile.created_at < before))
                    | and_(StoredFile.attached_at.is_not(None), StoredFile.attached_at < before, no_message)
                )
            )
            return list(rows)

    async def delete_files(self, file_ids: Sequence[str]) -> None:
        if not file_ids:
            return
        async with self._backend.writing() as session:
            await session.execute(
                delete(StoredFile).where(StoredFile.id.in_(list(file_ids))), execution_options=NO_SYNC
            )

    async def digests_in_use(self, digests: Iterable[str]) -> set[str]:
        """Which of these blobs some file still names."""
        wanted = list(digests)
        if not wanted:
            return set()
        async with self._backend.reading() as session:
            rows = await session.scalars(
                select(StoredFile.sha256).where(StoredFile.sha256.in_(wanted)).distinct()
            )
            return set(rows)

    async def server_secret(self, name: str, make: str) -> str:
        """The secret called ``name``; ``make`` is stored as it if there is none yet (the first
        process to ask wins, and every process then reads the same)."""
        async with self._backend.writing() as session:
            connection = await session.connection()
            inserting = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
            await session.execute(
                inserting(ServerSecret)
                .values(name=name, value=make)
                .on_conflict_do_nothing(index_elements=["name"]),
                execution_options=NO_SYNC,
            )
            value = await session.scalar(select(ServerSecret.value).where(ServerSecret.name == name))
            assert value is not None
            return value
