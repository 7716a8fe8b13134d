"""The control channel's events (control_events.py) and the caches they change: every event comes
out of its encoding as it went in, any bytes decode to events or to a DecodeError (never another
exception); the in-memory sanctions read again from the store keep exactly what it says; a room's
sanctions forgotten while they were being read are read again at the next use.
The channel itself, between real processes: tests/e2e/test_shared_moderation.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.server.account_sanctions import AccountSanctions
from chatapp.server.address_bans import AddressBans
from chatapp.server.control_events import (
    AccountSanction,
    AddressBanned,
    AddressUnbanned,
    DevicesChanged,
    EndSessions,
    FiltersReloaded,
    MessageGone,
    PutOut,
    RoleChanged,
    RoomClosed,
    RoomFrame,
    RoomSanctionsChanged,
    Told,
    UsersFrame,
    decode_told,
    encode_told,
)
from chatapp.server.services.room_sanctions import RoomSanctions
from chatapp.server.store import AccountSanctionRecord, AddressBanRecord, Store
from tests.support.databases import ScratchDatabase

START = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
ids = st.integers(min_value=0, max_value=2**63 - 1)
moments = st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC))
sanctions = st.builds(
    AccountSanctionRecord,
    user_id=ids,
    username=texts,
    kind=st.sampled_from(["suspend", "mute"]),
    reason=st.none() | texts,
    actor=st.none() | texts,
    created_at=moments,
    until=st.none() | moments,
)
bans = st.builds(
    AddressBanRecord,
    network=st.sampled_from(["203.0.113.7/32", "2001:db8::/48"]),
    reason=st.none() | texts,
    actor=st.none() | texts,
    created_at=moments,
    until=st.none() | moments,
)
events = st.one_of(
    st.builds(EndSessions, ids, texts, st.none() | texts, st.none() | ids),
    st.builds(RoleChanged, ids, texts),
    st.builds(AccountSanction, ids, st.sampled_from(["suspend", "mute"]), st.none() | sanctions),
    st.builds(AddressBanned, bans, texts),
    st.builds(AddressUnbanned, texts),
    st.builds(RoomSanctionsChanged, texts),
    st.builds(RoomFrame, texts, st.binary(max_size=64)),
    st.builds(UsersFrame, st.lists(ids, max_size=3), st.binary(max_size=64)),
    st.builds(PutOut, ids, texts),
    st.builds(RoomClosed, texts, st.binary(max_size=64)),
    st.just(FiltersReloaded()),
    st.builds(DevicesChanged, ids),
    st.builds(MessageGone, ids),
)


@given(st.builds(Told, texts, st.lists(events, max_size=4)))
def test_every_event_comes_out_as_it_went_in(told: Told) -> None:
    assert decode_told(encode_told(told)) == told


@given(st.binary(max_size=200))
def test_any_bytes_are_events_or_a_decode_error(data: bytes) -> None:
    try:
        told = decode_told(data)
    except msgspec.DecodeError:
        return
    assert isinstance(told, Told)


def sanction(user_id: int, kind: str = "mute") -> AccountSanctionRecord:
    return AccountSanctionRecord(user_id, f"user{user_id}", kind, None, "alice", START, None)


def test_account_sanctions_read_again_keep_exactly_what_the_store_says() -> None:
    table = AccountSanctions([sanction(1), sanction(2)])
    changes = table.changes
    table.replace([sanction(2), sanction(3)])
    assert table.changes > changes  # a read from the store under way meanwhile is not applied
    assert [table.get(user, START) is not None for user in (1, 2, 3)] == [False, True, True]


def test_address_bans_read_again_say_which_are_new() -> None:
    old = AddressBanRecord("203.0.113.7/32", None, "alice", START, None)
    new = AddressBanRecord("198.51.100.0/24", "botnet", "alice", START, None)
    bans = AddressBans([old])
    assert bans.replace([new]) == [new]
    assert bans.match("203.0.113.7", START) is None
    assert bans.match("198.51.100.9", START) == new


@pytest.fixture
async def store(database: ScratchDatabase) -> AsyncIterator[Store]:
    opened = await Store.open(database.url)
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_room_forgotten_while_being_read_is_read_again(store: Store) -> None:
    alice = await store.create_user("alice", "hash", START)
    bob = await store.create_user("bob", "hash", START)
    room, _, _ = await store.join_room(alice.id, "rust", START)
    await store.join_room(bob.id, "rust", START)
    cache = RoomSanctions(store, lambda: START)
    reading = asyncio.create_task(cache.of_room("rust", room.id))
    await asyncio.sleep(0)  # the read is under way: it may not see a ban committed meanwhile
    cache.forget("rust")  # another process told of one before the read is back
    assert await reading == {}
    # (Committed here, after the read, so that nothing but the cache can hide it.)
    await store.set_sanction(room.id, bob.id, "ban", actor="alice", reason=None, now=START, until=None)
    with pytest.raises(ProtocolError) as refused:
        await cache.check_send("rust", room.id, bob.id)
    assert refused.value.code == ErrorCode.BANNED
    # Forgotten all at once (a reconnect): a lifted ban is read again too.
    await store.lift_sanction(room.id, bob.id, "ban", START)
    cache.forget_all()
    await cache.check_send("rust", room.id, bob.id)
