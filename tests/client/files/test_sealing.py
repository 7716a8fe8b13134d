"""File encryption for encrypted conversations: streamed AES-256-GCM, tag and digest checked."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from chatapp.client.files.sealing import CHUNK, OpenFailed, open_file, seal_file


def test_a_sealed_file_opens_to_the_same_bytes(tmp_path: Path) -> None:
    plain = os.urandom(CHUNK * 2 + 123)
    (tmp_path / "a").write_bytes(plain)
    sealed = seal_file(tmp_path / "a", tmp_path / "a.sealed")
    ciphertext = (tmp_path / "a.sealed").read_bytes()
    assert len(ciphertext) == len(plain) + 16
    assert plain[:64] not in ciphertext
    assert sealed.sha256 == hashlib.sha256(plain).hexdigest() and sealed.size == len(plain)
    size = open_file(tmp_path / "a.sealed", tmp_path / "b", sealed.key, sealed.nonce, sealed.sha256)
    assert size == len(plain)
    assert (tmp_path / "b").read_bytes() == plain


def test_each_file_gets_a_fresh_key(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"same")
    one = seal_file(tmp_path / "a", tmp_path / "1")
    two = seal_file(tmp_path / "a", tmp_path / "2")
    assert one.key != two.key and one.nonce != two.nonce
    assert (tmp_path / "1").read_bytes() != (tmp_path / "2").read_bytes()


def test_an_altered_ciphertext_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"secret plans" * 100)
    sealed = seal_file(tmp_path / "a", tmp_path / "s")
    data = bytearray((tmp_path / "s").read_bytes())
    data[10] ^= 1
    (tmp_path / "s").write_bytes(bytes(data))
    with pytest.raises(OpenFailed, match="altered"):
        open_file(tmp_path / "s", tmp_path / "out", sealed.key, sealed.nonce, sealed.sha256)
    assert not (tmp_path / "out").exists()


def test_a_different_digest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x")
    sealed = seal_file(tmp_path / "a", tmp_path / "s")
    with pytest.raises(OpenFailed, match="SHA-256"):
        open_file(tmp_path / "s", tmp_path / "out", sealed.key, sealed.nonce, "00" * 32)
    assert not (tmp_path / "out").exists()
