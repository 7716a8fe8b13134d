from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy.exc import DBAPIError, OperationalError

from chatapp.server.store import (
    MessageDraft,
    MessageWriter,
    RoomRecord,
    Store,
    StoredMessage,
    UserRecord,
    WriteFailed,
    WriterClosed,
    WriterStats,
)
from tests.server.store.helpers import make_users, room_draft
from tests.support.databases import ScratchDatabase

# Short, so that the test of a locked database does not wait the default 5 s.
BUSY_TIMEOUT_MS = 200


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(db_url, busy_timeout_ms=BUSY_TIMEOUT_MS)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def alice_in_dev(store: Store, now: datetime) -> tuple[UserRecord, RoomRecord]:
    (alice,) = await make_users(store, now, "Alice")
    dev, _, _ = await store.join_room(alice.id, "dev", now)
    return alice, dev


@pytest.fixture
async def writer(store: Store) -> AsyncIterator[MessageWriter]:
    started = MessageWriter(store)
    await started.start()
    try:
        yield started
    finally:
        await started.stop()


def drafts(
    sender: tuple[UserRecord, RoomRecord], now: datetime, count: int, prefix: str = "m"
) -> list[MessageDraft]:
    user, room = sender
    return [room_draft(user, room.id, f"{prefix}{n}", now) for n in range(count)]


async def test_a_lone_message_is_committed_at_once(
    writer: MessageWriter, store: Store, alice_in_dev: tuple[UserRecord, RoomRecord], now: datetime
) -> None:
    (draft,) = drafts(alice_in_dev, now, 1)

    # Nothing else is submitted: it must not wait for company.
    stored = await asyncio.wait_for(writer.submit(draft), timeout=5)

    assert stored.text == "m0" and stored.room == "dev" and stored.sender == "Alice"
    assert await store.last_message_id() == stored.id
    assert writer.stats == WriterStats(batches=1, messages=1, largest_batch=1)


async def test_futures_resolve_in_submit_order_with_increasing_ids(
    writer: MessageWriter, alice_in_dev: tuple[UserRecord, RoomRecord], now: datetime
) -> None:
    published: list[StoredMessage] = []
    futures: list[asyncio.Future[StoredMessage]] = []
    for n, draft in enumerate(drafts(alice_in_dev, now, 300)):
        future = writer.submit(draft)
        future.add_done_callback(lambda done: published.append(done.result()))
        futures.append(future)
        if n % 7 == 0:
            await asyncio.sleep(0)  # let batches form while others commit

    results = await asyncio.gather(*futures)

    assert [message.text for message in results] == [f"m{n}" for n in range(300)]
    ids = [message.id for message in results]
    assert ids == sorted(ids) and len(set(ids)) == 300
    assert published == results
    assert writer.stats.batches > 1


async def test_a_burst_is_committed_in_few_batches(
    writer: MessageWriter, store: Store, alice_in_dev: tuple[UserRecord, RoomRecord], now: datetime
) -> None:
    async def send(draft: MessageDraft) -> StoredMessage:
        # As a connection would: one task per message, each awaiting its own.
        await asyncio.sleep(0)
        return await writer.submit(draft)

    async def trickle() -> list[StoredMessage]:
        # And a steady stream submitted one per loop turn, spread over the commits.
        futures = []
        for draft in drafts(alice_in_dev, now, 500, prefix="t"):
            futures.append(writer.submit(draft))
            await asyncio.sleep(0)
        return await asyncio.gather(*futures)

    burst = asyncio.gather(*(send(draft) for draft in drafts(alice_in_dev, now, 500, prefix="b")))
    stored, trickled = await asyncio.gather(burst, trickle())

    stats = writer.stats
    assert stats.messages == 1000
    assert stats.batches < 1000 / 5, stats
    assert stats.largest_batch > 1
    assert len({message.id for message in [*stored, *trickled]}) == 1000
    assert await store.last_message_id() == max(message.id for message in [*stored, *trickled])


async def test_batches_are_at_most_max_batch(
    store: Store, alice_in_dev: tuple[UserRecord, RoomRecord], now: datetime
) -> None:
    writer = MessageWriter(store, max_batch=10)
    await writer.start()
    try:
        results = await asyncio.gather(*(writer.submit(draft) for draft in drafts(alice_in_dev, now, 35)))
    finally:
        await writer.stop()

    assert [message.text for message in results] == [f"m{n}" for n in range(35)]
    assert writer.stats == WriterStats(batches=4, messages=35, largest_batch=10)


async def fail_batch_on_sqlite(
    writer: MessageWriter, database: ScratchDatabase, batch: list[MessageDraft]
) -> list[BaseException | StoredMessage]:
    """Submit ``batch`` in one go while another connection holds SQLite's lock: one batch, which
    waits out the busy timeout and fails."""
    assert database.path is not None
    locker = sqlite3.connect(database.path, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        return await asyncio.gather(*(writer.submit(draft) for draft in batch), return_exceptions=True)
    finally:
        locker.execute("ROLLBACK")
        locker.close()


async def fail_batch_on_postgresql(
    writer: MessageWriter, database: ScratchDatabase, batch: list[MessageDraft]
) -> list[BaseException | StoredMessage]:
    """Submit ``batch`` in one go while the database refuses every new message."""
    database.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'refused'; END $$"
    )
    database.execute("CREATE TRIGGER refuse BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse()")
    try:
        return await asyncio.gather(*(writer.submit(draft) for draft in batch), return_exceptions=True)
    finally:
        database.execute("DROP TRIGGER refuse ON messages")


async def test_a_failed_batch_fails_all_its_messages_and_the_writer_goes_on(
    writer: MessageWriter,
    store: Store,
    database: ScratchDatabase,
    alice_in_dev: tuple[UserRecord, RoomRecord],
    now: datetime,
) -> None:
    fail = fail_batch_on_sqlite if database.is_sqlite else fail_batch_on_postgresql
    outcomes = await fail(writer, database, drafts(alice_in_dev, now, 3, prefix="lost"))

    for outcome in outcomes:
        assert isinstance(outcome, WriteFailed), outcome
        assert isinstance(outcome.__cause__, DBAPIError)
        if database.is_sqlite:
            assert isinstance(outcome.__cause__, OperationalError) and "locked" in str(outcome.__cause__)
        else:
            assert "refused" in str(outcome.__cause__)
    assert len({id(outcome) for outcome in outcomes}) == 3
    assert writer.stats.failed_batches == 1 and writer.stats.failed_messages == 3

    later = await asyncio.gather(
        *(writer.submit(draft) for draft in drafts(alice_in_dev, now, 2, prefix="ok"))
    )
    assert [message.text for message in later] == ["ok0", "ok1"]
    page, _ = await store.room_history(alice_in_dev[1].id, before=None, after=None, limit=10)
    assert [message.text for message in page] == ["ok0", "ok1"]
    assert writer.stats.batches == 1


async def test_stop_commits_what_is_queued(
    store: Store, alice_in_dev: tuple[UserRecord, RoomRecord], now: datetime
) -> None:
    writer = MessageWriter(store, max_batch=7)
    await writer.start()
    futures = [writer.submit(draft) for draft in drafts(alice_in_dev, now, 20)]

    await writer.stop()

    assert all(future.done() for future in futures)
    assert [future.result().text for future in futures] == [f"m{n}" for n in range(20)]
    assert await store.last_message_id() == futures[-1].result().id
    assert writer.queued == 0
    with pytest.raises(WriterClosed):
        writer.submit(drafts(alice_in_dev, now, 1)[0])
    await writer.stop()  # a second stop is harmless


async def test_submit_needs_a_started_writer(
    store: Store, alice_in_dev: tuple[UserRecord, RoomRecord], now: datetime
) -> None:
    writer = MessageWriter(store)
    with pytest.raises(WriterClosed):
        writer.submit(drafts(alice_in_dev, now, 1)[0])
    await writer.start()
    with pytest.raises(RuntimeError):
        await writer.start()
    await writer.stop()


async def test_a_resent_nonce_resolves_to_the_stored_message(
    writer: MessageWriter, alice_in_dev: tuple[UserRecord, RoomRecord], now: datetime
) -> None:
    alice, dev = alice_in_dev
    first = await writer.submit(room_draft(alice, dev.id, "hi", now, nonce="n1"))
    twice = writer.submit(room_draft(alice, dev.id, "hi", now, nonce="n2"))
    again = writer.submit(room_draft(alice, dev.id, "hi", now, nonce="n2"))

    resent = await writer.submit(room_draft(alice, dev.id, "hi", now, nonce="n1"))

    assert resent.duplicate and resent.id == first.id and not first.duplicate
    assert not (await twice).duplicate
    assert (await again).duplicate and (await again).id == (await twice).id


async def test_a_cancelled_future_withdraws_its_message(
    writer: MessageWriter, store: Store, alice_in_dev: tuple[UserRecord, RoomRecord], now: datetime
) -> None:
    kept, withdrawn = drafts(alice_in_dev, now, 2)
    kept_future = writer.submit(kept)
    writer.submit(withdrawn).cancel()

    stored = await kept_future
    await writer.submit(drafts(alice_in_dev, now, 1, prefix="z")[0])

    page, _ = await store.room_history(alice_in_dev[1].id, before=None, after=None, limit=10)
    assert [message.text for message in page] == [stored.text, "z0"]


async def test_cancelling_the_writer_task_fails_the_waiting_futures(
    store: Store, alice_in_dev: tuple[UserRecord, RoomRecord], now: datetime
) -> None:
    writer = MessageWriter(store)
    await writer.start()
    futures = [writer.submit(draft) for draft in drafts(alice_in_dev, now, 3)]
    task = writer._task  # noqa: SLF001 - simulating a cancelled shutdown
    assert task is not None
    task.cancel()

    await writer.stop()

    assert task.cancelled()

    for future in futures:
        assert isinstance(future.exception(), WriteFailed)
    with pytest.raises(WriterClosed):
        writer.submit(drafts(alice_in_dev, now, 1)[0])


async def test_cancelling_the_writer_task_mid_batch_fails_that_batch(
    store: Store, alice_in_dev: tuple[UserRecord, RoomRecord], now: datetime
) -> None:
    writer = MessageWriter(store)
    await writer.start()
    in_flight = [writer.submit(draft) for draft in drafts(alice_in_dev, now, 3)]
    await asyncio.sleep(0)  # the writer takes them and starts the commit
    await asyncio.sleep(0)
    assert writer.queued == 0
    queued = [writer.submit(draft) for draft in drafts(alice_in_dev, now, 2, prefix="q")]
    task = writer._task  # noqa: SLF001 - simulating a cancelled shutdown
    assert task is not None
    task.cancel()

    await writer.stop()

    for future in [*in_flight, *queued]:
        assert isinstance(future.exception(), WriteFailed)


async def test_on_postgresql_the_writer_connects_as_it_starts_not_on_its_first_message(
    postgres_database: ScratchDatabase, now: datetime
) -> None:
    """The message writer's own connection is opened (and its statement prepared) as it starts: the
    first message waits for no connection, and opens none."""

    def connections() -> int:
        sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        return int(postgres_database.scalar(sql))

    store = await Store.open(postgres_database.url)
    try:
        (alice,) = await make_users(store, now, "Alice")
        dev, _, _ = await store.join_room(alice.id, "dev", now)
        writer = MessageWriter(store)
        before = connections()
        await writer.start()
        started = connections()
        try:
            await writer.submit(room_draft(alice, dev.id, "hi", now))
            assert started == before + 1 and connections() == started
        finally:
            await writer.stop()
    finally:
        await store.close()
