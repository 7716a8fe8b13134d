from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from chatapp.server.store import (
    Backend,
    MessageDraft,
    RoomRecord,
    Store,
    StoredMessage,
    UserRecord,
    create_engine,
    sqlite_backend,
)
from chatapp.server.store.readers import ThreadReaders
from tests.server.store.helpers import dm_draft, make_users, replayed, room_draft
from tests.support.databases import ScratchDatabase

SECOND = timedelta(seconds=1)


async def room(store: Store, owner: UserRecord, name: str, now: datetime) -> RoomRecord:
    record, _, _ = await store.join_room(owner.id, name, now)
    return record


# -- drafts ------------------------------------------------------------------


def test_a_draft_is_a_room_message_or_a_direct_message(now: datetime) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        MessageDraft(sender_id=1, text="x", created_at=now)
    with pytest.raises(ValueError, match="exactly one"):
        MessageDraft(sender_id=1, text="x", created_at=now, room_id=1, recipient_id=2)
    with pytest.raises(ValueError, match="naive"):
        MessageDraft(sender_id=1, text="x", created_at=datetime(2025, 1, 1), room_id=1)
    with pytest.raises(ValueError, match="nonce"):
        MessageDraft(sender_id=1, text="x", created_at=now, room_id=1, nonce="n" * 65)
    MessageDraft(sender_id=1, text="x", created_at=now, room_id=1, nonce="n" * 64)


# -- insert_messages ---------------------------------------------------------


def test_a_draft_refuses_nul_which_postgresql_cannot_store(now: datetime) -> None:
    # Refused when made, so that it cannot fail the batch it would have been committed with.
    with pytest.raises(ValueError, match="NUL"):
        MessageDraft(sender_id=1, text="a\x00b", created_at=now, room_id=1)
    with pytest.raises(ValueError, match="NUL"):
        MessageDraft(sender_id=1, text="ab", created_at=now, room_id=1, nonce="\x00")


async def test_insert_room_and_direct_messages(store: Store, now: datetime) -> None:
    alice, bob = await make_users(store, now, "Alice", "Bob")
    dev = await room(store, alice, "dev", now)
    plus_two = (now + SECOND).astimezone(timezone(timedelta(hours=2)))

    stored = await store.insert_messages(
        [
            room_draft(alice, dev.id, "hello dev", now, nonce="n1"),
            dm_draft(bob, alice, "psst", plus_two),
        ]
    )

    first, second = stored
    assert first == StoredMessage(
        id=first.id, room="dev", sender="Alice", recipient=None, text="hello dev", nonce="n1", created_at=now
    )
    assert second == StoredMessage(
        id=second.id, room=None, sender="Bob", recipient="Alice", text="psst", nonce=None, created_at=plus_two
    )
    assert second.created_at.utcoffset() == timedelta(0)
    assert 0 < first.id < second.id
    assert await store.last_message_id() == second.id
    assert await store.insert_messages([]) == []


async def test_ids_follow_the_order_of_a_large_mixed_batch(any_store: Store, now: datetime) -> None:
    store = any_store
    alice, bob, carol = await make_users(store, now, "Alice", "Bob", "Carol")
    dev = await room(store, alice, "dev", now)
    drafts = [
        room_draft(alice, dev.id, f"m{n}", now, nonce=f"a{n}")
        if n % 3 == 0
        else dm_draft([bob, carol][n % 2], alice, f"m{n}", now, nonce=None if n % 5 == 0 else f"d{n}")
        for n in range(1200)
    ]

    stored = await store.insert_messages(drafts)

    assert [message.text for message in stored] == [draft.text for draft in drafts]
    ids = [message.id for message in stored]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert ids[-1] - ids[0] == len(ids) - 1
    assert not any(message.duplicate for message in stored)


async def test_nonce_repeated_within_one_batch(any_store: Store, now: datetime) -> None:
    store = any_store
    alice, bob = await make_users(store, now, "Alice", "Bob")
    dev = await room(store, alice, "dev", now)

    stored = await store.insert_messages(
        [
            room_draft(alice, dev.id, "first", now, nonce="n1"),
            room_draft(bob, dev.id, "bob's n1", now, nonce="n1"),  # another sender: not a repeat
            room_draft(alice, dev.id, "resent", now + SECOND, nonce="n1"),
            room_draft(alice, dev.id, "no nonce", now),
            room_draft(alice, dev.id, "no nonce", now),  # NULL nonces never collide
            dm_draft(alice, bob, "dm resent", now, nonce="n1"),  # nonces are per sender, rooms and DMs alike
        ]
    )

    first, bobs, resent, plain1, plain2, dm = stored
    assert resent == msgspec.structs.replace(first, duplicate=True)
    assert resent.text == "first"
    assert dm == msgspec.structs.replace(first, duplicate=True)
    assert not any(m.duplicate for m in (first, bobs, plain1, plain2))
    assert len({first.id, bobs.id, plain1.id, plain2.id}) == 4
    assert first.id < bobs.id < plain1.id < plain2.id
    history, _ = await store.room_history(dev.id, before=None, after=None, limit=10)
    assert [m.text for m in history] == ["first", "bob's n1", "no nonce", "no nonce"]


async def test_nonce_repeated_across_batches(any_store: Store, now: datetime) -> None:
    store = any_store
    alice, bob = await make_users(store, now, "Alice", "Bob")
    dev = await room(store, alice, "dev", now)
    (original,) = await store.insert_messages([room_draft(alice, dev.id, "original", now, nonce="n1")])

    stored = await store.insert_messages(
        [
            room_draft(bob, dev.id, "new", now, nonce="n1"),
            room_draft(alice, dev.id, "resent", now + SECOND, nonce="n1"),
            room_draft(alice, dev.id, "resent again", now + SECOND, nonce="n1"),
            room_draft(alice, dev.id, "other", now, nonce="n2"),
        ]
    )

    new, resent, again, other = stored
    assert resent == again == msgspec.structs.replace(original, duplicate=True)
    assert not new.duplicate and not other.duplicate
    assert original.id < new.id < other.id
    assert await store.last_message_id() == other.id


def refuse_text(database: ScratchDatabase, text: str) -> None:
    """Make the database refuse, as a broken constraint, a message with this text."""
    if database.is_sqlite:
        database.execute(
            f"CREATE TRIGGER refuse_text BEFORE INSERT ON messages WHEN NEW.text = '{text}' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
        return
    database.execute(
        "CREATE FUNCTION refuse_text() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.text = '{text}' THEN RAISE check_violation USING MESSAGE = 'refused by the test'; END IF; "
        "RETURN NEW; END $$"
    )
    database.execute(
        "CREATE TRIGGER refuse_text BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_text()"
    )


async def test_a_failing_batch_stores_nothing(
    any_store: Store, database: ScratchDatabase, now: datetime
) -> None:
    store = any_store
    (alice,) = await make_users(store, now, "Alice")
    dev = await room(store, alice, "dev", now)
    refuse_text(database, "refused")

    with pytest.raises(IntegrityError):
        await store.insert_messages(
            [room_draft(alice, dev.id, "fine", now), room_draft(alice, dev.id, "refused", now)]
        )

    assert await store.last_message_id() == 0


# -- history paging ----------------------------------------------------------


@pytest.fixture
async def ten(store: Store, now: datetime) -> tuple[RoomRecord, list[StoredMessage]]:
    """A room with ten messages m0..m9, interleaved with messages elsewhere."""
    alice, bob = await make_users(store, now, "Alice", "Bob")
    dev = await room(store, alice, "dev", now)
    ops = await room(store, bob, "ops", now)
    drafts: list[MessageDraft] = []
    for n in range(10):
        drafts.append(room_draft([alice, bob][n % 2], dev.id, f"m{n}", now + n * SECOND))
        drafts.append(room_draft(bob, ops.id, f"ops{n}", now))
        drafts.append(dm_draft(alice, bob, f"dm{n}", now))
    stored = await store.insert_messages(drafts)
    return dev, [message for message in stored if message.room == "dev"]


def texts(page: tuple[list[StoredMessage], bool]) -> tuple[list[str], bool]:
    return [message.text for message in page[0]], page[1]


def m(*numbers: int) -> list[str]:
    return [f"m{n}" for n in numbers]


async def test_history_latest(store: Store, ten: tuple[RoomRecord, list[StoredMessage]]) -> None:
    dev, messages = ten

    async def latest(limit: int) -> tuple[list[str], bool]:
        return texts(await store.room_history(dev.id, before=None, after=None, limit=limit))

    assert await latest(3) == (m(7, 8, 9), True)
    assert await latest(9) == (m(*range(1, 10)), True)
    assert await latest(10) == (m(*range(10)), False)
    assert await latest(11) == (m(*range(10)), False)
    page, _ = await store.room_history(dev.id, before=None, after=None, limit=10)
    assert page == messages


async def test_history_before(store: Store, ten: tuple[RoomRecord, list[StoredMessage]]) -> None:
    dev, msgs = ten
    ids = [message.id for message in msgs]

    async def before(message_id: int, limit: int) -> tuple[list[str], bool]:
        return texts(await store.room_history(dev.id, before=message_id, after=None, limit=limit))

    assert await before(ids[5], 3) == (m(2, 3, 4), True)
    assert await before(ids[3], 3) == (m(0, 1, 2), False)
    assert await before(ids[3], 2) == (m(1, 2), True)
    assert await before(ids[3], 4) == (m(0, 1, 2), False)
    assert await before(ids[0], 5) == ([], False)
    assert await before(ids[9] + 1000, 2) == (m(8, 9), True)


async def test_history_after(store: Store, ten: tuple[RoomRecord, list[StoredMessage]]) -> None:
    dev, msgs = ten
    ids = [message.id for message in msgs]

    async def after(message_id: int, limit: int) -> tuple[list[str], bool]:
        return texts(await store.room_history(dev.id, before=None, after=message_id, limit=limit))

    assert await after(ids[2], 3) == (m(3, 4, 5), True)
    assert await after(ids[6], 3) == (m(7, 8, 9), False)
    assert await after(ids[6], 2) == (m(7, 8), True)
    assert await after(ids[6], 4) == (m(7, 8, 9), False)
    assert await after(ids[9], 5) == ([], False)
    assert await after(0, 10) == (m(*range(10)), False)
    assert await after(0, 9) == (m(*range(9)), True)


async def test_history_between(store: Store, ten: tuple[RoomRecord, list[StoredMessage]]) -> None:
    dev, msgs = ten
    ids = [message.id for message in msgs]

    async def between(low: int, high: int, limit: int) -> tuple[list[str], bool]:
        return texts(await store.room_history(dev.id, before=high, after=low, limit=limit))

    # Within (m1, m8): m2..m7, the first `limit`; more = newer ones within the range.
    assert await between(ids[1], ids[8], 3) == (m(2, 3, 4), True)
    assert await between(ids[1], ids[8], 5) == (m(2, 3, 4, 5, 6), True)
    assert await between(ids[1], ids[8], 6) == (m(2, 3, 4, 5, 6, 7), False)
    assert await between(ids[1], ids[8], 7) == (m(2, 3, 4, 5, 6, 7), False)
    assert await between(ids[4], ids[5], 3) == ([], False)
    assert await between(ids[5], ids[4], 3) == ([], False)


async def test_history_of_an_empty_room(store: Store, now: datetime) -> None:
    (alice,) = await make_users(store, now, "Alice")
    empty = await room(store, alice, "empty", now)

    for before, after in [(None, None), (5, None), (None, 5), (10, 0)]:
        assert await store.room_history(empty.id, before=before, after=after, limit=5) == ([], False)


async def test_history_limit_must_be_positive(
    store: Store, ten: tuple[RoomRecord, list[StoredMessage]]
) -> None:
    dev, _ = ten
    with pytest.raises(ValueError, match="limit"):
        await store.room_history(dev.id, before=None, after=None, limit=0)


async def test_dm_history_is_one_conversation_both_ways(store: Store, now: datetime) -> None:
    alice, bob, carol = await make_users(store, now, "Alice", "Bob", "Carol")
    general = await store.get_room("general")
    assert general is not None
    await store.insert_messages(
        [
            dm_draft(alice, bob, "a->b 1", now),
            dm_draft(alice, carol, "a->c", now),
            dm_draft(bob, alice, "b->a", now),
            room_draft(alice, general.id, "in general", now),
            dm_draft(carol, bob, "c->b", now),
            dm_draft(alice, bob, "a->b 2", now),
        ]
    )

    page = await store.dm_history(alice.id, bob.id, before=None, after=None, limit=10)
    assert texts(page) == (["a->b 1", "b->a", "a->b 2"], False)
    assert await store.dm_history(bob.id, alice.id, before=None, after=None, limit=10) == page
    messages, _ = page
    assert [(message.sender, message.recipient, message.room) for message in messages] == [
        ("Alice", "Bob", None),
        ("Bob", "Alice", None),
        ("Alice", "Bob", None),
    ]
    assert texts(await store.dm_history(alice.id, bob.id, before=None, after=None, limit=2)) == (
        ["b->a", "a->b 2"],
        True,
    )
    assert texts(await store.dm_history(bob.id, alice.id, before=None, after=messages[0].id, limit=1)) == (
        ["b->a"],
        True,
    )
    assert texts(await store.dm_history(bob.id, alice.id, before=messages[1].id, after=None, limit=5)) == (
        ["a->b 1"],
        False,
    )
    assert await store.dm_history(bob.id, bob.id, before=None, after=None, limit=5) == ([], False)


# -- missed messages ---------------------------------------------------------


async def test_missed_messages_come_from_current_rooms_and_own_direct_messages(
    store: Store, now: datetime
) -> None:
    alice, bob, carol = await make_users(store, now, "Alice", "Bob", "Carol")
    dev = await room(store, alice, "dev", now)
    ops = await room(store, alice, "ops", now)
    secret = await room(store, bob, "secret", now)
    left = await room(store, alice, "left", now)
    general = await store.get_room("general")
    assert general is not None
    await store.join_room(bob.id, "left", now)
    await store.insert_messages(
        [
            room_draft(bob, general.id, "general", now),
            room_draft(bob, dev.id, "dev", now),
            room_draft(bob, secret.id, "secret", now),
            room_draft(bob, left.id, "left", now),
            dm_draft(bob, alice, "to alice", now),
            dm_draft(alice, carol, "from alice", now),
            dm_draft(bob, carol, "not hers", now),
            room_draft(alice, ops.id, "ops", now),
            dm_draft(alice, alice, "note to self", now),
        ]
    )
    await store.leave_room(alice.id, left.id)

    missed = await replayed(store, alice.id, 0, 100)

    expected = ["general", "dev", "to alice", "from alice", "ops", "note to self"]
    assert [message.text for message in missed] == expected
    ids = [message.id for message in missed]
    assert ids == sorted(ids)
    assert missed[2].recipient == "Alice" and missed[2].sender == "Bob"
    # After an id, and cut at the limit (the oldest first).
    assert [message.text for message in await replayed(store, alice.id, ids[1], 100)] == expected[2:]
    assert [message.text for message in await replayed(store, alice.id, ids[1], 2)] == expected[2:4]
    assert [message.text for message in await replayed(store, alice.id, 0, 1)] == ["general"]
    assert await replayed(store, alice.id, ids[-1], 100) == []
    assert [message.text for message in await replayed(store, carol.id, 0, 100)] == [
        "general",
        "from alice",
        "not hers",
    ]


async def test_missed_messages_are_cut_per_room_then_merged(store: Store, now: datetime) -> None:
    # Two busy rooms interleaved: the result is still the first `limit` overall.
    alice, bob = await make_users(store, now, "Alice", "Bob")
    dev = await room(store, alice, "dev", now)
    ops = await room(store, alice, "ops", now)
    drafts = []
    for n in range(30):
        drafts.append(room_draft(bob, [dev, ops][n % 3 == 0].id, f"r{n}", now))
        if n % 7 == 0:
            drafts.append(dm_draft(bob, alice, f"d{n}", now))
    stored = await store.insert_messages(drafts)

    for after, limit in [(0, 5), (stored[10].id, 7), (0, 100)]:
        expected = [message for message in stored if message.id > after][:limit]
        assert await replayed(store, alice.id, after, limit) == expected


# -- the queries use the indexes ---------------------------------------------


@contextmanager
def statements(store: Store, kind: str = "SELECT") -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if statement.lstrip().upper().startswith(kind):
            seen.append((statement, parameters))

    # The store's own SQL, on its engine and on its readers' (heavy reads on SQLite).
    engines = [store.backend.engine.sync_engine]
    readers = store.backend._readers  # noqa: SLF001
    if isinstance(readers, ThreadReaders):
        engines.append(readers._engine)  # noqa: SLF001
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def plan(path: Path, statement: str, parameters: Any) -> str:
    connection = sqlite3.connect(path)
    try:
        return "\n".join(row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters))
    finally:
        connection.close()


@pytest.mark.sqlite_only  # SQLite's query plans
async def test_history_and_missed_queries_use_indexes(store: Store, db_path: Path, now: datetime) -> None:
    alice, bob = await make_users(store, now, "Alice", "Bob")
    dev = await room(store, alice, "dev", now)
    await store.insert_messages(
        [room_draft(alice, dev.id, "x", now, nonce="n"), dm_draft(alice, bob, "y", now)]
    )

    with statements(store) as seen:
        await store.room_history(dev.id, before=None, after=None, limit=5)
        await store.room_history(dev.id, before=10, after=None, limit=5)
        await store.room_history(dev.id, before=None, after=1, limit=5)
        await store.dm_history(alice.id, bob.id, before=10, after=None, limit=5)
        await store.insert_messages([room_draft(alice, dev.id, "x", now, nonce="n")])
    plans = [plan(db_path, statement, parameters) for statement, parameters in seen]
    # The replay's statements run as plain SQL on the readers' connections: their plans as such.
    values = {"user": alice.id, "after": 0, "until": 10, "scan": 5, "keep": 4}
    for replay in (sqlite_backend._REPLAY_PAGE, sqlite_backend._REPLAY_START):  # noqa: SLF001
        given = replay.compiled.construct_params(values)
        plans.append(plan(db_path, replay.sql, [given[name] for name in replay.names]))

    room_plans, dm_plan, nonce_plan, missed_plan, start_plan = plans[:3], *plans[3:7]
    for room_plan in room_plans:
        assert "USING INDEX ix_messages_room_id_id" in room_plan
    assert "USING INDEX ix_messages_dm_key_id" in dm_plan
    for replay_plan in (missed_plan, start_plan):
        assert "ix_messages_room_id_id (room_id=? AND id>? AND id<?)" in replay_plan
        assert "ix_messages_recipient_id_id (recipient_id=? AND id>? AND id<?)" in replay_plan
    assert "sqlite_autoindex_messages_1 (sender_id=? AND nonce=?)" in nonce_plan
    for query_plan in plans:
        # Never a full scan of messages (SCAN of a subquery or of constant rows is fine).
        assert "SCAN messages" not in query_plan, query_plan
        assert "SCAN recent" not in query_plan, query_plan


async def test_a_batch_is_one_insert(store: Store, now: datetime) -> None:
    alice, bob = await make_users(store, now, "Alice", "Bob")
    dev = await room(store, alice, "dev", now)
    batch = [
        room_draft(alice, dev.id, str(n), now, nonce=str(n)) if n % 2 else dm_draft(bob, alice, str(n), now)
        for n in range(500)
    ]

    with statements(store, "INSERT") as inserts, statements(store) as selects:
        stored = await store.insert_messages(batch)

    assert len(stored) == 500
    # One statement that also skips stored nonces (ON CONFLICT), through the backend's own
    # connection (SQLite's writer thread, asyncpg's), not SQLAlchemy. The names are read back once.
    assert inserts == []
    assert len(selects) == 1


async def test_a_batch_with_names_needs_no_read_back(store: Store, now: datetime) -> None:
    alice, bob = await make_users(store, now, "Alice", "Bob")
    dev = await room(store, alice, "dev", now)
    batch = [
        MessageDraft(
            sender_id=alice.id,
            text=str(n),
            created_at=now,
            room_id=dev.id,
            nonce=str(n),
            sender_name="Alice",
            room_name="dev",
        )
        if n % 2
        else MessageDraft(
            sender_id=bob.id,
            text=str(n),
            created_at=now,
            recipient_id=alice.id,
            sender_name="Bob",
            recipient_name="Alice",
        )
        for n in range(500)
    ]

    with statements(store, "INSERT") as inserts, statements(store) as selects:
        stored = await store.insert_messages(batch)

    assert inserts == [] and selects == []
    # What was built from the drafts is what was stored.
    page, _ = await store.room_history(dev.id, before=None, after=None, limit=500)
    assert [(m.id, m.room, m.sender, m.text, m.nonce) for m in page] == [
        (m.id, m.room, m.sender, m.text, m.nonce) for m in stored if m.room is not None
    ]
    dms, _ = await store.dm_history(alice.id, bob.id, before=None, after=None, limit=500)
    assert [(m.id, m.sender, m.recipient, m.text) for m in dms] == [
        (m.id, m.sender, m.recipient, m.text) for m in stored if m.room is None
    ]


# -- ids, pruning ------------------------------------------------------------


async def test_last_message_id(store: Store, now: datetime) -> None:
    assert await store.last_message_id() == 0
    (alice,) = await make_users(store, now, "Alice")
    stored = await store.insert_messages([dm_draft(alice, alice, str(n), now) for n in range(3)])
    assert await store.last_message_id() == stored[-1].id


async def test_prune_messages(store: Store, now: datetime) -> None:
    alice, bob = await make_users(store, now, "Alice", "Bob")
    dev = await room(store, alice, "dev", now)
    old = [room_draft(alice, dev.id, f"old{n}", now - timedelta(days=30, seconds=n)) for n in range(7)]
    old += [dm_draft(bob, alice, f"old-dm{n}", now - timedelta(days=31)) for n in range(3)]
    fresh = [room_draft(bob, dev.id, f"new{n}", now + timedelta(seconds=n)) for n in range(4)]
    stored = await store.insert_messages([*fresh[:2], *old, *fresh[2:]])

    assert await store.prune_messages(now - timedelta(days=1), batch_size=3) == 10

    page, more = await store.room_history(dev.id, before=None, after=None, limit=100)
    assert [message.text for message in page] == ["new0", "new1", "new2", "new3"] and not more
    assert await store.dm_history(alice.id, bob.id, before=None, after=None, limit=100) == ([], False)
    assert await store.prune_messages(now - timedelta(days=1)) == 0
    # The cut is strict: a message created exactly then stays.
    assert await store.prune_messages(now) == 0
    assert await store.last_message_id() == stored[-1].id


async def test_ids_keep_increasing_after_everything_is_pruned(store: Store, now: datetime) -> None:
    (alice,) = await make_users(store, now, "Alice")
    dev = await room(store, alice, "dev", now)
    stored = await store.insert_messages([room_draft(alice, dev.id, str(n), now) for n in range(5)])

    assert await store.prune_messages(now + SECOND) == 5
    assert await store.last_message_id() == 0

    (after,) = await store.insert_messages([room_draft(alice, dev.id, "after the prune", now)])
    assert after.id > stored[-1].id


@pytest.mark.sqlite_only  # the fast path's own conversion of values
async def test_batch_fast_path_stores_timestamps_as_the_orm_does(
    store: Store, now: datetime, db_path: Path
) -> None:
    # Messages go through the raw sqlite3 fast path, users through SQLAlchemy: the same instant
    # must be the same text in both tables, or SQL comparisons (retention) would disagree.
    (alice,) = await make_users(store, now, "Alice")
    dev = await room(store, alice, "dev", now)
    plus_two = now.astimezone(timezone(timedelta(hours=2)))
    await store.insert_messages([room_draft(alice, dev.id, "hi", plus_two, nonce="t1")])
    with sqlite3.connect(db_path) as db:
        (message_at,) = db.execute("SELECT created_at FROM messages").fetchone()
        (user_at,) = db.execute("SELECT created_at FROM users").fetchone()
    assert message_at == user_at
    assert "+" not in message_at


async def test_result_ids_are_the_stored_rows_ids(
    any_store: Store, now: datetime, database: ScratchDatabase
) -> None:
    store = any_store
    # The SQLite fast path infers ids from the last one when no row was skipped, and reads them
    # back otherwise; RETURNING gives them in no promised order: either way each result must be
    # the row the database holds under that id.
    (alice,) = await make_users(store, now, "Alice")
    dev = await room(store, alice, "dev", now)
    rng = random.Random(5)
    for round_ in range(30):
        earlier = {f"{round_}-{n}" for n in rng.sample("abcd", rng.randint(0, 3))}
        await store.insert_messages([room_draft(alice, dev.id, f"old {n}", now, nonce=n) for n in earlier])
        nonces = [rng.choice([f"{round_}-{n}" for n in "abcd"] + [None]) for _ in range(rng.randint(1, 40))]
        drafts = [room_draft(alice, dev.id, f"r{round_} m{i}", now, nonce=n) for i, n in enumerate(nonces)]
        results = await store.insert_messages(drafts)
        rows = {r[0]: r[1:] for r in database.rows("SELECT id, sender_id, nonce, text FROM messages")}
        for draft, result in zip(drafts, results, strict=True):
            assert rows[result.id] == (alice.id, draft.nonce, result.text)
            assert result.duplicate or result.text == draft.text


async def test_replay_pages_carry_any_text_exactly(any_store: Store, now: datetime) -> None:
    store = any_store
    # On SQLite a page travels packed in one value: texts holding its separators, newlines,
    # quotes, emoji and every other character come back exactly, and nonces too.
    alice, bob = await make_users(store, now, "Alice", "Bob")
    texts = ["\x1e\x1f", "a\x1fb\x1ec", "line\nbreak", '"quoted"', "émoji 🎉", "\x01soh", "\\", "0" * 4000]
    drafts = [
        room_draft(bob, 1, text, now + timedelta(microseconds=n), nonce=text[:64] if n % 2 else None)
        for n, text in enumerate(texts)
    ]
    drafts.append(dm_draft(bob, alice, "\x1fdirect\x1e", now, nonce="\x1e"))
    stored = await store.insert_messages(drafts)

    assert await replayed(store, alice.id, 0, 100) == stored
    page, last = await store.replay_page(alice.id, stored[2].id, stored[-2].id, 3, list)
    assert page == stored[3:6] and last == stored[5].id


@pytest.mark.sqlite_only  # compares the SQLite readers with the generic path on the same file
async def test_replays_through_sqlalchemy_read_what_the_sqlite_readers_read(
    store: Store, db_url: str, now: datetime
) -> None:
    # The path of other databases (PostgreSQL): the same statements through SQLAlchemy on the pool.
    alice, bob = await make_users(store, now, "Alice", "Bob")
    dev = await room(store, alice, "dev", now)
    drafts = [room_draft(bob, [1, dev.id][n % 2], f"r{n}\x1e", now, nonce=f"n{n}") for n in range(30)]
    drafts += [dm_draft(bob, alice, "to alice", now), dm_draft(alice, alice, "to myself", now)]
    stored = await store.insert_messages(drafts)
    orm = Store(Backend(create_engine(db_url)))
    try:
        last = stored[-1].id
        for after, until, keep in [(0, last, 5), (stored[3].id, stored[20].id, 100), (0, last, 0)]:
            assert await orm.replay_start(alice.id, after, until, keep) == await store.replay_start(
                alice.id, after, until, keep
            )
        assert await replayed(orm, alice.id, 0, 100) == await replayed(store, alice.id, 0, 100)
        assert [m.text for m in await replayed(orm, alice.id, stored[-3].id, 10)] == [
            "to alice",
            "to myself",
        ]
        cut = await orm.replay_start(alice.id, 0, last, 5)
        assert cut == (stored[-6].id, True)  # the newest five are kept
    finally:
        await orm.close()
