"""Session work (sign-in and sign-out) in batches: the SQLite fast path and the SQLAlchemy path.

The SQLAlchemy path is what PostgreSQL uses; on SQLite it is a :class:`Store`
on the generic :class:`Backend` instead of the SQLite file's. The two must
store the very same rows and return the very same records. Tests with the
``any_store`` fixture run on the SQLite fast path, the SQLAlchemy path on
SQLite, and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from chatapp.server.store import SessionRecord, Store, UserRecord, sqlite_sessions
from tests.server.store.helpers import make_session, open_store, rooms_of, token
from tests.support.databases import PostgresDatabases, ScratchDatabase

HOUR = timedelta(hours=1)
PATHS = ("fast", "sqlalchemy")


async def users_with_sessions(store: Store, now: datetime, count: int) -> list[SessionRecord]:
    sessions = []
    for n in range(count):
        user = await store.create_user(f"user{n}", "h", now)
        sessions.append(await make_session(store, user, now, n, peer=f"10.0.0.{n}:1"))
    return sessions


def rows(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db_path) as db:
        return db.execute(sql).fetchall()


def seen_ids(database: ScratchDatabase) -> dict[str, int]:
    return dict(database.rows("SELECT username, seen_message_id FROM users"))


def refuse_ending(database: ScratchDatabase, session_id: int | None = None) -> None:
    """Make the database itself refuse to end that session (any session): a real failure of one
    statement, as a constraint would fail it (IntegrityError)."""
    only = "" if session_id is None else f" AND NEW.id = {session_id}"
    if database.is_sqlite:
        database.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE OF ended_at ON sessions "
            f"WHEN NEW.ended_at IS NOT NULL{only} BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        return
    database.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NEW.ended_at IS NOT NULL{only} THEN "
        "RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END IF; RETURN NEW; END $$"
    )
    database.execute(
        "CREATE TRIGGER refuse BEFORE UPDATE OF ended_at ON sessions FOR EACH ROW EXECUTE FUNCTION refuse()"
    )


# -- the two paths agree -------------------------------------------------------


async def run_life_cycle(store: Store, now: datetime) -> list[object]:
    """Everything signing in and out stores, through the store's API."""
    alice = await store.create_user("Alice", "h", now)
    bob = await store.create_user("Bob", "h", now)
    await store.join_room(alice.id, "dev", now)
    first = await make_session(store, alice, now, 1, peer="10.0.0.1:1")
    second = await make_session(store, bob, now, 2, peer="10.0.0.2:2")
    third = await make_session(store, bob, now, 3, peer="10.0.0.2:3")
    seen: list[object] = []
    await store.end_session(first.id, "disconnect", now + HOUR, seen_message_id=7)
    seen.append(await store.find_session(token(1)))
    rooms = await store.reopen_session_with_rooms(first.id, "10.9.8.7:6", now + 2 * HOUR)
    # (Not the records whole: 'general' is made by the migration, at a different time in each file.)
    seen.append([(room.id, room.name, room.topic, room.owner_id) for room in rooms])
    seen.append(await store.find_session(token(1)))
    await store.end_session(first.id, "quit", now + 3 * HOUR, revoke=True, seen_message_id=5)
    await store.reopen_session_with_rooms(second.id, "10.0.0.3:3", now + 4 * HOUR)
    await store.set_seen_message_id(bob.id, 9)
    await store.set_seen_message_id(bob.id, 3)
    seen.append(await store.end_open_sessions("shutdown", now + 5 * HOUR))
    seen.append(await store.find_session(token(2)))
    seen.append(await store.find_session(token(3)))
    seen.append(await store.find_session(token(99)))
    seen.append((await store.seen_message_id(alice.id), await store.seen_message_id(bob.id)))
    seen.append((await store.find_user("ALICE"), await store.find_user("nobody")))
    signed = await store.sign_in(bob.id, token(4), "10.0.0.2:4", now + 6 * HOUR, now + 30 * HOUR)
    seen.append((signed.session, [room.name for room in signed.rooms], signed.seen_message_id))
    await store.set_profile(alice.id, display_name="Ｑueen")
    seen.append((await store.display_name_in_use("QUEEN"), await store.display_name_in_use("king")))
    assert third.id
    return seen


@pytest.mark.sqlite_only
async def test_both_paths_store_the_same_rows_and_return_the_same_records(
    tmp_path: Path, now: datetime
) -> None:
    results = {}
    for path in PATHS:
        db_path = tmp_path / path / "chat.db"
        store = await open_store(f"sqlite+aiosqlite:///{db_path}", path)
        store.node = "0123456789abcdef"  # random per process; the same here, so the rows compare
        try:
            results[path] = await run_life_cycle(store, now)
        finally:
            await store.close()
        results[path + " rows"] = [
            rows(db_path, "SELECT * FROM sessions ORDER BY id"),
            rows(db_path, "SELECT * FROM users ORDER BY id"),
        ]

    assert results["fast"] == results["sqlalchemy"]
    # Byte for byte the same stored values: timestamps as the ORM writes them, not as sqlite3's
    # default adapter would ("...+00:00").
    assert results["fast rows"] == results["sqlalchemy rows"]
    stamps = rows(tmp_path / "fast" / "chat.db", "SELECT created_at, expires_at FROM sessions ORDER BY id")
    # created_at written by the ORM; expires_at by the fast path (revoked).
    assert stamps[0] == ("2025-01-02 03:04:05.678901", "2025-01-02 06:04:05.678901")
    # What the life cycle shows.
    ended, rooms, reopened, closed, bob_second, bob_third, missing, seen, found, signed, names = results[
        "fast"
    ]
    assert isinstance(ended, tuple) and ended[0].end_reason == "disconnect"
    assert [room[1] for room in rooms] == ["dev", "general"]  # type: ignore[index]
    assert isinstance(reopened, tuple) and reopened[0].ended_at is None
    assert reopened[0].peer == "10.9.8.7:6" and reopened[1].last_login_at == now + 2 * HOUR
    assert closed == 2  # bob's two sessions; alice's had quit
    assert isinstance(bob_second, tuple) and bob_second[0].end_reason == "shutdown"
    assert isinstance(bob_third, tuple) and bob_third[0].last_seen_at == now
    assert missing is None
    assert seen == (7, 9)  # never lowered
    alice, nobody = found  # type: ignore[misc]
    assert alice.username == "Alice" and alice.last_login_at == now + 2 * HOUR and nobody is None
    session, room_names, bob_seen = signed  # type: ignore[misc]
    assert session.peer == "10.0.0.2:4" and session.expires_at == now + 30 * HOUR and session.ended_at is None
    assert (room_names, bob_seen) == (["general"], 9)
    assert names == (True, False)  # a display name is found by its key


async def test_both_postgresql_paths_store_the_same_rows_and_return_the_same_records(
    postgres_databases: PostgresDatabases, now: datetime
) -> None:
    """asyncpg's own session path against the SQLAlchemy one, on two fresh databases."""
    results = {}
    for path in PATHS:
        name = postgres_databases.take(migrated=True)
        database = ScratchDatabase("postgresql", postgres_databases.server.url(name))
        try:
            store = await open_store(database.url, path)
            store.node = "0123456789abcdef"  # random per process; the same here, so the rows compare
            try:
                results[path] = await run_life_cycle(store, now)
            finally:
                await store.close()
            results[path + " rows"] = [
                database.rows("SELECT * FROM sessions ORDER BY id"),
                database.rows("SELECT * FROM users ORDER BY id"),
                database.rows("SELECT * FROM memberships ORDER BY user_id, room_id"),
            ]
        finally:
            postgres_databases.give_back(name)

    assert results["fast"] == results["sqlalchemy"]
    assert results["fast rows"] == results["sqlalchemy rows"]


async def test_concurrent_registrations_and_logins_share_transactions(
    any_store: Store, database: ScratchDatabase, now: datetime
) -> None:
    before = any_store._session_ops.stats  # noqa: SLF001 - how the store batched its work
    users = await asyncio.gather(*(any_store.create_user(f"new{n}", f"hash{n}", now) for n in range(100)))
    signed = await asyncio.gather(
        *(any_store.sign_in(u.id, token(n), f"10.0.0.1:{n}", now, now + HOUR) for n, u in enumerate(users))
    )
    after = any_store._session_ops.stats  # noqa: SLF001

    assert after.ops - before.ops == 200
    assert after.batches - before.batches <= 4
    assert [u.username for u in users] == [f"new{n}" for n in range(100)]
    assert all(u.role == "user" and u.created_at == now and u.last_login_at is None for u in users)
    assert all([room.name for room in s.rooms] == ["general"] and s.seen_message_id == 0 for s in signed)
    assert len({s.session.id for s in signed}) == 100
    assert database.rows("SELECT COUNT(*) FROM memberships") == [(100,)]
    assert database.rows("SELECT COUNT(*) FROM users WHERE last_login_at IS NOT NULL") == [(100,)]


async def test_a_taken_name_fails_alone_in_its_batch(
    any_store: Store, database: ScratchDatabase, now: datetime
) -> None:
    outcomes = await asyncio.gather(
        any_store.create_user("Carol", "h", now),
        any_store.create_user("carol", "h", now),
        any_store.create_user("Dave", "h", now),
        return_exceptions=True,
    )

    assert [type(o).__name__ for o in outcomes] == ["UserRecord", "UsernameTaken", "UserRecord"]
    assert database.rows("SELECT username FROM users ORDER BY id") == [("Carol",), ("Dave",)]
    assert database.rows("SELECT COUNT(*) FROM memberships") == [(2,)]


@pytest.mark.sqlite_only
async def test_a_session_reopened_by_the_fast_path_is_found_by_sqlalchemy_identically(
    database: ScratchDatabase, db_url: str, now: datetime
) -> None:
    fast = await open_store(db_url, "fast")
    orm = await open_store(db_url, "sqlalchemy")
    try:
        (session,) = await users_with_sessions(fast, now, 1)
        await fast.end_session(session.id, "disconnect", now + HOUR)

        rooms = await fast.reopen_session_with_rooms(session.id, "10.9.8.7:6543", now + 2 * HOUR)

        by_fast, by_orm = await fast.find_session(token(0)), await orm.find_session(token(0))
        assert by_fast == by_orm
        assert by_orm is not None
        assert by_orm[0] == dataclasses.replace(
            session, peer="10.9.8.7:6543", last_seen_at=now + 2 * HOUR, ended_at=None, end_reason=None
        )
        assert by_orm[1].last_login_at == now + 2 * HOUR
        assert rooms is not None and [room.name for room in rooms] == rooms_of(database, session.user_id)
        # And the other way round: what SQLAlchemy writes, the fast path reads alike.
        await orm.end_session(session.id, "quit", now + 3 * HOUR, revoke=True, seen_message_id=4)
        assert await fast.find_session(token(0)) == await orm.find_session(token(0))
        assert await fast.seen_message_id(session.user_id) == 4
    finally:
        await fast.close()
        await orm.close()


async def test_naive_datetimes_are_refused(any_store: Store, now: datetime) -> None:
    (session,) = await users_with_sessions(any_store, now, 1)
    naive = datetime(2025, 1, 1, 12, 0)

    for call in (
        any_store.end_session(session.id, "disconnect", naive),
        any_store.reopen_session_with_rooms(session.id, "1.2.3.4:5", naive),
        any_store.end_open_sessions("shutdown", naive),
    ):
        with pytest.raises(StatementError) as caught:
            await call
        assert isinstance(caught.value.orig, ValueError)
    found = await any_store.find_session(token(0))
    assert found is not None and found[0] == session


# -- batches -------------------------------------------------------------------


async def test_concurrent_sign_outs_share_a_transaction(
    any_store: Store, database: ScratchDatabase, now: datetime
) -> None:
    sessions = await users_with_sessions(any_store, now, 120)
    before = any_store._session_ops.stats  # noqa: SLF001 - how the store batched its work

    await asyncio.gather(
        *(
            any_store.end_session(s.id, "disconnect", now + HOUR, seen_message_id=100 + n)
            for n, s in enumerate(sessions)
        )
    )

    after = any_store._session_ops.stats  # noqa: SLF001
    assert after.ops - before.ops == 120
    assert after.batches - before.batches <= 2  # everything queued in one turn goes together
    assert database.rows("SELECT COUNT(*) FROM sessions WHERE end_reason = 'disconnect'") == [(120,)]
    assert seen_ids(database) == {f"user{n}": 100 + n for n in range(120)}


async def test_a_failing_op_fails_alone_and_the_rest_of_its_batch_commits(
    any_store: Store, database: ScratchDatabase, now: datetime
) -> None:
    sessions = await users_with_sessions(any_store, now, 5)
    doomed = sessions[2]
    refuse_ending(database, doomed.id)
    before = any_store._session_ops.stats  # noqa: SLF001

    outcomes = await asyncio.gather(
        *(
            any_store.end_session(s.id, "disconnect", now + HOUR, seen_message_id=10 + n)
            for n, s in enumerate(sessions)
        ),
        any_store.find_session(token(4)),
        any_store.reopen_session_with_rooms(sessions[4].id, "1.2.3.4:5", now + 2 * HOUR),
        return_exceptions=True,
    )

    after = any_store._session_ops.stats  # noqa: SLF001
    assert after.batches - before.batches == 1 and after.failed_batches == before.failed_batches
    ends, found, rooms = outcomes[:5], outcomes[5], outcomes[6]
    assert isinstance(ends[2], IntegrityError) and "refused" in str(ends[2])
    assert [end for n, end in enumerate(ends) if n != 2] == [None] * 4
    # The read and the reopen queued after the failure ran in the same transaction, in order.
    assert isinstance(found, tuple) and found[0].end_reason == "disconnect"
    assert [room.name for room in rooms] == ["general"]  # type: ignore[union-attr]
    by_session = {
        sid: (ended, reason)
        for sid, ended, reason in database.rows("SELECT id, ended_at, end_reason FROM sessions")
    }
    assert by_session[doomed.id] == (None, None)  # its op rolled back whole ...
    assert seen_ids(database)["user2"] == 0  # ... its seen cursor with it
    assert {n: seen_ids(database)[f"user{n}"] for n in (0, 1, 3, 4)} == {0: 10, 1: 11, 3: 13, 4: 14}
    assert [by_session[s.id][1] for s in sessions] == ["disconnect", "disconnect", None, "disconnect", None]


async def test_a_lone_failing_op_raises(any_store: Store, database: ScratchDatabase, now: datetime) -> None:
    (session,) = await users_with_sessions(any_store, now, 1)
    refuse_ending(database)

    with pytest.raises(IntegrityError):
        await any_store.end_session(session.id, "disconnect", now + HOUR, seen_message_id=3)

    assert seen_ids(database) == {"user0": 0}
    await any_store.reopen_session_with_rooms(session.id, "1.2.3.4:5", now)  # the next batch is fine


@pytest.mark.sqlite_only  # SQLite's write lock, held by another connection
async def test_a_failed_transaction_fails_every_op_and_stores_nothing(
    store_path: str, database: ScratchDatabase, db_path: Path, now: datetime
) -> None:
    store = await open_store(database.url, store_path, busy_timeout_ms=200)
    try:
        sessions = await users_with_sessions(store, now, 3)
        locker = sqlite3.connect(db_path, isolation_level=None)
        try:
            locker.execute("BEGIN IMMEDIATE")
            # Reads never wait for the write lock.
            assert await store.find_session(token(0)) is not None
            outcomes = await asyncio.gather(
                *(store.end_session(s.id, "disconnect", now + HOUR, seen_message_id=5) for s in sessions),
                return_exceptions=True,
            )
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert all(isinstance(o, OperationalError) and "locked" in str(o) for o in outcomes), outcomes
        # One exception object per caller: a shared one would grow one traceback per await.
        assert len({id(o) for o in outcomes}) == 3
        assert rows(db_path, "SELECT COUNT(*) FROM sessions WHERE ended_at IS NOT NULL") == [(0,)]
        assert set(seen_ids(database).values()) == {0}
        # Once the lock is gone the same store goes on.
        await store.end_session(sessions[0].id, "disconnect", now + HOUR, seen_message_id=5)
        assert seen_ids(database)["user0"] == 5
    finally:
        await store.close()


async def test_a_write_is_done_even_if_its_caller_is_cancelled(
    any_store: Store, database: ScratchDatabase, now: datetime
) -> None:
    (session,) = await users_with_sessions(any_store, now, 1)

    caller = asyncio.create_task(any_store.end_session(session.id, "shutdown", now + HOUR, seen_message_id=8))
    await asyncio.sleep(0)  # submitted
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller

    # Ops run in submit order: this read comes after the cancelled caller's write.
    found = await any_store.find_session(token(0))
    assert found is not None and found[0].end_reason == "shutdown"
    assert seen_ids(database) == {"user0": 8}


async def test_close_writes_what_is_queued(store_path: str, database: ScratchDatabase, now: datetime) -> None:
    store = await open_store(database.url, store_path)
    sessions = await users_with_sessions(store, now, 50)
    pending = [
        asyncio.create_task(store.end_session(s.id, "shutdown", now + HOUR, seen_message_id=n + 1))
        for n, s in enumerate(sessions)
    ]
    await asyncio.sleep(0)

    await store.close()

    assert all(task.done() and task.exception() is None for task in pending)
    assert database.rows("SELECT COUNT(*) FROM sessions WHERE end_reason = 'shutdown'") == [(50,)]
    assert seen_ids(database) == {f"user{n}": n + 1 for n in range(50)}


async def test_end_open_sessions_comes_after_the_ends_queued_before_it(
    any_store: Store, database: ScratchDatabase, now: datetime
) -> None:
    sessions = await users_with_sessions(any_store, now, 3)

    outcomes = await asyncio.gather(
        any_store.end_session(sessions[0].id, "disconnect", now + HOUR, seen_message_id=6),
        any_store.end_open_sessions("shutdown", now + 2 * HOUR),
    )

    assert outcomes == [None, 2]
    reasons = [reason for (reason,) in database.rows("SELECT end_reason FROM sessions ORDER BY id")]
    assert reasons == ["disconnect", "shutdown", "shutdown"]
    assert seen_ids(database)["user0"] == 6


async def test_seen_cursor_is_never_lowered(any_store: Store, now: datetime) -> None:
    (session,) = await users_with_sessions(any_store, now, 1)
    user_id = session.user_id

    await any_store.set_seen_message_id(user_id, 10)
    await any_store.end_session(session.id, "disconnect", now, seen_message_id=5)
    assert await any_store.seen_message_id(user_id) == 10
    await any_store.end_session(session.id, "disconnect", now, seen_message_id=12)
    assert await any_store.seen_message_id(user_id) == 12
    await any_store.end_session(session.id, "disconnect", now)  # 0: nothing delivered
    assert await any_store.seen_message_id(user_id) == 12


async def test_users_records_from_the_fast_path_are_plain_records(store: Store, now: datetime) -> None:
    (session,) = await users_with_sessions(store, now, 1)
    found = await store.find_session(token(0))
    assert found is not None
    assert type(found[0]) is SessionRecord and type(found[1]) is UserRecord
    assert found[1].created_at.tzinfo is not None and found[1].role == "user"


@pytest.mark.sqlite_only  # the fast path's own SQL
async def test_every_session_statement_uses_an_index(store: Store, db_path: Path) -> None:
    statements = [
        value for name, value in vars(sqlite_sessions).items() if name.startswith("_") and name.isupper()
    ]
    statements = [s for s in statements if isinstance(s, str) and s.split()[0] in ("SELECT", "UPDATE")]
    assert len(statements) >= 8
    with sqlite3.connect(db_path) as db:
        for statement in statements:
            plan = [
                row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", (1,) * statement.count("?"))
            ]
            # A sign-in or sign-out never reads a whole table, however many users there are.
            assert not any(step.startswith("SCAN") for step in plan), (statement, plan)


async def test_a_revoked_or_expired_session_is_not_reopened(any_store: Store, now: datetime) -> None:
    """A resume checks the token, then re-opens the row: a revocation in between (a quit, a
    takeover, the user ending it) must win, on both paths."""
    revoked, expired, valid = await users_with_sessions(any_store, now, 3)
    await any_store.end_session(revoked.id, "quit", now + HOUR, revoke=True)
    later = now + 25 * HOUR  # past the 24-hour expiry of the other two
    assert await any_store.reopen_session_with_rooms(revoked.id, "1.2.3.4:5", now + 2 * HOUR) is None
    assert await any_store.reopen_session_with_rooms(expired.id, "1.2.3.4:5", later) is None
    rooms = await any_store.reopen_session_with_rooms(valid.id, "1.2.3.4:5", now + 2 * HOUR)
    assert rooms is not None and [room.name for room in rooms] == ["general"]
    found = await any_store.find_session(token(0))
    assert found is not None and found[0].end_reason == "quit" and found[0].ended_at is not None
    assert found[1].last_login_at is None or found[1].last_login_at < now + 2 * HOUR
