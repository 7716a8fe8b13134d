"""Group commit for what signing in and out stores: many connections' session work per transaction.

A resume reads its session by token, then re-opens it and reads the user's
rooms; a disconnect ends its session and records what was delivered. One
transaction each, serialised behind SQLite's single writer, capped sign-ins at
about 100 per second and made 5,000 disconnects (or a shutdown) take tens of
seconds. Here every such unit of work is an *op*, queued; one task takes
everything queued and runs it as one batch in one transaction, and while that
commits the next batch gathers, as the message writer does. There is no
timer: a lone op runs at once, and under load batches grow by themselves.

Each op is still atomic on its own: the store runs every op of a batch of
several inside its own savepoint, so an op that fails is rolled back alone and
fails only its caller, and the others commit. If the transaction itself fails
(the write lock not granted in time, COMMIT failing), every op of the batch
fails and nothing of it is stored.

How a batch is executed is the store's business (one thread hop on SQLite,
SQLAlchemy elsewhere); this module only queues and hands out results.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

logger = logging.getLogger(__name__)

MAX_BATCH = 500
"""Ops per transaction at most, so one batch never holds the write lock for long."""


@dataclass(frozen=True, slots=True)
class FindSession:
    """The session with this token hash and its user (ended and expired ones included), or None."""

    token_hash: str
    writes: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class ReopenSession:
    """Re-open a session from a new connection and count it as a login of its user.

    With ``with_rooms``, the result is the user's rooms (by name), read in the same transaction.
    """

    session_id: int
    peer: str
    now: datetime
    with_rooms: bool
    writes: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class EndSession:
    """Mark a session ended (``revoke``: its token expires now); with ``seen_message_id``, also
    raise its user's seen cursor to it (never lower it)."""

    session_id: int
    reason: str
    now: datetime
    revoke: bool
    seen_message_id: int
    writes: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class SetSeen:
    """Raise the user's seen cursor to ``message_id`` (never lower it)."""

    user_id: int
    message_id: int
    writes: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class EndOpenSessions:
    """End every session still open; the result is how many. Queued like the others, so that it
    comes after every end already submitted (which record a seen cursor too)."""

    reason: str
    now: datetime
    writes: ClassVar[bool] = True


SessionOp = FindSession | ReopenSession | EndSession | SetSeen | EndOpenSessions

BatchRunner = Callable[[Sequence[SessionOp]], Awaitable[list[object]]]
"""Runs a batch in one transaction; per op its result, or the exception that failed that op alone.
Raises if the whole batch failed."""


@dataclass(frozen=True, slots=True)
class BatchStats:
    batches: int = 0
    ops: int = 0
    largest_batch: int = 0
    failed_batches: int = 0


class SessionOpsClosed(Exception):
    """An op was submitted after :meth:`SessionBatcher.close`."""


class SessionBatcher:
    """Queues ops and runs them in batches, in submit order, one batch at a time.

    The task starts with the first op (the store is made before it knows its
    event loop's life). A write, once submitted, is run even if its caller is
    cancelled (and so its future): shutdown cancels connections that are still
    ending their sessions, and their seen cursors must still be saved.
    """

    def __init__(self, run_batch: BatchRunner, *, max_batch: int = MAX_BATCH) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._queue: deque[tuple[SessionOp, asyncio.Future[object]]] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = BatchStats()

    def submit(self, op: SessionOp) -> asyncio.Future[object]:
        """Queue ``op``; the future resolves once the batch holding it is committed."""
        if self._closing:
            raise SessionOpsClosed("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        self._queue.append((op, future))
        if self._task is None:
            self._task = loop.create_task(self._run(), name="chatapp-session-ops")
            self._task.add_done_callback(self._on_task_done)
        else:
            self._wakeup.set()
        return future

    async def close(self) -> None:
        """Run what is queued, then end the task."""
        self._closing = True
        self._wakeup.set()
        if self._task is None:
            return
        await asyncio.wait({self._task})
        stats = self.stats
        logger.info(
            "session operations stopped: %d in %d batches (largest %d), %d failed batches",
            stats.ops,
            stats.batches,
            stats.largest_batch,
            stats.failed_batches,
        )

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._take()
            if batch:
                await self._execute(batch)

    def _take(self) -> list[tuple[SessionOp, asyncio.Future[object]]]:
        batch: list[tuple[SessionOp, asyncio.Future[object]]] = []
        while self._queue and len(batch) < self._max_batch:
            op, future = self._queue.popleft()
            # A read whose caller gave up is dropped; a write is done all the same.
            if op.writes or not future.cancelled():
                batch.append((op, future))
        return batch

    async def _execute(self, batch: list[tuple[SessionOp, asyncio.Future[object]]]) -> None:
        stats = self.stats
        try:
            results = await self._run_batch([op for op, _ in batch])
        except Exception as exc:
            logger.error("a batch of %d session operations failed: %r", len(batch), exc)
            self.stats = BatchStats(stats.batches, stats.ops, stats.largest_batch, stats.failed_batches + 1)
            for _, future in batch:
                _fail(future, exc)
            return
        except BaseException as exc:
            for _, future in batch:
                _fail(future, exc)
            raise
        self.stats = BatchStats(
            stats.batches + 1,
            stats.ops + len(batch),
            max(stats.largest_batch, len(batch)),
            stats.failed_batches,
        )
        # In submit order: done-callbacks are scheduled in the order results are set.
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        # However the task ended, nothing queued may wait forever, and nothing more may be queued.
        self._closing = True
        if not task.cancelled() and (error := task.exception()) is not None:
            logger.error("the session operations task died: %r", error)
        cause: BaseException = (
            asyncio.CancelledError() if task.cancelled() else task.exception() or SessionOpsClosed("closed")
        )
        while self._queue:
            _, future = self._queue.popleft()
            _fail(future, cause)


def _fail(future: asyncio.Future[object], cause: BaseException) -> None:
    if future.done():
        return
    # One exception object per future: each await that raises it adds to its traceback, and a
    # batch of 500 sharing one would log a traceback 500 awaits long.
    try:
        error = copy.copy(cause)
    except Exception:  # pragma: no cover - an exception class that cannot be copied
        error = cause
    if error is not cause:
        error.__cause__ = cause.__cause__
    future.set_exception(error)
