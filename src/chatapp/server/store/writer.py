"""Group commit: one task writes every message, many per transaction.

A commit costs an fsync (``synchronous=FULL``) whatever it holds, so messages
are written in batches: while one batch commits, the next gathers in the
queue, and the writer takes all of it (up to ``max_batch``) as soon as the
commit is done. There is no timer: a lone message is written at once, and
under load batches grow by themselves to what arrives during one commit.

Every message is committed before its future resolves (durability before
acknowledgment), and futures resolve in submit order, so callbacks added to
them, such as publishing the message, run in id order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from .repository import MessageDraft, Store, StoredMessage, StoreError

logger = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class WriterStats:
    batches: int = 0
    """Batches committed."""
    messages: int = 0
    """Drafts in committed batches (duplicates of a resent nonce included)."""
    largest_batch: int = 0
    failed_batches: int = 0
    failed_messages: int = 0


class MessageWriter:
    def __init__(self, store: Store, *, max_batch: int = 500) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._store = store
        self._max_batch = max_batch
        self._queue: deque[tuple[MessageDraft, asyncio.Future[StoredMessage]]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        self._stopping = False
        self._stats = WriterStats()

    @property
    def stats(self) -> WriterStats:
        """A snapshot of the counters."""
        return self._stats

    @property
    def queued(self) -> int:
        """Messages submitted and not yet taken into a batch."""
        return len(self._queue)

    async def start(self) -> None:
        """Start the writer task; a writer starts once."""
        if self._task is not None or self._stopping:
            raise RuntimeError("a message writer starts once")
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name="chatapp-message-writer")
        self._task.add_done_callback(self._on_task_done)

    async def stop(self) -> None:
        """Refuse new messages, commit those already queued, then end the writer task.

        Cancelling the caller of ``stop`` does not cancel the writer task: the
        queue is still written.
        """
        self._accepting = False
        self._stopping = True
        self._wakeup.set()
        if self._task is None:
            return
        await asyncio.wait({self._task})
        stats = self._stats
        logger.info(
            "message writer stopped: %d messages in %d batches (largest %d), %d failed batches",
            stats.messages,
            stats.batches,
            stats.largest_batch,
            stats.failed_batches,
        )
        if not self._task.cancelled() and (error := self._task.exception()) is not None:
            raise error

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
        future: asyncio.Future[StoredMessage] = asyncio.get_running_loop().create_future()
        self._queue.append((draft, future))
        self._wakeup.set()
        return future

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._take()
            if batch:
                await self._write(batch)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        # However the task ended (cancelled, even before it first ran), nothing
        # queued may wait forever, and nothing more may be queued.
        self._accepting = False
        cause: BaseException = (
            asyncio.CancelledError() if task.cancelled() else task.exception() or WriterClosed("stopped")
        )
        while self._queue:
            _, future = self._queue.popleft()
            _fail(future, cause)

    def _take(self) -> list[tuple[MessageDraft, asyncio.Future[StoredMessage]]]:
        batch: list[tuple[MessageDraft, asyncio.Future[StoredMessage]]] = []
        while self._queue and len(batch) < self._max_batch:
            draft, future = self._queue.popleft()
            if not future.cancelled():
                batch.append((draft, future))
        return batch

    async def _write(self, batch: list[tuple[MessageDraft, asyncio.Future[StoredMessage]]]) -> None:
        try:
            stored = await self._store.insert_messages([draft for draft, _ in batch])
        except Exception as exc:
            logger.error("writing a batch of %d messages failed: %r", len(batch), exc)
            stats = self._stats
            self._stats = WriterStats(
                batches=stats.batches,
                messages=stats.messages,
                largest_batch=stats.largest_batch,
                failed_batches=stats.failed_batches + 1,
                failed_messages=stats.failed_messages + len(batch),
            )
            for _, future in batch:
                _fail(future, exc)
            return
        except BaseException as exc:
            for _, future in batch:
                _fail(future, exc)
            raise
        stats = self._stats
        self._stats = WriterStats(
            batches=stats.batches + 1,
            messages=stats.messages + len(batch),
            largest_batch=max(stats.largest_batch, len(batch)),
            failed_batches=stats.failed_batches,
            failed_messages=stats.failed_messages,
        )
        # In submit order: done-callbacks are scheduled in the order results are set.
        for (_, future), message in zip(batch, stored, strict=True):
            if not future.done():
                future.set_result(message)


def _fail(future: asyncio.Future[StoredMessage], cause: BaseException) -> None:
    if future.done():
        return
    # One exception object per future: awaiting it adds to its traceback.
    error = WriteFailed(f"the message was not stored: {cause!r}")
    error.__cause__ = cause
    future.set_exception(error)
