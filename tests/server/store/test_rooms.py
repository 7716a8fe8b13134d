from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from chatapp.protocol.limits import DEFAULT_ROOM
from chatapp.server.store import RoomRecord, RoomSummary, Store
from tests.server.store.helpers import make_session, make_users, rooms_of, token
from tests.support.databases import ScratchDatabase

HOUR = timedelta(hours=1)


# -- users and 'general' -------------------------------------------------------


async def test_a_new_user_is_a_member_of_general(
    store: Store, database: ScratchDatabase, now: datetime
) -> None:
    (alice,) = await make_users(store, now, "Alice")

    general = await store.get_room(DEFAULT_ROOM)
    assert general is not None
    assert (await store.sign_in(alice.id, token(1), "p", now, now + HOUR)).rooms == [general]
    assert rooms_of(database, alice.id) == [DEFAULT_ROOM]


async def test_create_user_recreates_a_missing_general(
    store: Store, database: ScratchDatabase, now: datetime
) -> None:
    database.execute("DELETE FROM rooms")

    alice, bob = await make_users(store, now, "Alice", "Bob")

    general = await store.get_room(DEFAULT_ROOM)
    assert general is not None
    assert (general.owner_id, general.topic, general.created_at) == (None, "", now)
    assert await store.rooms_in_common(alice.id, bob.id) == [DEFAULT_ROOM]


async def test_concurrent_registrations_all_join_one_general(
    store: Store, database: ScratchDatabase, now: datetime
) -> None:
    database.execute("DELETE FROM rooms")

    users = await asyncio.gather(*(store.create_user(f"user{n}", "h", now) for n in range(8)))

    assert await store.list_rooms() == [RoomSummary(name=DEFAULT_ROOM, topic="", members=8)]
    general = await store.get_room(DEFAULT_ROOM)
    assert general is not None
    for user in users:
        assert rooms_of(database, user.id) == [DEFAULT_ROOM]


async def test_seen_message_id_only_rises(store: Store, now: datetime) -> None:
    alice, bob = await make_users(store, now, "Alice", "Bob")
    assert await store.seen_message_id(alice.id) == 0

    await store.set_seen_message_id(alice.id, 10)
    assert await store.seen_message_id(alice.id) == 10
    await store.set_seen_message_id(alice.id, 7)
    assert await store.seen_message_id(alice.id) == 10
    await store.set_seen_message_id(alice.id, 12)
    assert await store.seen_message_id(alice.id) == 12

    assert await store.seen_message_id(bob.id) == 0
    assert await store.seen_message_id(12345) == 0


async def test_last_seen(store: Store, now: datetime) -> None:
    alice, bob = await make_users(store, now, "Alice", "Bob")
    assert await store.last_seen(alice.id) is None

    first = await make_session(store, alice, now, 1)
    assert await store.last_seen(alice.id) == now
    await store.end_session(first.id, "disconnect", now + HOUR)
    assert await store.last_seen(alice.id) == now + HOUR
    # A later session still open, seen at login.
    await make_session(store, alice, now + 2 * HOUR, 2)
    assert await store.last_seen(alice.id) == now + 2 * HOUR
    # A shutdown ends it later without touching last_seen_at: ended_at counts.
    await store.end_open_sessions("shutdown", now + 5 * HOUR)
    last = await store.last_seen(alice.id)
    assert last == now + 5 * HOUR
    assert last is not None and last.utcoffset() == timedelta(0)

    assert await store.last_seen(bob.id) is None


# -- rooms -------------------------------------------------------------------


async def test_join_room_creates_it_owned_by_the_joiner(
    store: Store, database: ScratchDatabase, now: datetime
) -> None:
    alice, bob = await make_users(store, now, "Alice", "Bob")
    assert await store.get_room("dev") is None

    room, created, newly_joined = await store.join_room(alice.id, "dev", now)

    assert (created, newly_joined) == (True, True)
    assert room == RoomRecord(id=room.id, name="dev", topic="", owner_id=alice.id, created_at=now)
    assert await store.get_room("dev") == room

    again = await store.join_room(bob.id, "dev", now + HOUR)
    assert again == (room, False, True)
    assert await store.join_room(alice.id, "dev", now + HOUR) == (room, False, False)
    assert rooms_of(database, bob.id) == ["dev", DEFAULT_ROOM]


async def test_concurrent_creators_of_one_room(
    store: Store, database: ScratchDatabase, now: datetime
) -> None:
    users = await make_users(store, now, "Alice", "Bob", "Carol", "Dave")

    results = await asyncio.gather(*(store.join_room(user.id, "dev", now) for user in users))

    rooms = {room for room, _, _ in results}
    assert len(rooms) == 1
    (room,) = rooms
    assert [created for _, created, _ in results].count(True) == 1
    assert all(newly_joined for _, _, newly_joined in results)
    creator = next(user for user, (_, created, _) in zip(users, results, strict=True) if created)
    assert room.owner_id == creator.id
    for user in users:
        assert "dev" in rooms_of(database, user.id)
    assert [summary for summary in await store.list_rooms() if summary.name == "dev"] == [
        RoomSummary(name="dev", topic="", members=4)
    ]


async def test_concurrent_joins_of_one_user(store: Store, now: datetime) -> None:
    (alice,) = await make_users(store, now, "Alice")

    results = await asyncio.gather(
        store.join_room(alice.id, "dev", now), store.join_room(alice.id, "dev", now)
    )

    assert sorted((created, joined) for _, created, joined in results) == [(False, False), (True, True)]


async def test_join_room_of_a_missing_user_fails(store: Store, now: datetime) -> None:
    with pytest.raises(IntegrityError):
        await store.join_room(12345, "dev", now)
    assert await store.get_room("dev") is None


async def test_leave_room(store: Store, database: ScratchDatabase, now: datetime) -> None:
    alice, bob = await make_users(store, now, "Alice", "Bob")
    room, _, _ = await store.join_room(alice.id, "dev", now)

    assert await store.leave_room(alice.id, room.id) is True
    assert await store.leave_room(alice.id, room.id) is False
    assert await store.leave_room(bob.id, room.id) is False
    assert rooms_of(database, alice.id) == [DEFAULT_ROOM]
    # The room stays (empty) and keeps its owner.
    assert await store.get_room("dev") == room
    assert await store.join_room(alice.id, "dev", now) == (room, False, True)


async def test_set_topic(store: Store, now: datetime) -> None:
    (alice,) = await make_users(store, now, "Alice")
    room, _, _ = await store.join_room(alice.id, "dev", now)

    await store.set_topic(room.id, "all things dev")

    found = await store.get_room("dev")
    assert found is not None and found.topic == "all things dev"
    assert found == RoomRecord(
        id=room.id, name="dev", topic="all things dev", owner_id=alice.id, created_at=now
    )


async def test_a_sign_in_reads_the_users_rooms_by_name(store: Store, now: datetime) -> None:
    alice, bob = await make_users(store, now, "Alice", "Bob")
    for name in ("zeta", "alpha", "mid"):
        await store.join_room(alice.id, name, now)

    signed = await store.sign_in(alice.id, token(1), "p", now, now + HOUR)
    assert [room.name for room in signed.rooms] == ["alpha", "general", "mid", "zeta"]
    assert [room.name for room in (await store.sign_in(bob.id, token(2), "p", now, now + HOUR)).rooms] == [
        "general"
    ]


async def test_list_rooms(store: Store, now: datetime) -> None:
    alice, bob, carol = await make_users(store, now, "Alice", "Bob", "Carol")
    dev, _, _ = await store.join_room(alice.id, "dev", now)
    await store.join_room(bob.id, "dev", now)
    await store.join_room(carol.id, "ops", now)
    await store.set_topic(dev.id, "code")
    empty, _, _ = await store.join_room(carol.id, "attic", now)
    await store.leave_room(carol.id, empty.id)

    assert await store.list_rooms() == [
        RoomSummary(name="attic", topic="", members=0),
        RoomSummary(name="dev", topic="code", members=2),
        RoomSummary(name="general", topic="", members=3),
        RoomSummary(name="ops", topic="", members=1),
    ]
    assert [summary.name for summary in await store.list_rooms(limit=2)] == ["attic", "dev"]


async def test_rooms_in_common(store: Store, now: datetime) -> None:
    alice, bob, carol = await make_users(store, now, "Alice", "Bob", "Carol")
    for user, name in [
        (alice, "dev"),
        (bob, "dev"),
        (alice, "ops"),
        (carol, "ops"),
        (bob, "art"),
        (alice, "art"),
    ]:
        await store.join_room(user.id, name, now)

    assert await store.rooms_in_common(alice.id, bob.id) == ["art", "dev", "general"]
    assert await store.rooms_in_common(bob.id, alice.id) == ["art", "dev", "general"]
    assert await store.rooms_in_common(bob.id, carol.id) == ["general"]
    assert await store.rooms_in_common(alice.id, alice.id) == ["art", "dev", "general", "ops"]


async def test_deleting_a_user_keeps_their_rooms_without_owner(
    store: Store, database: ScratchDatabase, now: datetime
) -> None:
    # No method deletes users yet; the schema's ON DELETE rules are ready for one.
    alice, bob = await make_users(store, now, "Alice", "Bob")
    room, _, _ = await store.join_room(alice.id, "dev", now)
    await store.join_room(bob.id, "dev", now)
    database.execute("DELETE FROM users WHERE id = :id", id=alice.id)

    found = await store.get_room("dev")
    assert found is not None and found.owner_id is None
    assert await store.list_rooms() == [
        RoomSummary(name="dev", topic="", members=1),
        RoomSummary(name="general", topic="", members=1),
    ]
    assert await store.rooms_in_common(bob.id, bob.id) == ["dev", "general"]
