"""A file encrypted for an encrypted conversation, and opened after download. Blocking: run in an executor.

Each file gets a fresh AES-256-GCM key and 96-bit nonce (``cryptography``); the
ciphertext is the encrypted bytes followed by the 16-byte tag, streamed in
chunks so a large file is never held in memory. The key, the nonce, the
plaintext's SHA-256, its name and type travel inside the Olm-encrypted
payload of the message (``client/e2e/envelope.py``), never to the server,
which stores and hands out ciphertext only. Opening checks the tag (the
ciphertext was not altered) and then the plaintext's digest (it is the file
the sender meant).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
CHUNK = 1 << 20


class OpenFailed(Exception):
    """The ciphertext does not open with the key it came with, or opens to another file."""


@dataclasses.dataclass(frozen=True, slots=True)
class Sealed:
    """What encrypting a file gave: the secrets for the payload, and the plaintext's size and digest."""

    key: bytes
    nonce: bytes
    sha256: str
    size: int


def seal_file(source: Path, target: Path) -> Sealed:
    """Encrypt ``source`` into ``target`` (created 0600, replaced if there) with a fresh key."""
    key = os.urandom(KEY_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    digest = hashlib.sha256()
    size = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with source.open("rb") as plain, os.fdopen(fd, "wb") as out:
        while chunk := plain.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(encryptor.update(chunk))
        out.write(encryptor.finalize())
        out.write(encryptor.tag)
    return Sealed(key=key, nonce=nonce, sha256=digest.hexdigest(), size=size)


def open_file(source: Path, target: Path, key: bytes, nonce: bytes, sha256: str) -> int:
    """Decrypt ``source`` into ``target`` (0600) and check the tag and the plaintext digest.

    Returns the plaintext size. Raises :class:`OpenFailed` (and removes
    ``target``) when either check fails.
    """
    if len(key) != KEY_BYTES or len(nonce) != NONCE_BYTES:
        raise OpenFailed("the key or nonce has the wrong length")
    total = source.stat().st_size
    if total < TAG_BYTES:
        raise OpenFailed("too short to be an encrypted file")
    with source.open("rb") as sealed:
        sealed.seek(total - TAG_BYTES)
        tag = sealed.read(TAG_BYTES)
    decryptor = Cipher(algorithms.AES(key), modes.GCM(nonce, tag)).decryptor()
    digest = hashlib.sha256()
    left = total - TAG_BYTES
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with source.open("rb") as sealed, os.fdopen(fd, "wb") as out:
            while left > 0:
                chunk = sealed.read(min(CHUNK, left))
                if not chunk:
                    raise OpenFailed("the file ended early")
                left -= len(chunk)
                plain = decryptor.update(chunk)
                digest.update(plain)
                out.write(plain)
            decryptor.finalize()
    except InvalidTag:
        target.unlink(missing_ok=True)
        raise OpenFailed("it was altered (the authentication tag does not match)") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != sha256.lower():
        target.unlink(missing_ok=True)
        raise OpenFailed("it is not the file the sender described (SHA-256 differs)")
    return total - TAG_BYTES
