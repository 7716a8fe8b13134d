"""Group commit for what signing in and out stores: many connections' session work per transaction.

A registration looks its name up and creates the user (a member of
``general``); a login looks the user up and creates a session; a resume reads
its session by token, then re-opens it and reads the user's rooms; a
disconnect ends its session and records what was delivered. One
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

How a batch is executed is the backend's business (:mod:`.orm_ops` through
SQLAlchemy; one thread hop on an SQLite file, :mod:`.sqlite_sessions`); this
module only says what each op is, queues them and hands out results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from sqlalchemy.exc import StatementError

from .group_commit import GroupCommit
from .models import require_aware

MAX_BATCH = 500
"""Ops per transaction at most, so one batch never holds the write lock for long."""


@dataclass(frozen=True, slots=True)
class FindUser:
    """The user whose ``username_key`` this is, or None."""

    username_key: str
    writes: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class DisplayNameInUse:
    """Whether some user's ``display_name_key`` is this (a new username must not be one): a
    read of registration, so it goes where registration's other work goes, not to the pool."""

    key: str
    writes: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class CreateUser:
    """Create a user, a member of ``general`` (created if missing); the result is its record.

    Fails (``IntegrityError``) when the username key is taken: the unique index decides.
    """

    username: str
    username_key: str
    password_hash: str
    now: datetime
    writes: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class CreateSession:
    """Record a sign-in of the user (a new session row and their last login).

    The result is the session, the user's rooms (by name) and their seen
    cursor, read in the same transaction: all a login needs from the store.
    """

    user_id: int
    token_hash: str
    peer: str
    now: datetime
    expires_at: datetime
    node: str
    writes: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class FindSession:
    """The session with this token hash and its user (ended and expired ones included), or None."""

    token_hash: str
    writes: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class ReopenSession:
    """Re-open a session from a new connection and count it as a login of its user.

    The result is the user's rooms (by name), read in the same transaction; None when the
    session's token is no longer valid (revoked or expired since the resume checked it): then
    nothing is changed.
    """

    session_id: int
    peer: str
    now: datetime
    node: str
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
    """End every session still open (with ``node``: only those of that server process); the result
    is how many. Queued like the others, so that it comes after every end already submitted (which
    record a seen cursor too)."""

    reason: str
    now: datetime
    node: str | None
    writes: ClassVar[bool] = True


SessionOp = (
    FindUser
    | DisplayNameInUse
    | CreateUser
    | CreateSession
    | FindSession
    | ReopenSession
    | EndSession
    | SetSeen
    | EndOpenSessions
)


def aware(now: datetime) -> datetime:
    """Refuse a naive datetime when an op is made, as the ORM's bind would (``StatementError``)."""
    try:
        return require_aware(now)
    except ValueError as error:
        raise StatementError(str(error), None, None, error) from None


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


class SessionBatcher(GroupCommit[SessionOp, object]):
    """Queues ops and runs them in batches, in submit order, one batch at a time.

    The task starts with the first op (the store is made before it knows its
    event loop's life). A write, once submitted, is run even if its caller is
    cancelled (and so its future): shutdown cancels connections that are still
    ending their sessions, and their seen cursors must still be saved.
    """

    label = "session operations"

    def __init__(self, run_batch: BatchRunner, *, max_batch: int = MAX_BATCH) -> None:
        super().__init__(max_batch=max_batch)
        self._run_ops = run_batch
        self._closing = False

    @property
    def stats(self) -> BatchStats:
        stats = self.group_stats
        return BatchStats(stats.batches, stats.items, stats.largest_batch, stats.failed_batches)

    def submit(self, op: SessionOp) -> asyncio.Future[object]:
        """Queue ``op``; the future resolves once the batch holding it is committed."""
        if self._closing:
            raise SessionOpsClosed("the store is closed")
        return self._enqueue(op)

    async def close(self) -> None:
        """Run what is queued, then end the task."""
        self._closing = True
        await self._finish()

    async def _run_batch(self, items: Sequence[SessionOp]) -> list[object]:
        return await self._run_ops(items)

    def _keep(self, item: SessionOp, future: asyncio.Future[object]) -> bool:
        # A read whose caller gave up is dropped; a write is done all the same.
        return item.writes or not future.cancelled()

    def _closed_error(self) -> BaseException:
        return SessionOpsClosed("closed")

    def _ended(self) -> None:
        self._closing = True
