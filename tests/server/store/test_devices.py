"""Devices and their keys in the store: publish, list, claim, delete (on both databases, and on the
generic SQLAlchemy backend as well as each database's own)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from chatapp.server.store import (
    DeviceConflict,
    DeviceRecord,
    KeyRecord,
    Store,
    TooManyDevices,
    TooManyKeys,
)
from tests.server.store.helpers import make_users
from tests.support.databases import ScratchDatabase
from tests.support.olm import TestDevice


def record(device: TestDevice, now: datetime, name: str | None = None) -> DeviceRecord:
    keys = device.keys
    return DeviceRecord(device.device, keys.curve25519, keys.ed25519, device.signature(), name, now)


def key_records(device: TestDevice, count: int) -> list[KeyRecord]:
    return [KeyRecord(key.key_id, key.key) for key in device.one_time_keys(count)]


async def publish(
    store: Store,
    user_id: int,
    device: TestDevice,
    now: datetime,
    keys: list[KeyRecord] | None = None,
    fallback: KeyRecord | None = None,
    *,
    devices_max: int = 10,
    keys_max: int = 100,
) -> int:
    return await store.publish_device(
        user_id, record(device, now), keys or [], fallback, devices_max=devices_max, keys_max=keys_max
    )


async def test_publish_registers_a_device_once_and_adds_only_new_keys(
    any_store: Store, now: datetime
) -> None:
    store = any_store
    alice, bob = await make_users(store, now, "alice", "bob")
    laptop = TestDevice("alice", "LAPTOP01")
    first = key_records(laptop, 5)
    assert await publish(store, alice.id, laptop, now, first) == 5
    # The same keys again, and three new ones: only the new ones count.
    more = key_records(laptop, 3)
    assert await publish(store, alice.id, laptop, now + timedelta(seconds=1), first + more) == 8
    devices = await store.list_devices(alice.id)
    assert devices == [record(laptop, now)]  # registered once, at its first publish
    assert await store.list_devices(bob.id) == []
    assert await store.unclaimed_keys(alice.id, "LAPTOP01") == 8
    assert await store.device_keys(alice.id) == {"LAPTOP01": laptop.keys.curve25519}


async def test_devices_are_listed_oldest_first_and_ids_are_per_user(any_store: Store, now: datetime) -> None:
    store = any_store
    alice, bob = await make_users(store, now, "alice", "bob")
    phone, laptop = TestDevice("alice", "PHONE001"), TestDevice("alice", "LAPTOP01")
    await publish(store, alice.id, phone, now)
    await publish(store, alice.id, laptop, now + timedelta(seconds=1))
    # Bob may have a device of the same id: ids are unique per user only.
    bobs = TestDevice("bob", "PHONE001")
    await publish(store, bob.id, bobs, now)
    assert [d.device for d in await store.list_devices(alice.id)] == ["PHONE001", "LAPTOP01"]
    assert [d.curve25519 for d in await store.list_devices(bob.id)] == [bobs.keys.curve25519]


async def test_a_known_device_with_other_keys_is_a_conflict(any_store: Store, now: datetime) -> None:
    store = any_store
    (alice,) = await make_users(store, now, "alice")
    await publish(store, alice.id, TestDevice("alice", "LAPTOP01"), now)
    impostor = TestDevice("alice", "LAPTOP01")
    with pytest.raises(DeviceConflict):
        await publish(store, alice.id, impostor, now, key_records(impostor, 2))
    assert await store.unclaimed_keys(alice.id, "LAPTOP01") == 0


async def test_too_many_devices(any_store: Store, now: datetime) -> None:
    store = any_store
    (alice,) = await make_users(store, now, "alice")
    devices = [TestDevice("alice", f"DEVICE{n}") for n in range(3)]
    for device in devices:
        await publish(store, alice.id, device, now, devices_max=3)
    with pytest.raises(TooManyDevices):
        await publish(store, alice.id, TestDevice("alice", "DEVICE9"), now, devices_max=3)
    # A known device still adds keys; deleting one makes room for a new one.
    assert await publish(store, alice.id, devices[0], now, key_records(devices[0], 2), devices_max=3) == 2
    assert await store.delete_device(alice.id, "DEVICE1")
    await publish(store, alice.id, TestDevice("alice", "DEVICE9"), now, devices_max=3)
    assert [d.device for d in await store.list_devices(alice.id)] == ["DEVICE0", "DEVICE2", "DEVICE9"]


async def test_keys_past_the_cap_are_refused_and_nothing_is_added(any_store: Store, now: datetime) -> None:
    store = any_store
    (alice,) = await make_users(store, now, "alice")
    laptop = TestDevice("alice", "LAPTOP01")
    assert await publish(store, alice.id, laptop, now, key_records(laptop, 8), keys_max=10) == 8
    with pytest.raises(TooManyKeys):
        await publish(store, alice.id, laptop, now, key_records(laptop, 3), keys_max=10)
    assert await store.unclaimed_keys(alice.id, "LAPTOP01") == 8
    # Claimed keys make room again.
    await store.claim_key(alice.id, "LAPTOP01")
    assert await publish(store, alice.id, laptop, now, key_records(laptop, 3), keys_max=10) == 10


async def test_claims_take_one_time_keys_then_the_fallback_then_nothing(
    any_store: Store, now: datetime
) -> None:
    store = any_store
    (alice,) = await make_users(store, now, "alice")
    laptop = TestDevice("alice", "LAPTOP01")
    keys = key_records(laptop, 2)
    await publish(store, alice.id, laptop, now, keys)
    assert await store.claim_key(alice.id, "NOSUCH01") is None
    first, second = await store.claim_key(alice.id, "LAPTOP01"), await store.claim_key(alice.id, "LAPTOP01")
    assert first is not None and second is not None
    assert {first.key, second.key} == set(keys) and not first.fallback and not second.fallback
    exhausted = await store.claim_key(alice.id, "LAPTOP01")
    assert exhausted is not None and exhausted.key is None
    fallback = KeyRecord("FALLBACK1", key_records(laptop, 1)[0].key)
    await publish(store, alice.id, laptop, now, fallback=fallback)
    for _ in range(2):  # the fallback key is kept
        claimed = await store.claim_key(alice.id, "LAPTOP01")
        assert claimed is not None and claimed.key == fallback and claimed.fallback
    # A new fallback replaces the old one.
    newer = KeyRecord("FALLBACK2", key_records(laptop, 1)[0].key)
    await publish(store, alice.id, laptop, now, fallback=newer)
    claimed = await store.claim_key(alice.id, "LAPTOP01")
    assert claimed is not None and claimed.key == newer


async def test_concurrent_claims_never_share_a_key(any_store: Store, now: datetime) -> None:
    store = any_store
    (alice,) = await make_users(store, now, "alice")
    laptop = TestDevice("alice", "LAPTOP01")
    keys = key_records(laptop, 40)
    await publish(store, alice.id, laptop, now, keys)
    claims = await asyncio.gather(*(store.claim_key(alice.id, "LAPTOP01") for _ in range(50)))
    taken = [c.key for c in claims if c is not None and c.key is not None]
    assert len(taken) == 40 and set(taken) == set(keys)
    assert sum(1 for c in claims if c is not None and c.key is None) == 10
    assert await store.unclaimed_keys(alice.id, "LAPTOP01") == 0


async def test_deleting_a_device_takes_its_keys_and_a_user_takes_their_devices(
    any_store: Store, now: datetime, database: ScratchDatabase
) -> None:
    store = any_store
    alice, bob = await make_users(store, now, "alice", "bob")
    laptop, phone = TestDevice("alice", "LAPTOP01"), TestDevice("bob", "PHONE001")
    await publish(store, alice.id, laptop, now, key_records(laptop, 3))
    await publish(store, bob.id, phone, now, key_records(phone, 2))
    assert not await store.delete_device(bob.id, "LAPTOP01")  # not bob's
    assert await store.delete_device(alice.id, "LAPTOP01")
    assert not await store.delete_device(alice.id, "LAPTOP01")
    assert await store.list_devices(alice.id) == []
    assert database.rows("SELECT count(*) FROM one_time_keys") == [(2,)]
    database.execute("DELETE FROM users WHERE id = :id", id=bob.id)
    assert database.rows("SELECT count(*) FROM devices") == [(0,)]
    assert database.rows("SELECT count(*) FROM one_time_keys") == [(0,)]


async def test_concurrent_publishes_never_pass_the_device_limit_or_the_key_cap(
    any_store: Store, now: datetime
) -> None:
    store = any_store
    (alice,) = await make_users(store, now, "alice")
    devices = [TestDevice("alice", f"DEVICE{n:02d}") for n in range(15)]
    outcomes = await asyncio.gather(
        *(publish(store, alice.id, device, now) for device in devices), return_exceptions=True
    )
    assert sum(isinstance(o, TooManyDevices) for o in outcomes) == 5
    assert len(await store.list_devices(alice.id)) == 10
    first = next(d for d, o in zip(devices, outcomes, strict=True) if not isinstance(o, BaseException))
    batches = [key_records(first, 30) for _ in range(5)]
    outcomes = await asyncio.gather(
        *(publish(store, alice.id, first, now, batch) for batch in batches), return_exceptions=True
    )
    assert sum(isinstance(o, TooManyKeys) for o in outcomes) == 2
    assert await store.unclaimed_keys(alice.id, first.device) == 90
