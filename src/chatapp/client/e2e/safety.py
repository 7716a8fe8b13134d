"""Checking devices: signatures on every device list, safety numbers for ``/verify``. Pure.

A safety number is computed like Signal's: for each of the two users a
fingerprint of their devices' Ed25519 keys (sorted, so the order the server
lists them in does not matter) and their name, SHA-512 iterated 5200 times;
the first 30 bytes of each, as six 5-digit groups, the two users' in the order
of their names. So it is the same on both sides, 60 digits in 12 groups, and
changes when either user adds, removes or replaces a device.
"""

from __future__ import annotations

import hashlib

from chatapp.device_signature import signature_holds, unpadded
from chatapp.protocol import DeviceInfo

ITERATIONS = 5200
VERSION = b"\x00\x00"


def signed(username: str, info: DeviceInfo) -> bool:
    """The device's Ed25519 key signed its keys, its id and its user's name (``device_signing_text``)."""
    return signature_holds(username, info.device, info.keys, info.signature)


def _raw(key: str) -> bytes:
    try:
        return unpadded(key)
    except ValueError:
        return key.encode()


def _fingerprint(username: str, ed25519_keys: list[str]) -> str:
    keys = b"".join(sorted(_raw(key) for key in ed25519_keys))
    digest = hashlib.sha512(VERSION + keys + username.lower().encode()).digest()
    for _ in range(ITERATIONS):
        digest = hashlib.sha512(digest + keys).digest()
    return "".join(f"{int.from_bytes(digest[i:i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5))


def safety_number(me: str, my_keys: list[str], peer: str, peer_keys: list[str]) -> str:
    """60 digits in 12 groups of 5, the same computed on either side."""
    mine, theirs = _fingerprint(me, my_keys), _fingerprint(peer, peer_keys)
    digits = mine + theirs if me.lower() <= peer.lower() else theirs + mine
    return " ".join(digits[i:i + 5] for i in range(0, 60, 5))


def key_fingerprint(ed25519: str) -> str:
    """A device's Ed25519 key as shown to people: groups of four characters."""
    return " ".join(ed25519[i:i + 4] for i in range(0, len(ed25519), 4))


def unknown_devices(devices: list[DeviceInfo], trusted: dict[str, str]) -> list[DeviceInfo]:
    """The devices not in ``trusted`` (device id to Ed25519 key), or there with another key."""
    return [info for info in devices if trusted.get(info.device) != info.keys.ed25519]
