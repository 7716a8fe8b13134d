"""The server's check of a device's signature: real vodozemac signatures hold, and anything else a
frame can carry is refused without an exception."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chatapp.device_signature import signature_holds, unpadded
from chatapp.protocol.e2e_frames import IdentityKeys
from tests.support.olm import TestDevice

KEY = st.from_regex(r"\A[A-Za-z0-9+/]{43}\Z")
SIGNATURE = st.from_regex(r"\A[A-Za-z0-9+/]{86}\Z")
DEVICE = TestDevice("alice", "LAPTOP01")


def test_a_real_signature_holds_only_for_what_it_signed() -> None:
    keys, signature = DEVICE.keys, DEVICE.signature()
    assert signature_holds("alice", "LAPTOP01", keys, signature)
    assert signature_holds("ALICE", "LAPTOP01", keys, signature)  # names ignore case
    assert not signature_holds("bob", "LAPTOP01", keys, signature)
    assert not signature_holds("alice", "LAPTOP02", keys, signature)
    other = TestDevice("alice", "LAPTOP01").keys
    assert not signature_holds("alice", "LAPTOP01", IdentityKeys(other.curve25519, keys.ed25519), signature)
    assert len(unpadded(keys.ed25519)) == 32 and len(unpadded(signature)) == 64


@given(ed25519=KEY, curve25519=KEY, signature=SIGNATURE)
def test_any_keys_and_signature_a_frame_can_carry_are_refused_quietly(
    ed25519: str, curve25519: str, signature: str
) -> None:
    assert not signature_holds("alice", "LAPTOP01", IdentityKeys(curve25519, ed25519), signature)


@given(signature=SIGNATURE)
def test_a_real_key_with_any_other_signature_is_refused(signature: str) -> None:
    if signature != DEVICE.signature():
        assert not signature_holds("alice", "LAPTOP01", DEVICE.keys, signature)
