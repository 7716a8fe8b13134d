"""The message writer: one task writes every message, many per transaction (group commit).

A commit costs about the same whatever it holds (with ``synchronous=FULL``,
an fsync), so messages are written in batches (see :mod:`.group_commit`).

Every message is committed before its future resolves (durability before
acknowledgment), and futures resolve in submit order, so callbacks added to
them, such as publishing the message, run in id order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass

from .errors import StoreError
from .group_commit import GroupCommit
from .records import CommittedBatch, MessageDraft, StoredMessage
from .store import Store


class WriteFailed(StoreError):
    """The transaction of the batch holding this message failed.

    ``__cause__`` is what the database (or driver) raised: ``database is
    locked`` past the busy timeout, a full disk, a read-only file... The
    transaction is rolled back, so normally nothing of the batch is stored;
    only a failure during COMMIT itself (or the writer cancelled meanwhile)
    leaves that unknown. Either way, resending with the same nonce is safe.
    """


class WriterClosed(StoreError):
    """:meth:`MessageWriter.submit` was called before :meth:`MessageWriter.start` or after ``stop``."""


SHARED_PACE = 0.005
"""Seconds a batch of one process among several may wait for more messages while the others
commit theirs (see :meth:`MessageWriter._before_taking`)."""


@dataclass(frozen=True, slots=True)
class WriterStats:
    batches: int = 0
    """Batches committed."""
    messages: int = 0
    """Drafts in committed batches (duplicates of a resent nonce included)."""
    largest_batch: int = 0
    failed_batches: int = 0
    failed_messages: int = 0


class MessageWriter(GroupCommit[MessageDraft, StoredMessage]):
    label = "message writer"

    def __init__(
        self,
        store: Store,
        *,
        max_batch: int = 500,
        committed: Callable[[CommittedBatch], None] | None = None,
        turn: Callable[[], AbstractAsyncContextManager[object]] | None = None,
        pace: float = 0.0,
    ) -> None:
        """``committed`` is told of each batch as soon as it is committed, before any of its futures
        resolves; each insert runs inside ``turn`` (several processes: see
        :mod:`chatapp.server.services.message_chain`, which reads the database in the same turns).
        ``pace``: seconds a busy batch may wait for more messages while others commit between this
        writer's batches (0: never wait; :data:`SHARED_PACE` for one process among several)."""
        super().__init__(max_batch=max_batch)
        self._store = store
        self._accepting = False
        self._committed = committed
        self._turn = turn
        self._pace = pace
        self._own_last = 0  # the highest id of this writer's last batch
        self._shared = False  # another writer committed between this writer's last two batches
        self._last_held_several = False  # this writer's last batch held more than one new message
        self._ended_at = 0.0  # loop time when the last batch was committed

    @property
    def stats(self) -> WriterStats:
        """A snapshot of the counters."""
        stats = self.group_stats
        return WriterStats(
            batches=stats.batches,
            messages=stats.items,
            largest_batch=stats.largest_batch,
            failed_batches=stats.failed_batches,
            failed_messages=stats.failed_items,
        )

    async def start(self) -> None:
        """Open its database connection (see :meth:`Store.warm_up_writer`), then start the writer
        task; a writer starts once."""
        if self._task is not None or self._stopping:
            raise RuntimeError("a message writer starts once")
        await self._store.warm_up_writer()
        self._accepting = True
        self._start()

    async def stop(self) -> None:
        """Refuse new messages, commit those already queued, then end the writer task.

        Cancelling the caller of ``stop`` does not cancel the writer task: the
        queue is still written.
        """
        self._accepting = False
        await self._finish()

    def submit(self, draft: MessageDraft) -> asyncio.Future[StoredMessage]:
        """Queue ``draft``; the future resolves once the batch holding it is committed.

        Its result is the :class:`StoredMessage` (``duplicate=True`` for a
        resent nonce); its exception, :class:`WriteFailed` if the batch's
        transaction failed. Cancelling the future before its batch is taken
        withdraws the message; once taken, it is written regardless.
        :class:`WriterClosed` if the writer is not running.
        """
        if not self._accepting:
            raise WriterClosed("the message writer is not running")
        return self._enqueue(draft)

    async def _run_batch(self, items: Sequence[MessageDraft]) -> list[StoredMessage]:
        if self._committed is None:
            return await self._store.insert_messages(items)
        async with self._turn() if self._turn is not None else nullcontext():
            batch = await self._store.insert_batch(items)
            self._committed(batch)
        if self._pace:
            self._note_pace(batch)
        return batch.messages

    def _note_pace(self, batch: CommittedBatch) -> None:
        new = [message.id for message in batch.messages if not message.duplicate]
        if new:
            self._shared = self._own_last != 0 and batch.prev != self._own_last
            self._last_held_several = len(new) > 1
            self._own_last = max(new)
        self._ended_at = asyncio.get_running_loop().time()

    async def _before_taking(self) -> None:
        """With several processes, let a batch grow for up to ``pace`` while the database is busy.

        Each process's group commit gathers only its own senders' messages: with N processes each
        batch holds about 1/N of what one process's would, so there are N times as many, and every
        one of them costs every process a turn and each of its recipients a write. So while this
        process is busy (its last batch held several messages and ended less than twice ``pace``
        ago) and another process committed between its last two batches, the batch is taken
        ``pace`` after its oldest message came. A message after a quiet moment, or under a light
        load (one message a batch), goes at once, and so does every message of one process alone:
        nobody commits between its batches (the idea of PostgreSQL's ``commit_delay`` with
        ``commit_siblings``).
        """
        if self._shared and self._last_held_several:
            now = asyncio.get_running_loop().time()
            if now - self._ended_at < 2 * self._pace:
                wait = self.first_queued_at + self._pace - now
                if wait > 0:
                    await asyncio.sleep(wait)

    def _failure(self, cause: BaseException) -> BaseException:
        error = WriteFailed(f"the message was not stored: {cause!r}")
        error.__cause__ = cause
        return error

    def _closed_error(self) -> BaseException:
        return WriterClosed("stopped")

    def _ended(self) -> None:
        self._accepting = False
