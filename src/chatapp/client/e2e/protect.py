"""Key protection: the random pickle key, wrapped under the user's password. Pure, blocking.

The Olm account and session pickles are encrypted (by vodozemac) with a random
32-byte *pickle key*. That key is stored wrapped with AES-256-GCM under a key
derived with argon2id from the user's password and a random salt: the client
always has the password when it signs in, so there is nothing more to
remember, and a copied data directory is useless without it. ``/passwd``
re-wraps it (:func:`wrap` with the new password); the pickle key itself, and so
every pickle, stays the same.

Message bodies in the local store are sealed with another key derived from the
pickle key (HKDF-SHA256), never with the pickle key itself.

argon2id costs about 50 ms of CPU and 19 MiB: callers run :func:`wrap` and
:func:`unwrap` in an executor.
"""

from __future__ import annotations

import dataclasses
import os

import msgspec
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
TIME_COST = 2
MEMORY_KIB = 19 * 1024
PARALLELISM = 1
"""argon2id at OWASP's parameters (the server hashes passwords with the same)."""

WRAP_AAD = b"chatapp-pickle-key-v1"
STORE_INFO = b"chatapp-local-store-v1"


class WrongPassword(Exception):
    """The password does not unlock this wrapped key (changed elsewhere, or reset by an admin)."""


class WrappedKey(msgspec.Struct, frozen=True):
    """A pickle key wrapped under a password, as stored in the device file."""

    salt: bytes
    nonce: bytes
    ciphertext: bytes
    time_cost: int = TIME_COST
    memory_kib: int = MEMORY_KIB
    parallelism: int = PARALLELISM


@dataclasses.dataclass(frozen=True, slots=True)
class Keys:
    """The unwrapped keys of one device: for pickles, and for message bodies at rest."""

    pickle: bytes
    store: bytes


def new_pickle_key() -> bytes:
    return os.urandom(KEY_BYTES)


def keys_from(pickle_key: bytes) -> Keys:
    store = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=STORE_INFO).derive(pickle_key)
    return Keys(pickle=pickle_key, store=store)


def _password_key(password: str, salt: bytes, time_cost: int, memory_kib: int, parallelism: int) -> bytes:
    return hash_secret_raw(
        password.encode("utf-8"), salt, time_cost=time_cost, memory_cost=memory_kib,
        parallelism=parallelism, hash_len=KEY_BYTES, type=Type.ID,
    )


def wrap(pickle_key: bytes, password: str) -> WrappedKey:
    """Wrap ``pickle_key`` under ``password`` (argon2id with a new salt, then AES-256-GCM)."""
    salt = os.urandom(SALT_BYTES)
    nonce = os.urandom(NONCE_BYTES)
    key = _password_key(password, salt, TIME_COST, MEMORY_KIB, PARALLELISM)
    return WrappedKey(salt=salt, nonce=nonce, ciphertext=AESGCM(key).encrypt(nonce, pickle_key, WRAP_AAD))


def unwrap(wrapped: WrappedKey, password: str) -> bytes:
    """The pickle key, or :class:`WrongPassword` when ``password`` does not unlock it."""
    sane = (1 <= wrapped.time_cost <= 16 and 8 <= wrapped.memory_kib <= 1 << 20
            and 1 <= wrapped.parallelism <= 16)
    if not sane:
        raise WrongPassword("the key file's argon2 parameters are out of range")
    key = _password_key(password, wrapped.salt, wrapped.time_cost, wrapped.memory_kib, wrapped.parallelism)
    try:
        return AESGCM(key).decrypt(wrapped.nonce, wrapped.ciphertext, WRAP_AAD)
    except InvalidTag:
        raise WrongPassword("the password does not unlock this device's keys") from None


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM with a random nonce, which leads the result."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """What :func:`seal` sealed with the same ``aad``; ``InvalidTag`` when it was altered."""
    return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
