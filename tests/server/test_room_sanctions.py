"""The in-memory cache of each room's bans and mutes (services/room_sanctions.py), on a real store:
read once per room, then answered from memory; changes kept; an expired sanction counts as none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.server.services.room_sanctions import RoomSanctions
from chatapp.server.store import RoomRecord, Store, UserRecord
from tests.support.databases import ScratchDatabase

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(database: ScratchDatabase) -> AsyncIterator[Store]:
    opened = await Store.open(database.url)
    try:
        yield opened
    finally:
        await opened.close()


async def setup(store: Store) -> tuple[RoomRecord, UserRecord, UserRecord]:
    alice = await store.create_user("alice", "hash", START)
    bob = await store.create_user("bob", "hash", START)
    room, _, _ = await store.join_room(alice.id, "rust", START)
    await store.join_room(bob.id, "rust", START)
    return room, alice, bob


async def refusal(check: object) -> ProtocolError:
    with pytest.raises(ProtocolError) as caught:
        await check  # type: ignore[misc]
    return caught.value


async def test_a_room_is_read_once_then_answered_from_memory(store: Store, database: ScratchDatabase) -> None:
    room, _, bob = await setup(store)
    sanctions = RoomSanctions(store, Clock())
    first, second = await asyncio.gather(*(sanctions.of_room("rust", room.id) for _ in range(2)))
    assert first is second == {}  # concurrent first uses share one read
    # A ban written behind the cache's back is not seen: sends are checked without a query.
    await asyncio.to_thread(
        database.execute,
        "INSERT INTO room_sanctions (room_id, user_id, kind, created_at) VALUES (:room, :user, 'ban', :at)",
        room=room.id,
        user=bob.id,
        at=START.isoformat() if database.is_sqlite else START,
    )
    await sanctions.check_send("rust", room.id, bob.id)
    # A new cache (a restart) reads it.
    fresh = RoomSanctions(store, Clock())
    assert (await refusal(fresh.check_send("rust", room.id, bob.id))).code is ErrorCode.BANNED


async def test_changes_are_kept_and_expired_sanctions_count_as_none(store: Store) -> None:
    room, alice, bob = await setup(store)
    clock = Clock()
    sanctions = RoomSanctions(store, clock)
    await sanctions.of_room("rust", room.id)
    until = START + timedelta(seconds=30)
    mute = await store.set_sanction(
        room.id, bob.id, "mute", actor="alice", reason="noise", now=START, until=until
    )
    sanctions.put("rust", mute)
    error = await refusal(sanctions.check_send("rust", room.id, bob.id))
    assert (error.code, error.until) == (ErrorCode.MUTED, "2026-01-02T03:04:35.000Z")
    assert "noise" in error.message
    await sanctions.check_not_banned("rust", room.id, bob.id)  # muted, not banned
    await sanctions.check_send("rust", room.id, alice.id)
    assert [s.username for s in await sanctions.in_room("rust", room.id)] == ["bob"]
    clock.now = until
    await sanctions.check_send("rust", room.id, bob.id)  # ended by itself
    assert await sanctions.in_room("rust", room.id) == []
    ban = await store.set_sanction(room.id, bob.id, "ban", actor="alice", reason=None, now=START, until=None)
    sanctions.put("rust", ban)
    assert (await refusal(sanctions.check_not_banned_by_name("rust", bob.id))).code is ErrorCode.BANNED
    sanctions.drop("rust", bob.id, "ban")
    await sanctions.check_not_banned_by_name("rust", bob.id)
    await sanctions.check_not_banned_by_name("no-such-room", bob.id)  # nobody is banned from nothing
    sanctions.forget("rust")
    assert (await refusal(sanctions.check_send("rust", room.id, bob.id))).code is ErrorCode.BANNED  # re-read
