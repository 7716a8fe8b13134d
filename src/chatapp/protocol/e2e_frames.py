"""End-to-end encryption on the wire: devices, their keys, and the encrypted ``dm`` (docs/protocol.md,
"End-to-end encrypted direct messages").

The server stores and relays what these carry; it never sees a private key or a
plaintext. The cryptography is Olm (``vodozemac``) on the clients: a device
publishes its identity keys (Curve25519 for Olm, Ed25519 to sign) and a supply of
one-time keys; a sender claims one one-time key per recipient device it has no
Olm session with yet, and sends one ``dm`` whose :class:`Envelope` holds one
ciphertext per device (the recipient's devices and the sender's own others).

Every field is bounded here, so the decoder refuses an oversized value before
any handler sees it; keys are unpadded standard base64 of 32 bytes (43
characters), signatures of 64 bytes (86), as vodozemac writes them.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from .frame_base import BaseFrame, Ref
from .limits import DEVICE_NAME_MAX, MAX_FRAME_BYTES, ONE_TIME_KEYS_MAX, RECIPIENT_DEVICES_MAX

DeviceId = Annotated[str, msgspec.Meta(pattern=r"^[A-Z0-9]{6,32}$")]
"""A device's id, chosen by the client when it creates the device: 6 to 32 of ``A-Z 0-9``."""

PublicKey = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9+/]{43}$")]
"""A Curve25519 or Ed25519 public key: 32 bytes as unpadded base64."""

Signature = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9+/]{86}$")]
"""An Ed25519 signature: 64 bytes as unpadded base64."""

KeyId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9+/]{1,32}$")]
"""A one-time key's id, unique among the device's keys (vodozemac's are 11 characters)."""

DeviceName = Annotated[str, msgspec.Meta(max_length=DEVICE_NAME_MAX)]

CiphertextBody = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_FRAME_BYTES)]
"""An Olm message as standard base64 (padded). Only its length is checked here: the server relays
it unread, and a body that is not base64 (or not Olm) is the recipient's notice, not the server's
concern; a pattern over the whole body would cost more than the rest of the decoding together."""

SIGNED_DEVICE_PREFIX = "chatapp-device-v1"
"""First line of what a device's Ed25519 key signs: see :func:`device_signing_text`."""


def device_signing_text(username: str, device: str, curve25519: str, ed25519: str) -> bytes:
    """What a device signs with its Ed25519 key to bind its keys to its user and id.

    Lines joined by ``\\n``: this prefix, the username in lower case (the
    server's names ignore case), the device id, the Curve25519 and the Ed25519
    key. The server checks it on ``publish_keys``; every client checks it on
    each device it is told about, so a server cannot swap keys unnoticed.
    """
    return "\n".join((SIGNED_DEVICE_PREFIX, username.lower(), device, curve25519, ed25519)).encode()


class IdentityKeys(msgspec.Struct, frozen=True):
    curve25519: PublicKey
    ed25519: PublicKey


class OneTimeKey(msgspec.Struct, frozen=True):
    key_id: KeyId
    key: PublicKey


class Ciphertext(msgspec.Struct, frozen=True):
    type: Literal[0, 1]
    """Olm's message type: 0 a pre-key message (it sets up the session), 1 a normal one."""
    body: CiphertextBody


class Envelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An encrypted direct message: one Olm ciphertext per device that may read it."""

    device: DeviceId
    """The sending device."""
    key: PublicKey
    """The sending device's Curve25519 identity key (what a pre-key message is checked against)."""
    ciphertexts: Annotated[
        dict[DeviceId, Ciphertext], msgspec.Meta(min_length=1, max_length=RECIPIENT_DEVICES_MAX)
    ]
    """By device id: the recipient's devices and the sender's other devices."""
    v: Literal[1] = 1


class DeviceInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    device: DeviceId
    keys: IdentityKeys
    signature: Signature
    """Ed25519 signature of :func:`device_signing_text` by ``keys.ed25519``."""
    added: str
    """When the device first published its keys (ISO 8601 UTC)."""
    name: DeviceName | None = None


# -- client to server ----------------------------------------------------------


class PublishKeys(BaseFrame, frozen=True, tag="publish_keys"):
    """Register this connection's device (the first time) and add one-time keys to its supply.

    The identity keys of a device id never change: publishing other keys under a
    known id is refused. At most ``ONE_TIME_KEYS_MAX`` keys are kept per device.
    """

    device: DeviceId
    keys: IdentityKeys
    signature: Signature
    one_time_keys: Annotated[list[OneTimeKey], msgspec.Meta(max_length=ONE_TIME_KEYS_MAX)] | None = None
    fallback_key: OneTimeKey | None = None
    """Handed out when the one-time keys run out (it replaces the previous one)."""
    name: DeviceName | None = None
    ref: Ref = None


class ListDevices(BaseFrame, frozen=True, tag="devices"):
    """The devices (with their identity keys) of a user, oneself included."""

    username: str
    ref: Ref = None


class ClaimKey(BaseFrame, frozen=True, tag="claim_key"):
    """Take one of a device's one-time keys (or its fallback key) to start an Olm session with it."""

    username: str
    device: DeviceId
    ref: Ref = None


class DeleteDevice(BaseFrame, frozen=True, tag="delete_device"):
    """Remove one of one's own devices and its keys: others stop encrypting to it."""

    device: DeviceId
    ref: Ref = None


# -- server to client ----------------------------------------------------------


class KeysPublished(BaseFrame, frozen=True, tag="keys_published"):
    device: DeviceId
    one_time_keys: int
    """How many unclaimed one-time keys the device has now: the client tops up from this."""
    ref: Ref = None


class DeviceList(BaseFrame, frozen=True, tag="device_list"):
    username: str
    devices: list[DeviceInfo]
    ref: Ref = None


class ClaimedKey(BaseFrame, frozen=True, tag="claimed_key"):
    username: str
    device: DeviceId
    key: OneTimeKey
    fallback: bool = False
    """True when the device had no one-time key left and this is its fallback key."""
    ref: Ref = None


class DeviceDeleted(BaseFrame, frozen=True, tag="device_deleted"):
    device: DeviceId
    ref: Ref = None


E2E_CLIENT_FRAMES = PublishKeys | ListDevices | ClaimKey | DeleteDevice
E2E_SERVER_FRAMES = KeysPublished | DeviceList | ClaimedKey | DeviceDeleted
