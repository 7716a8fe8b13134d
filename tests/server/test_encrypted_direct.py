"""Encrypted direct messages through a real server (on both databases): relayed as sent, live and
after being offline, in history, removed; refused from a foreign device; a real Olm round trip."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pytest
import vodozemac

from chatapp.device_signature import signature_holds
from chatapp.protocol import Direct, History, HistoryPage, Presence, SendDirect
from chatapp.protocol.e2e_frames import (
    ClaimedKey,
    ClaimKey,
    DeleteDevice,
    DeviceDeleted,
    DeviceList,
    Envelope,
    KeysPublished,
    ListDevices,
)
from chatapp.protocol.moderation_frames import DeleteMessage, MessageRemoved
from chatapp.server.app import ChatServer
from tests.support.olm import TestDevice, fake_ciphertext, olm_message, wire_ciphertext
from tests.support.wire import WireClient

Connect = Callable[..., Awaitable[WireClient]]
Start = Callable[..., Awaitable[ChatServer]]
Dial = Callable[..., Awaitable[WireClient]]


async def online(connect: Connect, name: str) -> WireClient:
    client = await connect()
    await client.register(name)
    await client.expect(Presence)
    return client


async def with_device(connect: Connect, name: str, device: str) -> tuple[WireClient, TestDevice]:
    client = await online(connect, name)
    keys = TestDevice(name, device)
    await client.send(keys.publish(5))
    await client.expect(KeysPublished, skip=(Presence,))
    return client, keys


def sealed(sender: TestDevice, *devices: str, size: int = 400) -> Envelope:
    return sender.envelope({device: fake_ciphertext(size) for device in devices})


async def test_relayed_as_sent_live_to_both_and_the_sender_keeps_its_nonce(connect: Connect) -> None:
    alice, laptop = await with_device(connect, "alice", "LAPTOP01")
    bob, _ = await with_device(connect, "bob", "PHONE001")
    envelope = sealed(laptop, "PHONE001", "LAPTOP02")
    await alice.send(SendDirect(to="bob", e2e=envelope, nonce="n1", ref=9))
    mine = await alice.expect(Direct, skip=(Presence,))
    theirs = await bob.expect(Direct, skip=(Presence,))
    assert (mine.text, mine.e2e, mine.nonce, mine.ref) == ("", envelope, "n1", 9)
    assert (theirs.text, theirs.e2e, theirs.nonce) == ("", envelope, None)
    assert (theirs.sender, theirs.to) == ("alice", "bob")
    # Byte for byte: every ciphertext body, the keys and ids, as the sender wrote them.
    assert msgspec.json.encode(theirs.e2e) == msgspec.json.encode(envelope)
    # A resend with the same nonce is the acknowledgment again, not a second message.
    await alice.send(SendDirect(to="bob", e2e=envelope, nonce="n1"))
    again = await alice.expect(Direct)
    assert again.id == mine.id and again.e2e == envelope


async def test_an_offline_recipient_gets_it_in_the_replay_and_in_history_then_removed(
    connect: Connect,
) -> None:
    alice, laptop = await with_device(connect, "alice", "LAPTOP01")
    bob, _ = await with_device(connect, "bob", "PHONE001")
    await bob.close()
    envelope = sealed(laptop, "PHONE001", size=3000)
    await alice.send(SendDirect(to="bob", e2e=envelope))
    sent = await alice.expect(Direct, skip=(Presence,))
    await alice.send(SendDirect(to="bob", text="and in clear"))
    plain = await alice.expect(Direct, skip=(Presence,))

    bob = await connect()
    await bob.login("bob")
    assert [(m.id, m.text, m.e2e, m.replayed) for m in bob.replayed if isinstance(m, Direct)] == [
        (sent.id, "", envelope, True),
        (plain.id, "and in clear", None, True),
    ]
    await bob.send(History(with_="alice", ref=3))
    page = await bob.expect(HistoryPage, skip=(Presence,))
    assert [(m.id, m.e2e) for m in page.messages if isinstance(m, Direct)] == [
        (sent.id, envelope),
        (plain.id, None),
    ]

    await alice.send(DeleteMessage(id=sent.id, ref=4))
    assert (await alice.expect(MessageRemoved, skip=(Presence,))).id == sent.id
    assert (await bob.expect(MessageRemoved, skip=(Presence,))).id == sent.id
    await bob.send(History(with_="alice"))
    page = await bob.expect(HistoryPage)
    tombstone = page.messages[0]
    assert isinstance(tombstone, Direct)
    assert (tombstone.id, tombstone.text, tombstone.e2e, tombstone.removed_by) == (sent.id, "", None, "alice")


async def test_refused_from_a_device_that_is_not_the_senders(connect: Connect) -> None:
    alice, laptop = await with_device(connect, "alice", "LAPTOP01")
    bob, phone = await with_device(connect, "bob", "PHONE001")
    # Bob's device, Alice's device under another key, a device nobody has.
    impostor = TestDevice("alice", "LAPTOP01")
    nobodys = TestDevice("alice", "NEWDEV01")
    for envelope in (sealed(phone, "PHONE001"), sealed(impostor, "PHONE001"), sealed(nobodys, "PHONE001")):
        await alice.send(SendDirect(to="bob", e2e=envelope, ref=1))
        error = await alice.expect_error("no_such_device", skip=(Presence,))
        assert error.ref == 1
    # Deleted: refused at once (the server's memory of the devices is dropped with it).
    await alice.send(SendDirect(to="bob", e2e=sealed(laptop, "PHONE001")))
    await alice.expect(Direct)
    await alice.send(DeleteDevice(device="LAPTOP01"))
    await alice.expect(DeviceDeleted)
    await alice.send(SendDirect(to="bob", e2e=sealed(laptop, "PHONE001")))
    await alice.expect_error("no_such_device")
    # Bob got the one accepted message and nothing else.
    assert (await bob.expect(Direct, skip=(Presence,))).e2e is not None
    await bob.send(ListDevices(username="bob"))
    await bob.expect(DeviceList)


async def test_text_and_e2e_together_or_neither_are_bad_frames(connect: Connect) -> None:
    alice, laptop = await with_device(connect, "alice", "LAPTOP01")
    await alice.send(SendDirect(to="alice", text="hi", e2e=sealed(laptop, "LAPTOP01")))
    await alice.expect_error("bad_frame", skip=(Presence,))
    await alice.send(SendDirect(to="alice"))
    await alice.expect_error("bad_frame")
    # An unknown recipient is no_such_user, exactly as for a plain message.
    await alice.send(SendDirect(to="nobody", e2e=sealed(laptop, "LAPTOP01")))
    assert (await alice.expect_error("no_such_user")).message == "there is no user 'nobody'"


async def test_send_limits_apply_and_the_repeated_text_limit_does_not(
    start_server: Start, dial: Dial
) -> None:
    server = await start_server(send_burst=8, send_rate=0.01, repeat_limit=2)
    alice = await dial(server)
    await alice.register("alice")
    await alice.expect(Presence)
    laptop = TestDevice("alice", "LAPTOP01")
    await alice.send(laptop.publish())
    await alice.expect(KeysPublished)
    envelope = sealed(laptop, "LAPTOP01")
    for _ in range(8):  # the same envelope again and again: not a repeated text
        await alice.send(SendDirect(to="alice", e2e=envelope))
        await alice.expect(Direct)
    await alice.send(SendDirect(to="alice", e2e=envelope))
    error = await alice.expect_error("rate_limited")
    assert "too fast" in error.message


async def test_a_real_olm_conversation_through_the_server(connect: Connect) -> None:
    alice, laptop = await with_device(connect, "alice", "LAPTOP01")
    bob, phone = await with_device(connect, "bob", "PHONE001")

    # Alice finds Bob's device, checks its signature as a client does, and claims a key of it.
    await alice.send(ListDevices(username="bob"))
    (info,) = (await alice.expect(DeviceList, skip=(Presence,))).devices
    assert signature_holds("bob", info.device, info.keys, info.signature)
    await alice.send(ClaimKey(username="bob", device=info.device))
    claimed = await alice.expect(ClaimedKey)
    outbound = laptop.session_with(info.keys.curve25519, claimed.key.key)

    def plaintext(text: str, sender: TestDevice, to: str, device: str) -> bytes:
        return json.dumps(
            {"v": 1, "text": text, "from": sender.username, "to": to, "sender_device": sender.device,
             "sender_ed25519": sender.keys.ed25519, "recipient_device": device}
        ).encode()

    first = wire_ciphertext(outbound.encrypt(plaintext("hello bob", laptop, "bob", "PHONE001")))
    assert first.type == 0  # a pre-key message: it sets the session up on Bob's side
    await alice.send(SendDirect(to="bob", e2e=laptop.envelope({"PHONE001": first})))
    await alice.expect(Direct)
    got = await bob.expect(Direct, skip=(Presence,))
    assert got.e2e is not None and got.e2e.key == laptop.keys.curve25519
    pre_key = olm_message(got.e2e.ciphertexts["PHONE001"]).to_pre_key()
    assert pre_key is not None
    sender_key = vodozemac.Curve25519PublicKey.from_base64(got.e2e.key)
    inbound, decrypted = phone.account.create_inbound_session(sender_key, pre_key)
    assert json.loads(decrypted)["text"] == "hello bob"

    # Bob answers on the session it set up: a normal message, which Alice decrypts.
    reply = wire_ciphertext(inbound.encrypt(plaintext("hi alice", phone, "alice", "LAPTOP01")))
    await bob.send(SendDirect(to="alice", e2e=phone.envelope({"LAPTOP01": reply})))
    await bob.expect(Direct)
    answer = await alice.expect(Direct)
    assert answer.e2e is not None and answer.sender == "bob"
    assert json.loads(outbound.decrypt(olm_message(answer.e2e.ciphertexts["LAPTOP01"])))["text"] == "hi alice"


async def test_content_rules_do_not_apply_to_what_the_server_cannot_read(
    start_server: Start, dial: Dial, tmp_path: Path
) -> None:
    # A rule that rejects any direct message with a letter in it: a plain one is refused, an
    # encrypted one (all of whose bodies match) goes through, as the server cannot screen it.
    rules = tmp_path / "filters.toml"
    rules.write_text(
        '[[rule]]\nname = "all"\npattern = "[A-Za-z]"\naction = "reject"\n'
        'message = "no letters"\napplies_to = ["direct_messages"]\n'
    )
    server = await start_server(filter_file=str(rules))
    alice = await dial(server)
    await alice.register("alice")
    await alice.expect(Presence)
    laptop = TestDevice("alice", "LAPTOP01")
    await alice.send(laptop.publish())
    await alice.expect(KeysPublished)
    await alice.send(SendDirect(to="alice", text="hello"))
    await alice.expect_error("filtered")
    await alice.send(SendDirect(to="alice", e2e=sealed(laptop, "LAPTOP01")))
    assert (await alice.expect(Direct)).e2e is not None


def envelope_of(sender: TestDevice, size: int) -> Envelope:
    """An envelope whose JSON is exactly ``size`` bytes."""
    base = len(msgspec.json.encode(sealed(sender, "PHONE001", size=10)))
    envelope = sealed(sender, "PHONE001", size=10 + size - base)
    assert len(msgspec.json.encode(envelope)) == size
    return envelope


async def test_an_envelope_must_fit_in_a_page_of_history(connect: Connect) -> None:
    alice, laptop = await with_device(connect, "alice", "LAPTOP01")
    bob, _ = await with_device(connect, "bob", "PHONE001")
    largest = 65_536 - 2_048
    await alice.send(SendDirect(to="bob", e2e=envelope_of(laptop, largest + 1), ref=1))
    error = await alice.expect_error("frame_too_large", skip=(Presence,))
    assert str(largest) in error.message and error.ref == 1
    envelope = envelope_of(laptop, largest)
    await alice.send(SendDirect(to="bob", e2e=envelope, nonce="\x01" * 64))
    sent = await alice.expect(Direct)
    assert (await bob.expect(Direct, skip=(Presence,))).e2e == envelope
    # The sender's page (its copy carries the nonce) with the longest ref still holds it.
    await alice.send(History(with_="bob", ref="\x01" * 128))
    page = await alice.expect(HistoryPage)
    assert [m.id for m in page.messages] == [sent.id] and not page.has_more


async def test_no_ciphertext_reaches_the_logs(
    start_server: Start, dial: Dial, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = await start_server()
    alice = await dial(server)
    await alice.register("alice")
    await alice.expect(Presence)
    laptop = TestDevice("alice", "LAPTOP01")
    await alice.send(laptop.publish())
    await alice.expect(KeysPublished)
    envelope = sealed(laptop, "LAPTOP01", size=2000)
    await alice.send(SendDirect(to="alice", e2e=envelope))
    await alice.expect(Direct)
    body = envelope.ciphertexts["LAPTOP01"].body
    assert "encrypted dm from=alice devices=1 bytes=" in caplog.text
    assert body[:64] not in caplog.text
