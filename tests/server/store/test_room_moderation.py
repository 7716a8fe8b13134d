"""Room moderation in the store: roles, bans and mutes, invitations, privacy, transfer, deleting a
room and removing a message (on SQLite and PostgreSQL, and both paths of each where reads differ)."""

from __future__ import annotations

from datetime import datetime, timedelta

from chatapp.protocol.limits import DEFAULT_ROOM
from chatapp.server.store import RoomRecord, RoomSummary, Store, UserRecord
from tests.server.store.helpers import dm_draft, make_users, replayed, room_draft, rooms_of
from tests.support.databases import ScratchDatabase

MINUTE = timedelta(minutes=1)


async def room(store: Store, owner: UserRecord, name: str, now: datetime) -> RoomRecord:
    record, created, _ = await store.join_room(owner.id, name, now)
    assert created
    return record


async def test_room_roles_owner_and_operators(store: Store, now: datetime) -> None:
    alice, bob, carol = await make_users(store, now, "Alice", "Bob", "Carol")
    dev = await room(store, alice, "dev", now)
    assert await store.room_role(dev.id, alice.id) == "owner"
    assert await store.room_role(dev.id, bob.id) is None
    assert await store.add_operator(dev.id, bob.id, "Alice", now) is True
    assert await store.add_operator(dev.id, bob.id, "Alice", now) is False
    assert await store.room_role(dev.id, bob.id) == "operator"
    assert await store.room_staff(dev.id) == {"Alice": "owner", "Bob": "operator"}
    assert await store.remove_operator(dev.id, bob.id) is True
    assert await store.remove_operator(dev.id, bob.id) is False
    assert await store.room_role(dev.id, bob.id) is None
    assert await store.room_role(dev.id, carol.id) is None


async def test_transfer_makes_the_old_owner_an_operator(store: Store, now: datetime) -> None:
    alice, bob = await make_users(store, now, "Alice", "Bob")
    dev = await room(store, alice, "dev", now)
    await store.join_room(bob.id, "dev", now)
    await store.add_operator(dev.id, bob.id, "Alice", now)
    assert await store.transfer_room(dev.id, bob.id, "Alice", now) == alice.id
    assert await store.room_staff(dev.id) == {"Bob": "owner", "Alice": "operator"}
    found = await store.get_room("dev")
    assert found is not None and found.owner_id == bob.id


async def test_sanctions_in_force_until_they_end_or_are_lifted(store: Store, now: datetime) -> None:
    alice, bob, carol = await make_users(store, now, "Alice", "Bob", "Carol")
    dev = await room(store, alice, "dev", now)
    await store.join_room(bob.id, "dev", now)
    ban = await store.set_sanction(
        dev.id, bob.id, "ban", actor="Alice", reason="spam", now=now, until=now + MINUTE
    )
    expected = ("Bob", "ban", "spam", "Alice", now + MINUTE)
    assert (ban.username, ban.kind, ban.reason, ban.actor, ban.until) == expected
    assert not await store.is_member(dev.id, bob.id)  # a ban ends the membership
    await store.set_sanction(dev.id, carol.id, "mute", actor="Alice", reason=None, now=now, until=None)
    assert [(s.username, s.kind) for s in await store.room_sanctions(dev.id, now)] == [
        ("Bob", "ban"),
        ("Carol", "mute"),
    ]
    # An expired ban counts as none.
    assert [s.username for s in await store.room_sanctions(dev.id, now + 2 * MINUTE)] == ["Carol"]
    # Banning again replaces the one in force.
    again = await store.set_sanction(
        dev.id, bob.id, "ban", actor="Carol", reason="again", now=now, until=None
    )
    assert (again.actor, again.until) == ("Carol", None)
    assert await store.lift_sanction(dev.id, bob.id, "ban", now) is True
    assert await store.lift_sanction(dev.id, bob.id, "ban", now) is False
    assert [s.username for s in await store.room_sanctions(dev.id, now)] == ["Carol"]


async def test_invitations_and_private_rooms_in_the_listing(store: Store, now: datetime) -> None:
    alice, bob, carol = await make_users(store, now, "Alice", "Bob", "Carol")
    dev = await room(store, alice, "dev", now)
    await store.set_private(dev.id, True)
    found = await store.get_room("dev")
    assert found is not None and found.private
    general = RoomSummary(name=DEFAULT_ROOM, topic="", members=3)
    private_dev = RoomSummary(name="dev", topic="", members=1, private=True)
    assert await store.visible_rooms(bob.id) == [general]
    assert await store.visible_rooms(alice.id) == [private_dev, general]  # a member
    assert await store.visible_rooms(None) == [private_dev, general]  # server staff
    assert await store.invite(dev.id, bob.id, "Alice", now) is True
    assert await store.invite(dev.id, bob.id, "Alice", now) is False
    assert await store.is_invited(dev.id, bob.id)
    assert await store.visible_rooms(bob.id) == [private_dev, general]
    assert await store.visible_rooms(carol.id) == [general]
    assert await store.take_invite(dev.id, bob.id) is True
    assert await store.take_invite(dev.id, bob.id) is False
    assert not await store.is_invited(dev.id, bob.id)
    await store.invite(dev.id, carol.id, "Alice", now)
    await store.add_operator(dev.id, carol.id, "Alice", now)
    await store.set_sanction(dev.id, carol.id, "ban", actor="Alice", reason=None, now=now, until=None)
    assert not await store.is_invited(dev.id, carol.id)  # a ban withdraws the invitation
    assert await store.room_role(dev.id, carol.id) is None  # and the operator's status


async def test_deleting_a_room_takes_everything_of_it(
    store: Store, database: ScratchDatabase, now: datetime
) -> None:
    alice, bob = await make_users(store, now, "Alice", "Bob")
    dev = await room(store, alice, "dev", now)
    await store.join_room(bob.id, "dev", now)
    await store.add_operator(dev.id, bob.id, "Alice", now)
    await store.set_sanction(dev.id, bob.id, "mute", actor="Alice", reason=None, now=now, until=None)
    await store.invite(dev.id, bob.id, "Alice", now)
    kept = await store.insert_messages([room_draft(alice, 1, "in general", now)])
    await store.insert_messages([room_draft(alice, dev.id, "in dev", now)])
    assert await store.delete_room(dev.id) is True
    assert await store.delete_room(dev.id) is False
    assert await store.get_room("dev") is None
    assert rooms_of(database, bob.id) == [DEFAULT_ROOM]
    for table in ("room_operators", "room_sanctions", "room_invites"):
        assert database.scalar(f"SELECT count(*) FROM {table}") == 0
    assert database.scalar("SELECT count(*) FROM messages") == 1
    assert (await store.room_history(1, before=None, after=None, limit=10))[0] == kept


async def test_a_removed_message_is_a_tombstone_in_history_and_replay(
    any_store: Store, now: datetime
) -> None:
    store = any_store
    alice, bob = await make_users(store, now, "Alice", "Bob")
    first, second = await store.insert_messages(
        [room_draft(bob, 1, "spam\x1e", now, nonce="n1"), dm_draft(bob, alice, "secret", now, nonce="n2")]
    )
    origin = await store.message_origin(first.id)
    assert origin is not None
    where = (origin.room, origin.room_id, origin.sender_id, origin.recipient_id)
    assert where == ("general", 1, bob.id, None)
    dm_origin = await store.message_origin(second.id)
    assert dm_origin is not None and (dm_origin.room, dm_origin.recipient_id) == (None, alice.id)
    assert await store.message_origin(second.id + 1000) is None
    assert await store.remove_message(first.id, "Alice", now) is True
    assert await store.remove_message(first.id, "Alice", now) is False
    assert await store.remove_message(second.id, "Bob", now) is True
    (page, _) = await store.room_history(1, before=None, after=None, limit=10)
    assert [(m.text, m.removed_by) for m in page] == [("", "Alice")]
    (dms, _) = await store.dm_history(alice.id, bob.id, before=None, after=None, limit=10)
    assert [(m.text, m.removed_by) for m in dms] == [("", "Bob")]
    assert [(m.id, m.text, m.removed_by) for m in await replayed(store, alice.id, 0, 10)] == [
        (first.id, "", "Alice"),
        (second.id, "", "Bob"),
    ]
    # The nonce stays: a resend is still recognised, and answered with the tombstone.
    (resent,) = await store.insert_messages([room_draft(bob, 1, "spam again", now, nonce="n1")])
    assert (resent.id, resent.duplicate, resent.text, resent.removed_by) == (first.id, True, "", "Alice")
