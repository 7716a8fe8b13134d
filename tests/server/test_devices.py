"""Devices and keys over the wire: publish, list, claim, delete, with real vodozemac keys and
signatures, the refusals and the per-connection limits (on both databases)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import msgspec

from chatapp.protocol import ClientFrame, Error, Login, Presence, ServerFrame
from chatapp.protocol.e2e_frames import (
    ClaimedKey,
    ClaimKey,
    DeleteDevice,
    DeviceDeleted,
    DeviceList,
    KeysPublished,
    ListDevices,
    OneTimeKey,
)
from tests.support.olm import TestDevice
from tests.support.wire import PASSWORD, WireClient

Connect = Callable[..., Awaitable[WireClient]]


async def online(connect: Connect, name: str) -> WireClient:
    client = await connect()
    await client.register(name)
    await client.expect(Presence)
    return client


async def second_connection(connect: Connect, name: str) -> WireClient:
    """Another connection of the account (the first one is replaced): budgets of its own."""
    client = await connect()
    await client.send(Login(username=name, password=PASSWORD, takeover=True, ref=client.next_ref()))
    await client.signed_in()
    return client


async def publish(client: WireClient, device: TestDevice, count: int = 0, **options: object) -> KeysPublished:
    await client.send(device.publish(count, **options))  # type: ignore[arg-type]
    return await client.expect(KeysPublished, skip=(Presence,))


async def test_publish_list_claim_and_delete(connect: Connect) -> None:
    alice = await online(connect, "Alice")
    bob = await online(connect, "bob")
    laptop = TestDevice("Alice", "LAPTOP01")
    published = await publish(alice, laptop, 3, name="laptop", ref=5)
    assert (published.device, published.one_time_keys, published.ref) == ("LAPTOP01", 3, 5)
    phone = TestDevice("alice", "PHONE001")
    await publish(alice, phone)

    # Anyone may list anyone's devices (any case of the name): with the signed keys, oldest first.
    await bob.send(ListDevices(username="ALICE", ref=1))
    listed = await bob.expect(DeviceList, skip=(Presence,))
    assert listed.username == "Alice" and listed.ref == 1
    assert [(d.device, d.keys, d.signature, d.name) for d in listed.devices] == [
        ("LAPTOP01", laptop.keys, laptop.signature(), "laptop"),
        ("PHONE001", phone.keys, phone.signature(), None),
    ]
    assert all(d.added.endswith("Z") for d in listed.devices)

    # Bob claims one of the laptop's keys and starts an Olm session with it.
    await bob.send(ClaimKey(username="alice", device="LAPTOP01", ref=2))
    claimed = await bob.expect(ClaimedKey, skip=(Presence,))
    assert (claimed.username, claimed.device, claimed.fallback) == ("Alice", "LAPTOP01", False)
    assert claimed.ref == 2
    TestDevice("bob", "BOBDEV01").session_with(laptop.keys.curve25519, claimed.key.key)

    await alice.send(DeleteDevice(device="PHONE001", ref=3))
    assert (await alice.expect(DeviceDeleted)).device == "PHONE001"
    await alice.send(DeleteDevice(device="PHONE001"))
    await alice.expect_error("no_such_device")
    await bob.send(DeleteDevice(device="LAPTOP01"))  # not bob's: no such device of his
    await bob.expect_error("no_such_device", skip=(Presence,))
    await bob.send(ListDevices(username="alice"))
    assert [d.device for d in (await bob.expect(DeviceList)).devices] == ["LAPTOP01"]


async def test_a_bad_signature_and_a_conflict_are_refused(connect: Connect) -> None:
    alice = await online(connect, "alice")
    laptop = TestDevice("alice", "LAPTOP01")
    # Signed for another user, for another device id, or not by this key at all.
    for signature in (laptop.signature("mallory"), TestDevice("alice", "LAPTOP01").signature()):
        frame = msgspec.structs.replace(laptop.publish(), signature=signature)
        await alice.send(frame)
        await alice.expect_error("bad_signature")
    wrong_id = msgspec.structs.replace(laptop.publish(), device="LAPTOP02")
    await alice.send(wrong_id)
    await alice.expect_error("bad_signature")
    # A key that is no point on the curve signs nothing either.
    not_a_point = msgspec.structs.replace(laptop.keys, ed25519="A" * 43)
    await alice.send(msgspec.structs.replace(laptop.publish(), keys=not_a_point))
    await alice.expect_error("bad_signature")
    await alice.send(ListDevices(username="alice"))
    assert (await alice.expect(DeviceList)).devices == []

    await publish(alice, laptop)
    await alice.send(TestDevice("alice", "LAPTOP01").publish(2))  # the same id, other keys
    await alice.expect_error("device_conflict")


async def test_too_many_devices(connect: Connect) -> None:
    alice = await online(connect, "alice")
    for n in range(10):
        await publish(alice, TestDevice("alice", f"DEVICE{n}"))
        if n == 8:  # past the publish rate: a second connection of the same account
            alice = await second_connection(connect, "alice")
    await alice.send(TestDevice("alice", "DEVICE10").publish())
    error = await alice.expect_error("too_many_devices")
    assert "10" in error.message


async def test_the_key_cap(connect: Connect) -> None:
    alice = await online(connect, "alice")
    laptop = TestDevice("alice", "LAPTOP01")
    first = laptop.one_time_keys(60)
    await alice.send(msgspec.structs.replace(laptop.publish(), one_time_keys=first))
    assert (await alice.expect(KeysPublished, skip=(Presence,))).one_time_keys == 60
    await alice.send(laptop.publish(41))
    error = await alice.expect_error("bad_frame")
    assert "nothing was added" in error.message
    # Known key ids are not counted again: the first 40 again plus 40 new ones make 100.
    again = first[:40] + laptop.one_time_keys(40)
    await alice.send(msgspec.structs.replace(laptop.publish(), one_time_keys=again))
    assert (await alice.expect(KeysPublished)).one_time_keys == 100


async def test_claims_run_out_to_the_fallback_and_then_to_no_keys(connect: Connect) -> None:
    alice = await online(connect, "alice")
    bob = await online(connect, "bob")
    laptop = TestDevice("alice", "LAPTOP01")
    keys = laptop.one_time_keys(2)
    await alice.send(msgspec.structs.replace(laptop.publish(), one_time_keys=keys))
    await alice.expect(KeysPublished, skip=(Presence,))
    got = []
    for _ in range(2):
        await bob.send(ClaimKey(username="alice", device="LAPTOP01"))
        got.append((await bob.expect(ClaimedKey, skip=(Presence,))).key)
    assert sorted(got, key=lambda k: k.key_id) == sorted(keys, key=lambda k: k.key_id)
    await bob.send(ClaimKey(username="alice", device="LAPTOP01"))
    await bob.expect_error("no_keys", skip=(Presence,))
    (fallback,) = laptop.one_time_keys(1)
    fallback = OneTimeKey(key_id="FALLBACK", key=fallback.key)
    await publish(alice, laptop, fallback=fallback)
    for _ in range(2):
        await bob.send(ClaimKey(username="alice", device="LAPTOP01"))
        claimed = await bob.expect(ClaimedKey)
        assert claimed.fallback and claimed.key == fallback
    await bob.send(ClaimKey(username="alice", device="NOSUCH01"))
    await bob.expect_error("no_such_device")


async def test_concurrent_claims_from_many_connections_never_share_a_key(connect: Connect) -> None:
    alice = await online(connect, "alice")
    laptop = TestDevice("alice", "LAPTOP01")
    await publish(alice, laptop, 30)
    claimants = [await online(connect, f"user{n}") for n in range(6)]
    for client in claimants:
        for _ in range(6):  # pipelined: 36 claims of 30 keys at once
            await client.send(ClaimKey(username="alice", device="LAPTOP01"))

    async def answers(client: WireClient) -> list[str | None]:
        got: list[str | None] = []
        while len(got) < 6:
            frame = await client.recv()
            if isinstance(frame, ClaimedKey):
                got.append(frame.key.key_id)
            elif not isinstance(frame, Presence):
                assert getattr(frame, "code", None) == "no_keys", frame
                got.append(None)
        return got

    results = [key for keys in await asyncio.gather(*(answers(c) for c in claimants)) for key in keys]
    taken = [key for key in results if key is not None]
    assert len(taken) == 30 and len(set(taken)) == 30
    assert results.count(None) == 6


async def test_unknown_users_are_answered_as_whois_answers_them(connect: Connect) -> None:
    alice = await online(connect, "alice")
    for frame in (ListDevices(username="nobody"), ClaimKey(username="nobody", device="LAPTOP01")):
        await alice.send(frame)
        error = await alice.expect_error("no_such_user")
        assert error.message == "there is no user 'nobody'"


async def served_until_refused(client: WireClient, request: ClientFrame, answer: type[ServerFrame]) -> int:
    """How many times ``request`` was answered with ``answer`` before ``rate_limited`` (at most 80),
    checking that the bucket's refill (a token a second) explains any served beyond 60."""
    started = time.monotonic()
    for served in range(80):
        await client.send(request)
        frame = await client.recv()
        if isinstance(frame, Error) and frame.code == "rate_limited":
            assert served <= 60 + time.monotonic() - started + 1
            return served
        assert isinstance(frame, answer), frame
        assert not isinstance(frame, Error) or frame.code == "no_keys", frame
    raise AssertionError(f"{request!r} was never rate limited")


async def test_rate_limits_per_connection(connect: Connect) -> None:
    alice = await online(connect, "alice")
    laptop = TestDevice("alice", "LAPTOP01")
    for _ in range(10):
        await publish(alice, laptop)
    await alice.send(laptop.publish())
    error = await alice.expect_error("rate_limited")
    assert error.retry_after is not None and error.retry_after > 0
    # 60 a minute each, in a burst: the 61st is refused, unless the machine is so slow that the
    # burst took seconds, which earn a token each.
    assert 60 <= await served_until_refused(alice, ListDevices(username="alice"), DeviceList) <= 70
    claim = ClaimKey(username="alice", device="LAPTOP01")
    assert 60 <= await served_until_refused(alice, claim, Error) <= 70
    # Another connection has budgets of its own.
    other = await second_connection(connect, "alice")
    await other.send(ListDevices(username="alice"))
    await other.expect(DeviceList)
