"""A user's own sessions: which can still be used, and ending one of them (never another user's)."""

from __future__ import annotations

from datetime import datetime, timedelta

from chatapp.server.store import SessionRecord, Store, UserRecord

HOUR = timedelta(hours=1)


async def make_session(store: Store, user: UserRecord, n: int, at: datetime) -> SessionRecord:
    return (await store.sign_in(user.id, f"{n:064x}", f"10.0.0.{n}:5000", at, at + 24 * HOUR)).session


async def test_live_sessions_are_the_usable_ones_most_recent_first(store: Store, now: datetime) -> None:
    alice = await store.create_user("alice", "h", now)
    bob = await store.create_user("bob", "h", now)
    open_one = await make_session(store, alice, 1, now)
    resumable = await make_session(store, alice, 2, now + HOUR)
    revoked = await make_session(store, alice, 3, now + 2 * HOUR)
    expired = await make_session(store, alice, 4, now - 48 * HOUR)
    await make_session(store, bob, 5, now)
    await store.end_session(resumable.id, "disconnect", now + 3 * HOUR)
    await store.end_session(revoked.id, "quit", now + 3 * HOUR, revoke=True)
    await store.end_session(expired.id, "disconnect", now - 30 * HOUR)

    live = await store.live_sessions(alice.id, now + 4 * HOUR, limit=10)

    assert [s.id for s in live] == [resumable.id, open_one.id]
    assert live[0].peer == "10.0.0.2:5000" and live[0].ended_at == now + 3 * HOUR
    assert await store.live_sessions(alice.id, now + 4 * HOUR, limit=1) == live[:1]


async def test_an_open_session_is_live_even_past_its_expiry(store: Store, now: datetime) -> None:
    """A connection that has been signed in for longer than the token's life is still there."""
    alice = await store.create_user("alice", "h", now)
    session = await make_session(store, alice, 1, now)
    assert [s.id for s in await store.live_sessions(alice.id, now + 48 * HOUR, limit=10)] == [session.id]


async def test_revoking_a_session_ends_it_and_its_token(store: Store, now: datetime) -> None:
    alice = await store.create_user("alice", "h", now)
    session = await make_session(store, alice, 1, now)
    await store.end_session(session.id, "disconnect", now + HOUR)
    later = now + 2 * HOUR

    assert await store.revoke_user_session(alice.id, session.id, "ended_by_user", later)

    found = await store.find_session(f"{1:064x}")
    assert found is not None
    assert found[0].expires_at == later and found[0].ended_at == later
    assert found[0].end_reason == "ended_by_user"
    assert await store.live_sessions(alice.id, later, limit=10) == []
    # Once over, it cannot be ended again.
    assert not await store.revoke_user_session(alice.id, session.id, "ended_by_user", later)


async def test_nobody_ends_another_users_session(store: Store, now: datetime) -> None:
    alice = await store.create_user("alice", "h", now)
    mallory = await store.create_user("mallory", "h", now)
    session = await make_session(store, alice, 1, now)

    assert not await store.revoke_user_session(mallory.id, session.id, "ended_by_user", now + HOUR)
    assert not await store.revoke_user_session(mallory.id, 9999, "ended_by_user", now + HOUR)

    found = await store.find_session(f"{1:064x}")
    assert found is not None and found[0].ended_at is None and found[0].expires_at == now + 24 * HOUR
