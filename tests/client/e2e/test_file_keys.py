"""An encrypted file's key inside the Olm payload: sealed with the message, opened and stored with it,
and a payload without a file unchanged (what clients before files read)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from chatapp.client.e2e.envelope import Payload
from chatapp.client.e2e.filekey import FileKey
from chatapp.client.e2e.vault import Vault
from chatapp.client.files.sealing import open_file, seal_file
from tests.client.e2e.test_vault import PASSWORD, Wire, claim, info, recipient


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


def test_the_file_key_travels_in_the_payload_and_opens_the_file(tmp_path: Path, alice: Vault,
                                                                bob: Vault) -> None:
    plain = os.urandom(100_000)
    (tmp_path / "photo.jpg").write_bytes(plain)
    sealed = seal_file(tmp_path / "photo.jpg", tmp_path / "upload")
    key = FileKey(key=sealed.key, nonce=sealed.nonce, sha256=sealed.sha256, name="photo.jpg",
                  mime="image/jpeg")
    wire = Wire()
    envelope = alice.seal("look", "bob", [recipient(bob)], {bob.device.device_id: claim(bob)}, "n1", key)
    direct = wire.direct("alice", "bob", envelope, nonce="n1")
    opened = bob.open(direct, [info(alice)])
    assert opened is not None and opened.text == "look" and opened.file == key
    assert bob.stored(direct.id) == opened  # kept with the message, for a download after a restart
    assert alice.known(direct) is not None and alice.known(direct).file == key  # type: ignore[union-attr]
    assert open_file(tmp_path / "upload", tmp_path / "out", opened.file.key, opened.file.nonce,
                     opened.file.sha256) == len(plain)
    assert (tmp_path / "out").read_bytes() == plain


def test_a_payload_without_a_file_is_the_same_as_before() -> None:
    payload = Payload(v=1, text="hi", sender="alice", to="bob", sender_device="A", sender_ed25519="k",
                      recipient_device="B")
    encoded = msgspec.json.decode(msgspec.json.encode(payload))
    assert set(encoded) == {"v", "text", "from", "to", "sender_device", "sender_ed25519", "recipient_device"}
