"""Whatever bytes arrive as a ciphertext, opening them gives a notice, never text, never an exception."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from chatapp.client.e2e.device import Device
from chatapp.client.e2e.envelope import NOTICES, Recipient, open_direct, seal
from chatapp.client.e2e.olm import SessionBook
from chatapp.protocol import Ciphertext, DeviceInfo, Direct, Envelope

ALICE, BOB = Device.create("alice"), Device.create("bob")
BOB.top_up(0)
ALICE_BOOK, BOB_BOOK = SessionBook(), SessionBook()
ALICE_INFO = DeviceInfo(device=ALICE.device_id, keys=ALICE.identity(), signature=ALICE.signature(),
                        added="2026-12-05T00:00:00Z")
_claimed = {BOB.device_id: next(iter(BOB.account.one_time_keys.values())).to_base64()}
_first, _ = seal(ALICE, ALICE_BOOK, "hello", "bob", [Recipient("bob", BOB.device_id, BOB.curve25519)],
                 _claimed)


def direct(ciphertext: Ciphertext) -> Direct:
    envelope = Envelope(device=ALICE.device_id, key=ALICE.curve25519, ciphertexts={BOB.device_id: ciphertext})
    return Direct(id=7, sender="alice", to="bob", text="", ts="2026-12-05T01:00:00Z", e2e=envelope)


def test_the_real_one_opens() -> None:
    opened = open_direct(direct(_first.ciphertexts[BOB.device_id]), BOB, BOB_BOOK, [ALICE_INFO])
    assert opened.text == "hello"


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from([0, 1]), body=st.binary(min_size=1, max_size=600))
def test_random_bytes_are_a_notice(kind: int, body: bytes) -> None:
    ciphertext = Ciphertext(type=kind, body=base64.b64encode(body).decode())  # type: ignore[arg-type]
    opened = open_direct(direct(ciphertext), BOB, BOB_BOOK, [ALICE_INFO])
    assert opened.text is None and opened.problem in NOTICES


@settings(max_examples=100, deadline=None)
@given(flip=st.integers(min_value=0, max_value=10_000))
def test_any_flipped_bit_of_a_real_message_is_a_notice(flip: int) -> None:
    sealed, _ = seal(ALICE, ALICE_BOOK, "the real text", "bob",
                     [Recipient("bob", BOB.device_id, BOB.curve25519)], {})
    ciphertext = sealed.ciphertexts[BOB.device_id]
    raw = bytearray(base64.b64decode(ciphertext.body))
    raw[flip % len(raw)] ^= 1 << (flip % 8)
    altered = Ciphertext(type=ciphertext.type, body=base64.b64encode(bytes(raw)).decode())
    opened = open_direct(direct(altered), BOB, BOB_BOOK, [ALICE_INFO])
    assert opened.text is None and opened.problem in NOTICES
