"""Group commit: queue work from many callers, run it in batches, one batch at a time, in order.

A commit costs about the same whatever it holds, so work is written in
batches: while one batch commits, the next gathers in the queue, and the task
takes all of it (up to ``max_batch``) as soon as the commit is done. There is
no timer: a lone item runs at once, and under load batches grow by themselves
to what arrives during one commit. (The one exception is the message writer of
one process among several, which may wait a few milliseconds while others commit:
see :meth:`.writer.MessageWriter._before_taking`.) Futures resolve in submit order, so
callbacks added to them run in that order too.

The message writer and the session batcher are both this, with their own
items, errors and counters.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from .write_turn import lock_timed_out

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True, slots=True)
class GroupStats:
    batches: int = 0
    """Batches committed."""
    items: int = 0
    """Items in committed batches."""
    largest_batch: int = 0
    failed_batches: int = 0
    failed_items: int = 0


class GroupCommit(Generic[Item, Result]):
    """The queue and the task; subclasses say how a batch runs and how failures look.

    The task starts with the first item (or :meth:`_start`). Once taken into a
    batch, an item is run even if its caller is cancelled meanwhile.
    """

    label = "group commit"
    """Names the task and the line logged when it stops."""

    def __init__(self, *, max_batch: int) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._max_batch = max_batch
        self._queue: deque[tuple[Item, asyncio.Future[Result]]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.group_stats = GroupStats()
        self.first_queued_at = 0.0
        """Loop time when the oldest item now queued was submitted (the queue was empty before it)."""

    @property
    def queued(self) -> int:
        """Items submitted and not yet taken into a batch."""
        return len(self._queue)

    # -- for subclasses -------------------------------------------------------

    async def _run_batch(self, items: Sequence[Item]) -> Sequence[Result | BaseException]:
        """Run ``items`` in one transaction: per item its result, or the exception that failed it
        alone. Raises if the whole batch failed."""
        raise NotImplementedError

    async def _before_taking(self) -> None:
        """Runs before each batch is taken from the queue (by default: nothing; the message writer
        of one process among several may wait here for its batch to grow)."""

    def _keep(self, item: Item, future: asyncio.Future[Result]) -> bool:
        """Whether a queued item still runs when its batch is taken (by default: unless cancelled)."""
        return not future.cancelled()

    def _failure(self, cause: BaseException) -> BaseException:
        """The exception one caller gets when its batch failed with ``cause``.

        One object per future: each await that raises it adds to its traceback,
        and a batch of 500 sharing one would log a traceback 500 awaits long.
        """
        try:
            error = copy.copy(cause)
        except Exception:  # pragma: no cover - an exception class that cannot be copied
            return cause
        if error is not cause:
            error.__cause__ = cause.__cause__
        return error

    def _closed_error(self) -> BaseException:
        """What the items still queued get when the task ends without running them."""
        return RuntimeError(f"the {self.label} stopped")

    def _ended(self) -> None:
        """The task ended (however): refuse new items from now on."""

    def _enqueue(self, item: Item) -> asyncio.Future[Result]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        if not self._queue:
            self.first_queued_at = loop.time()
        self._queue.append((item, future))
        if self._task is None:
            self._start()
        else:
            self._wakeup.set()
        return future

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"chatapp-{self.label}")
        self._task.add_done_callback(self._on_task_done)

    async def _finish(self) -> None:
        """Run what is queued, then end the task (cancelling the caller does not cancel it)."""
        self._stopping = True
        self._wakeup.set()
        if self._task is None:
            return
        await asyncio.wait({self._task})
        stats = self.group_stats
        logger.debug(
            "%s stopped: %d done in %d batches (largest %d), %d failed batches",
            self.label,
            stats.items,
            stats.batches,
            stats.largest_batch,
            stats.failed_batches,
        )
        if not self._task.cancelled() and (error := self._task.exception()) is not None:
            raise error

    # -- the task -------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._before_taking()
            batch = self._take()
            if batch:
                await self._execute(batch)

    def _take(self) -> list[tuple[Item, asyncio.Future[Result]]]:
        batch: list[tuple[Item, asyncio.Future[Result]]] = []
        while self._queue and len(batch) < self._max_batch:
            item, future = self._queue.popleft()
            if self._keep(item, future):
                batch.append((item, future))
        return batch

    async def _execute(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        stats = self.group_stats
        try:
            results = await self._run_batch([item for item, _ in batch])
        except Exception as exc:
            logger.error("%s: a batch of %d failed: %r", self.label, len(batch), exc)
            self.group_stats = GroupStats(
                stats.batches,
                stats.items,
                stats.largest_batch,
                stats.failed_batches + 1,
                stats.failed_items + len(batch),
            )
            for _, future in batch:
                self._fail(future, exc)
            if lock_timed_out(exc):
                # Everything queued meanwhile would wait its own busy timeout for the same lock in
                # turn: it fails now, with this batch (see write_turn). Later submissions try again.
                self._fail_queued(exc)
            return
        except BaseException as exc:
            for _, future in batch:
                self._fail(future, exc)
            raise
        self.group_stats = GroupStats(
            stats.batches + 1,
            stats.items + len(batch),
            max(stats.largest_batch, len(batch)),
            stats.failed_batches,
            stats.failed_items,
        )
        # In submit order: done-callbacks are scheduled in the order results are set.
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _fail_queued(self, cause: BaseException) -> None:
        queued, self._queue = self._queue, deque()
        stats = self.group_stats
        self.group_stats = GroupStats(
            stats.batches,
            stats.items,
            stats.largest_batch,
            stats.failed_batches,
            stats.failed_items + len(queued),
        )
        for _, future in queued:
            self._fail(future, cause)

    def _fail(self, future: asyncio.Future[Result], cause: BaseException) -> None:
        if not future.done():
            future.set_exception(self._failure(cause))

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        # However the task ended (cancelled, even before it first ran), nothing
        # queued may wait forever, and nothing more may be queued.
        self._ended()
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("the %s task died: %r", self.label, error)
        cause: BaseException = (
            asyncio.CancelledError() if task.cancelled() else task.exception() or self._closed_error()
        )
        while self._queue:
            _, future = self._queue.popleft()
            self._fail(future, cause)
