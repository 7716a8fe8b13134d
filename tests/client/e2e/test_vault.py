"""The client's end-to-end modules with real vodozemac devices and real SQLite device files (no server)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from chatapp.client.e2e.envelope import NOTICES, Recipient
from chatapp.client.e2e.protect import WrongPassword, new_pickle_key, unwrap, wrap
from chatapp.client.e2e.safety import safety_number, signed, unknown_devices
from chatapp.client.e2e.store import StoreLocked
from chatapp.client.e2e.vault import Vault
from chatapp.protocol import Ciphertext, DeviceInfo, Direct, Envelope

PASSWORD = "correct horse battery"


def info(vault: Vault) -> DeviceInfo:
    device = vault.device
    return DeviceInfo(device=device.device_id, keys=device.identity(), signature=device.signature(),
                      added="2026-12-05T00:00:00Z")


def recipient(vault: Vault) -> Recipient:
    return Recipient(vault.device.username, vault.device.device_id, vault.device.curve25519)


def claim(vault: Vault) -> str:
    """What the server hands out for ``claim_key``: one of the device's published one-time keys."""
    vault.device.top_up(0)
    keys = vault.device.account.one_time_keys
    key = next(iter(keys.values())).to_base64()
    vault.device.mark_published()
    vault.save_account()
    return key


class Wire:
    """Message ids and timestamps as a server would give them."""

    def __init__(self) -> None:
        self.next_id = 0

    def direct(self, sender: str, to: str, envelope: Envelope, *, nonce: str | None = None,
               ts: datetime | None = None) -> Direct:
        self.next_id += 1
        when = (ts or datetime.now(UTC)).isoformat().replace("+00:00", "Z")
        return Direct(id=self.next_id, sender=sender, to=to, text="", ts=when, nonce=nonce, e2e=envelope)


def send(vault: Vault, text: str, to: str, devices: list[Vault], wire: Wire, **kw: object) -> Direct:
    claimed = {d.device.device_id: claim(d) for d in devices if not vault.has_session(d.device.curve25519)}
    nonce = f"n{wire.next_id + 1}"
    envelope = vault.seal(text, to, [recipient(d) for d in devices], claimed, nonce)
    return wire.direct(vault.device.username, to, envelope, nonce=nonce, **kw)  # type: ignore[arg-type]


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def alice(tmp_path: Path) -> Iterator[Vault]:
    vault = Vault.unlock(tmp_path / "alice", "alice", PASSWORD)
    yield vault
    vault.close()


@pytest.fixture
def bob(tmp_path: Path) -> Iterator[Vault]:
    vault = Vault.unlock(tmp_path / "bob", "bob", PASSWORD)
    yield vault
    vault.close()


def test_an_offline_device_reads_a_pre_key_message_and_the_answer_goes_back(alice: Vault, bob: Vault,
                                                                           wire: Wire) -> None:
    first = send(alice, "hello bob", "bob", [bob], wire)
    assert first.e2e is not None and first.e2e.ciphertexts[bob.device.device_id].type == 0
    opened = bob.open(first, [info(alice)])
    assert opened is not None and opened.text == "hello bob" and opened.problem is None
    answer = send(bob, "hi alice", "alice", [alice], wire)
    # bob answers in the session alice started (a normal message): no one-time key of hers was claimed
    assert answer.e2e is not None and answer.e2e.ciphertexts[alice.device.device_id].type == 1
    opened = alice.open(answer, [info(bob)])
    assert opened is not None and opened.text == "hi alice"
    again = send(alice, "how are you", "bob", [bob], wire)
    assert again.e2e is not None and again.e2e.ciphertexts[bob.device.device_id].type == 1
    assert bob.open(again, [info(alice)]) == opened.__class__(text="how are you")


def test_the_sender_keeps_its_plaintext_by_nonce_then_by_id(alice: Vault, bob: Vault, wire: Wire) -> None:
    echo = send(alice, "mine", "bob", [bob], wire)
    assert alice.stored(echo.id) is None
    opened = alice.open(echo, [info(alice)])  # the server's copy: no ciphertext for the sending device
    assert opened is not None and opened.text == "mine"
    assert alice.stored(echo.id) is not None


def test_a_device_added_later_reads_only_what_comes_after(tmp_path: Path, alice: Vault, bob: Vault,
                                                         wire: Wire) -> None:
    before = send(alice, "old news", "bob", [bob], wire, ts=datetime.now(UTC) - timedelta(minutes=5))
    bob2 = Vault.unlock(tmp_path / "bob2", "bob", PASSWORD)
    try:
        old = bob2.open(before, [info(alice)])
        assert old is not None and old.text is None and old.problem == "before"
        assert NOTICES["before"] == "sent before this device was added; not readable here"
        after = send(alice, "fresh news", "bob", [bob, bob2], wire)
        assert (bob2.open(after, [info(alice)]) or old).text == "fresh news"
        assert (bob.open(after, [info(alice)]) or old).text == "fresh news"
    finally:
        bob2.close()


def test_an_altered_ciphertext_is_refused_with_its_own_notice(alice: Vault, bob: Vault, wire: Wire) -> None:
    good = send(alice, "first", "bob", [bob], wire)
    assert (bob.open(good, [info(alice)]) or pytest.fail()).text == "first"
    sent = send(alice, "the real text", "bob", [bob], wire)
    assert sent.e2e is not None
    ciphertext = sent.e2e.ciphertexts[bob.device.device_id]
    raw = bytearray(base64.b64decode(ciphertext.body))
    raw[len(raw) // 2] ^= 0x01
    tampered = msgspec.structs.replace(sent, e2e=msgspec.structs.replace(sent.e2e, ciphertexts={
        bob.device.device_id: Ciphertext(type=ciphertext.type, body=base64.b64encode(bytes(raw)).decode())}))
    opened = bob.open(tampered, [info(alice)])
    assert opened is not None and opened.text is None and opened.problem == "mac"
    not_olm = {bob.device.device_id: Ciphertext(type=1, body="AAAA")}
    garbage = wire.direct("alice", "bob", Envelope(device=alice.device.device_id, key=alice.device.curve25519,
                                                   ciphertexts=not_olm))
    opened = bob.open(garbage, [info(alice)])
    assert opened is not None and opened.text is None and opened.problem == "garbage"
    assert len(set(NOTICES.values())) == len(NOTICES)  # each failure says something of its own


def test_a_payload_that_does_not_match_its_frame_is_refused(tmp_path: Path, alice: Vault, bob: Vault,
                                                            wire: Wire) -> None:
    sent = send(alice, "for bob only", "bob", [bob], wire)
    rerouted = msgspec.structs.replace(sent, to="carol")  # a server replaying it into another conversation
    opened = bob.open(rerouted, [info(alice)])
    assert opened is not None and opened.text is None and opened.problem == "mismatch"
    # a device the sender's signed list does not hold
    later = send(alice, "again", "bob", [bob], wire)
    impostor = Vault.unlock(tmp_path / "mallory", "alice", PASSWORD)
    try:
        opened = bob.open(later, [info(impostor)])
        assert opened is not None and opened.problem == "device"
    finally:
        impostor.close()


def test_safety_numbers_agree_and_change_with_a_new_device(tmp_path: Path, alice: Vault, bob: Vault) -> None:
    a, b = [alice.device.ed25519], [bob.device.ed25519]
    seen_by_alice = safety_number("alice", a, "bob", b)
    seen_by_bob = safety_number("bob", b, "alice", a)
    assert seen_by_alice == seen_by_bob
    groups = seen_by_alice.split(" ")
    assert len(groups) == 12 and all(len(g) == 5 and g.isdigit() for g in groups)
    bob2 = Vault.unlock(tmp_path / "bob2", "bob", PASSWORD)
    try:
        assert safety_number("alice", a, "bob", [*b, bob2.device.ed25519]) != seen_by_alice
        assert safety_number("alice", a, "bob", [bob2.device.ed25519, *b]) == \
            safety_number("bob", [*b, bob2.device.ed25519], "alice", a)
        known = {bob.device.device_id: bob.device.ed25519}
        assert [d.device for d in unknown_devices([info(bob), info(bob2)], known)] == [bob2.device.device_id]
    finally:
        bob2.close()


def test_device_signatures_are_checked(alice: Vault, bob: Vault) -> None:
    assert signed("alice", info(alice))
    assert not signed("bob", info(alice))  # bound to its user
    swapped = msgspec.structs.replace(info(alice), keys=bob.device.identity())
    assert not signed("alice", swapped)


def test_key_wrapping_round_trip_and_wrong_password() -> None:
    key = new_pickle_key()
    wrapped = wrap(key, PASSWORD)
    assert unwrap(wrapped, PASSWORD) == key
    with pytest.raises(WrongPassword):
        unwrap(wrapped, "another password")
    assert key not in wrapped.ciphertext


def test_a_device_file_survives_a_restart_and_a_password_change(tmp_path: Path, bob: Vault,
                                                                wire: Wire) -> None:
    alice = Vault.unlock(tmp_path / "a", "alice", PASSWORD)
    first = send(alice, "before the restart", "bob", [bob], wire)
    assert (bob.open(first, [info(alice)]) or pytest.fail()).text
    alice.open(first, [info(alice)])  # the server's copy: acknowledged, kept by its id
    device_id = alice.device.device_id
    alice.close()
    data = (tmp_path / "a" / "device.db").read_bytes()
    assert b"before the restart" not in data and b"correct horse" not in data
    assert (tmp_path / "a" / "device.db").stat().st_mode & 0o777 == 0o600
    with pytest.raises(WrongPassword):
        Vault.unlock(tmp_path / "a", "alice", "changed elsewhere")
    alice = Vault.unlock(tmp_path / "a", "alice", "changed elsewhere", previous_password=PASSWORD)
    try:
        assert alice.device.device_id == device_id
        assert (alice.stored(first.id) or pytest.fail()).text == "before the restart"
        second = send(alice, "after the restart", "bob", [bob], wire)
        assert second.e2e is not None and second.e2e.ciphertexts[bob.device.device_id].type == 0
        assert (bob.open(second, [info(alice)]) or pytest.fail()).text == "after the restart"
    finally:
        alice.close()
    alice = Vault.unlock(tmp_path / "a", "alice", "changed elsewhere")  # wrapped under the new one now
    alice.close()
    fresh = Vault.unlock(tmp_path / "a", "alice", "changed elsewhere", new_device=True)
    try:
        assert fresh.device.device_id != device_id and fresh.stored(first.id) is None
    finally:
        fresh.close()


def test_two_clients_never_use_one_device_at_once(tmp_path: Path, alice: Vault) -> None:
    with pytest.raises(StoreLocked):
        Vault.unlock(alice.store.directory, "alice", PASSWORD)


def test_the_key_supply_is_filled_in_batches_only_when_below_half(alice: Vault) -> None:
    device = alice.device
    assert not device.account.one_time_keys  # a new device has only its fallback key
    assert device.top_up(0, batch=20) and len(device.account.one_time_keys) == 20
    device.mark_published()
    assert device.top_up(20, batch=20) and len(device.account.one_time_keys) == 20  # filling goes on
    device.mark_published()
    assert device.top_up(40, batch=20) and len(device.account.one_time_keys) == 10  # up to 50, no more
    device.mark_published()
    assert not device.top_up(50, batch=20)
    assert not device.top_up(30, batch=20)  # more than half left: nothing yet
    assert device.top_up(24, batch=20) and len(device.account.one_time_keys) == 20
    frame = device.publish_frame(1, batch=5)
    assert frame.one_time_keys is not None and len(frame.one_time_keys) == 5  # what fits in one frame
