from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError, StatementError

from chatapp.server.store import SessionRecord, Store, UsernameTaken, UserRecord
from tests.server.store.helpers import make_session, token

HOUR = timedelta(hours=1)


def assert_utc(*values: datetime | None) -> None:
    for value in values:
        assert value is not None
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)


# -- users -------------------------------------------------------------------


async def test_create_user_returns_a_plain_frozen_record(store: Store, now: datetime) -> None:
    user = await store.create_user("Alice", "hash-a", now)

    assert user == UserRecord(
        id=user.id, username="Alice", password_hash="hash-a", role="user", created_at=now, last_login_at=None
    )
    assert_utc(user.created_at)
    with pytest.raises(dataclasses.FrozenInstanceError):
        user.role = "admin"  # type: ignore[misc]


async def test_find_user_ignores_case_and_keeps_the_registered_spelling(store: Store, now: datetime) -> None:
    created = await store.create_user("Alice", "hash-a", now)

    for spelling in ("Alice", "alice", "ALICE", "aLiCe"):
        assert await store.find_user(spelling) == created
    assert await store.find_user("bob") is None


async def test_username_taken_in_any_case(store: Store, now: datetime) -> None:
    await store.create_user("Bob", "hash-1", now)

    with pytest.raises(UsernameTaken) as caught:
        await store.create_user("bOB", "hash-2", now)

    assert caught.value.username == "bOB"
    assert "bOB" in str(caught.value)
    found = await store.find_user("bob")
    assert found is not None and found.username == "Bob" and found.password_hash == "hash-1"


async def test_concurrent_registrations_of_one_name_exactly_one_wins(store: Store, now: datetime) -> None:
    results = await asyncio.gather(
        store.create_user("Bob", "hash-upper", now),
        store.create_user("bob", "hash-lower", now),
        return_exceptions=True,
    )

    winners = [r for r in results if isinstance(r, UserRecord)]
    losers = [r for r in results if isinstance(r, UsernameTaken)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert await store.find_user("BOB") == winners[0]


async def test_many_concurrent_registrations_of_one_name(store: Store, now: datetime) -> None:
    spellings = ["carol", "Carol", "CAROL", "cArol", "caRol", "carOl", "caroL", "CArol"]

    results = await asyncio.gather(
        *(store.create_user(name, f"hash-{name}", now) for name in spellings), return_exceptions=True
    )

    assert sum(isinstance(r, UserRecord) for r in results) == 1, results
    assert sum(isinstance(r, UsernameTaken) for r in results) == len(spellings) - 1, results


async def test_set_password_hash(store: Store, now: datetime) -> None:
    user = await store.create_user("dave", "old", now)

    await store.set_password_hash(user.id, "new")

    found = await store.find_user("dave")
    assert found is not None and found.password_hash == "new"


async def test_datetimes_in_other_zones_are_stored_as_the_same_instant_in_utc(store: Store) -> None:
    plus_two = datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))

    await store.create_user("erin", "h", plus_two)

    found = await store.find_user("erin")
    assert found is not None
    assert found.created_at == plus_two
    assert found.created_at.tzinfo is UTC
    assert found.created_at.hour == 12


async def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(StatementError) as caught:
        await store.create_user("frank", "h", datetime(2025, 1, 1, 12, 0))

    assert isinstance(caught.value.orig, ValueError)
    assert await store.find_user("frank") is None


# -- sessions ----------------------------------------------------------------


async def test_create_and_find_session(store: Store, now: datetime) -> None:
    user = await store.create_user("Alice", "h", now)

    session = await make_session(store, user, now, 1, peer="10.0.0.1:4242", hours=1)

    assert session == SessionRecord(
        id=session.id,
        user_id=user.id,
        peer="10.0.0.1:4242",
        created_at=now,
        last_seen_at=now,
        expires_at=now + HOUR,
        ended_at=None,
        end_reason=None,
    )
    found = await store.find_session(token(1))
    assert found is not None
    found_session, found_user = found
    assert found_session == session
    assert found_user == dataclasses.replace(user, last_login_at=now)
    assert_utc(found_session.created_at, found_session.last_seen_at, found_session.expires_at)
    assert_utc(found_user.created_at, found_user.last_login_at)
    assert await store.find_session(token(2)) is None


async def test_create_session_records_the_login(store: Store, now: datetime) -> None:
    user = await store.create_user("Alice", "h", now)
    later = now + HOUR

    await make_session(store, user, later)

    found = await store.find_user("alice")
    assert found is not None and found.last_login_at == later


async def test_session_tokens_are_unique(store: Store, now: datetime) -> None:
    user = await store.create_user("Alice", "h", now)
    await make_session(store, user, now, n=7)

    with pytest.raises(IntegrityError):
        await make_session(store, user, now, n=7)


async def test_sessions_need_an_existing_user(store: Store, now: datetime) -> None:
    # Proves foreign keys are enforced on the store's own pooled connections.
    with pytest.raises(IntegrityError):
        await store.sign_in(12345, token(1), "127.0.0.1:1", now, now + HOUR)


async def test_end_session(store: Store, now: datetime) -> None:
    user = await store.create_user("Alice", "h", now)
    session = await make_session(store, user, now)
    later = now + HOUR

    await store.end_session(session.id, "disconnect", later)

    found = await store.find_session(token(1))
    assert found is not None
    ended = found[0]
    assert ended == dataclasses.replace(session, ended_at=later, end_reason="disconnect", last_seen_at=later)
    assert_utc(ended.ended_at)


async def test_revoke_expires_the_token(store: Store, now: datetime) -> None:
    user = await store.create_user("Alice", "h", now)
    session = await make_session(store, user, now)
    later = now + HOUR

    await store.end_session(session.id, "logout", later, revoke=True)

    found = await store.find_session(token(1))
    assert found is not None
    assert found[0].expires_at == later
    assert found[0].ended_at == later
    assert found[0].end_reason == "logout"


async def test_reopen_session(store: Store, now: datetime) -> None:
    user = await store.create_user("Alice", "h", now)
    session = await make_session(store, user, now)
    await store.end_session(session.id, "disconnect", now + HOUR)
    resumed_at = now + 2 * HOUR

    assert await store.reopen_session_with_rooms(session.id, "10.9.8.7:6543", resumed_at) is not None

    found = await store.find_session(token(1))
    assert found is not None
    reopened, owner = found
    assert reopened == dataclasses.replace(
        session, peer="10.9.8.7:6543", last_seen_at=resumed_at, ended_at=None, end_reason=None
    )
    assert owner.last_login_at == resumed_at


async def test_reopen_only_touches_its_own_user(store: Store, now: datetime) -> None:
    alice = await store.create_user("Alice", "h", now)
    bob = await store.create_user("Bob", "h", now)
    session = await make_session(store, alice, now, n=1)
    await make_session(store, bob, now, n=2)

    await store.reopen_session_with_rooms(session.id, "1.2.3.4:5", now + HOUR)

    found_bob = await store.find_user("bob")
    assert found_bob is not None and found_bob.last_login_at == now


async def test_end_open_sessions_closes_only_open_ones(store: Store, now: datetime) -> None:
    user = await store.create_user("Alice", "h", now)
    first = await make_session(store, user, now, n=1)
    await make_session(store, user, now, n=2)
    await make_session(store, user, now, n=3)
    await store.end_session(first.id, "logout", now + HOUR)
    restart = now + 3 * HOUR

    assert await store.end_open_sessions("server_restart", restart) == 2

    found = {n: await store.find_session(token(n)) for n in (1, 2, 3)}
    ended_first = found[1]
    assert ended_first is not None
    assert ended_first[0].end_reason == "logout" and ended_first[0].ended_at == now + HOUR
    for n in (2, 3):
        entry = found[n]
        assert entry is not None
        assert entry[0].ended_at == restart and entry[0].end_reason == "server_restart"
        # The last sign of life stays what it was, not the time of the restart.
        assert entry[0].last_seen_at == now
    assert await store.end_open_sessions("shutdown", restart) == 0


async def test_data_survives_reopening_the_store(db_url: str, now: datetime) -> None:
    first = await Store.open(db_url)
    try:
        user = await first.create_user("Alice", "h", now)
        await make_session(first, user, now)
    finally:
        await first.close()

    second = await Store.open(db_url)
    try:
        assert await second.find_user("alice") == dataclasses.replace(user, last_login_at=now)
        assert await second.find_session(token(1)) is not None
    finally:
        await second.close()
