"""Messages: the batch insert of the message writer, history pages, replays, retention (part of
:class:`~.store.Store`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

import msgspec
from sqlalchemy import Connection, CursorResult, delete, func, select

from .backend import Backend
from .message_sql import check_limit, page, read_back, stored_by_nonce
from .models import Message, dm_key
from .orm_ops import NO_SYNC
from .records import CommittedBatch, MessageDraft, Routed, StoredMessage, stored_from_draft
from .replay_sql import NO_END
from .rows import MESSAGE_SELECT, stored_message

R = TypeVar("R")


class Messages:
    _backend: Backend
    _last_id: int | None
    _last_id_lock: asyncio.Lock

    async def insert_messages(self, drafts: Sequence[MessageDraft]) -> list[StoredMessage]:
        """Store a batch of messages in one transaction; the results are in the order of ``drafts``
        (:meth:`insert_batch` without its ``prev``)."""
        return (await self.insert_batch(drafts)).messages

    async def warm_up_writer(self) -> None:
        """Open what the message writer's first batch would otherwise open (see
        :meth:`Backend.warm_up_writer`)."""
        await self._backend.warm_up_writer()

    async def insert_batch(self, drafts: Sequence[MessageDraft]) -> CommittedBatch:
        """Store a batch of messages in one transaction; the results are in the order of ``drafts``,
        with the batch's ``prev`` (see :class:`CommittedBatch`).

        New messages get increasing ids in draft order. A draft whose
        (sender, nonce) is already stored, or comes earlier in the batch, is
        not stored again: its result is the stored message with
        ``duplicate=True``. Everything commits or nothing does.
        """
        if not drafts:
            return CommittedBatch([], 0)
        # A repeat of an earlier (sender, nonce) of this batch is not sent to the database at all.
        rows: list[MessageDraft] = []
        plan: list[tuple[int, bool]] = []  # per draft: (index into rows, repeats an earlier draft)
        first_in_batch: dict[tuple[int, str], int] = {}
        for draft in drafts:
            key = None if draft.nonce is None else (draft.sender_id, draft.nonce)
            if key is not None and key in first_in_batch:
                plan.append((first_in_batch[key], True))
                continue
            if key is not None:
                first_in_batch[key] = len(rows)
            plan.append((len(rows), False))
            rows.append(draft)
        ids, prev = await self._backend.insert_messages(rows)
        self._note_last_id(max((i for i in ids if i is not None), default=0))
        skipped = [row for row, message_id in zip(rows, ids, strict=True) if message_id is None]
        unnamed = [i for row, i in zip(rows, ids, strict=True) if i is not None and not row.named]
        if not skipped and not unnamed and len(rows) == len(drafts):
            # The common case, every draft new and named: its result is made from the draft.
            return CommittedBatch(
                [stored_from_draft(row, cast(int, i)) for row, i in zip(rows, ids, strict=True)], prev
            )
        earlier: dict[tuple[int, str], StoredMessage] = {}
        named_now: dict[int, StoredMessage] = {}
        if skipped or unnamed:
            # Rows the database skipped repeat a (sender, nonce) stored before this batch.
            def look_up(connection: Connection) -> None:
                if skipped:
                    earlier.update(stored_by_nonce(connection, skipped))
                if unnamed:
                    named_now.update(read_back(connection, unnamed))

            await self._backend.read(look_up)
        results_by_row: list[StoredMessage] = []
        for row, message_id in zip(rows, ids, strict=True):
            if message_id is None:
                assert row.nonce is not None
                results_by_row.append(_as_duplicate(earlier[(row.sender_id, row.nonce)]))
            elif row.named:
                results_by_row.append(stored_from_draft(row, message_id))
            else:
                results_by_row.append(named_now[message_id])
        results = [_as_duplicate(results_by_row[i]) if again else results_by_row[i] for i, again in plan]
        return CommittedBatch(results, prev)

    def note_last_message_id(self, newest: int) -> None:
        """Another process committed messages up to ``newest`` and this one has delivered them
        (:mod:`chatapp.server.services.message_chain`): sign-ins replay up to there from now on."""
        self._note_last_id(newest)

    async def newest_message_id(self) -> int:
        """The highest id of a committed message, read from the database now (not remembered)."""
        async with self._backend.reading() as session:
            return int(await session.scalar(select(func.max(Message.id))) or 0)

    async def messages_between(self, after: int, upto: int, limit: int) -> list[Routed]:
        """The messages with ids in (``after``, ``upto``], in id order, at most ``limit``: each with
        its sender's and recipient's ids, which route a direct message to the people online."""
        statement = (
            MESSAGE_SELECT.add_columns(Message.recipient_id)
            .where(Message.id > after, Message.id <= upto)
            .order_by(Message.id)
            .limit(limit)
        )

        def read(connection: Connection) -> list[Routed]:
            return [
                Routed(stored_message(row), row.sender_id, row.recipient_id)
                for row in connection.execute(statement)
            ]

        return await self._backend.read(read)

    def _note_last_id(self, newest: int) -> None:
        if self._last_id is not None and newest > self._last_id:
            self._last_id = newest

    async def room_history(
        self, room_id: int, *, before: int | None, after: int | None, limit: int
    ) -> tuple[list[StoredMessage], bool]:
        """A page of a room's messages, in ascending id order, and whether there are more.

        - ``after``: the first ``limit`` with id > after; more = newer ones exist;
        - ``before``: the last ``limit`` with id < before; more = older ones exist;
        - neither: the latest ``limit``; more = older ones exist;
        - both: the first ``limit`` within (after, before); more = newer ones within it.
        """
        check_limit(limit)
        where = Message.room_id == room_id
        return await self._backend.read(lambda connection: page(connection, where, before, after, limit))

    async def dm_history(
        self, user_a: int, user_b: int, *, before: int | None, after: int | None, limit: int
    ) -> tuple[list[StoredMessage], bool]:
        """A page of the direct messages between two users, both ways; paging as :meth:`room_history`."""
        check_limit(limit)
        where = Message.dm_key == dm_key(user_a, user_b)
        return await self._backend.read(lambda connection: page(connection, where, before, after, limit))

    async def replay_start(self, user_id: int, after_id: int, until: int, keep: int) -> tuple[int, bool]:
        """Where a replay of the user's messages in (``after_id``, ``until``] starts so that it holds
        at most ``keep`` of them, the newest; and whether older ones were left out.

        One row is read, whatever ``keep`` is: the newest message left out, if any.
        """
        if keep < 0:
            raise ValueError(f"keep must not be negative, not {keep}")
        if until <= after_id:
            return after_id, False
        values = {"user": user_id, "after": after_id, "until": until, "scan": keep + 1, "keep": keep}
        cut = await self._backend.replay_start(values)
        return (after_id, False) if cut is None else (cut, True)

    async def replay_page(
        self,
        user_id: int,
        after_id: int,
        until: int | None,
        limit: int,
        render: Callable[[list[StoredMessage]], R],
    ) -> tuple[R, int | None]:
        """The next ``limit`` messages for the user after ``after_id`` (up to ``until``), in id order,
        passed to ``render`` on the reader that read them; its result and the last id read (None
        if there were none).

        The messages are those of the rooms the user is a member of now, and direct messages to
        or from them; each source is read through its index and cut at ``limit`` before the
        merge, so a long absence costs at most ``limit`` rows per room. ``render`` is how a
        replay turns its page into frames off the event loop (on SQLite it runs in a reader
        thread): it must not touch anything the event loop does.
        """
        check_limit(limit)
        end = NO_END if until is None else until
        values: dict[str, Any] = {"user": user_id, "after": after_id, "until": end, "scan": limit}
        return await self._backend.replay_page(values, render)

    async def last_message_id(self) -> int:
        """The highest id of a stored message; 0 if there is none.

        Remembered after the first query and raised by every insert, so asking
        costs nothing on a sign-in. With several server processes, each one's
        message chain raises it as it delivers the others' batches: it is what
        this process has delivered, which may lag behind the database.
        """
        if self._last_id is None:
            async with self._last_id_lock:  # the sign-ins right after a start ask it once, not each
                if self._last_id is None:
                    async with self._backend.reading() as session:
                        last = int(await session.scalar(select(func.max(Message.id))) or 0)
                    self._last_id = max(last, self._last_id or 0)
        return self._last_id

    async def prune_messages(self, older_than: datetime, *, batch_size: int = 2000) -> int:
        """Delete the messages created before ``older_than``; return how many.

        In transactions of at most ``batch_size`` rows, so that a large prune
        lets other writers (the message writer) in between.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        total = 0
        while True:
            async with self._backend.writing() as session:
                batch = select(Message.id).where(Message.created_at < older_than).limit(batch_size)
                result = await session.execute(
                    delete(Message).where(Message.id.in_(batch)), execution_options=NO_SYNC
                )
                deleted = cast(CursorResult[Any], result).rowcount
            total += deleted
            if deleted < batch_size:
                return total


def _as_duplicate(stored: StoredMessage) -> StoredMessage:
    return msgspec.structs.replace(stored, duplicate=True)
