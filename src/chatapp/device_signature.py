"""A device's signature over its keys, checked the same way by the server (on ``publish_keys``)
and by every client (on each device it is told about): docs/protocol.md, "End-to-end encrypted
direct messages". Shared like :mod:`chatapp.fingerprint`, so the two sides cannot disagree."""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from chatapp.protocol.e2e_frames import IdentityKeys, device_signing_text


def unpadded(text: str) -> bytes:
    """Unpadded standard base64 (as vodozemac writes keys and signatures) as bytes; ValueError
    (binascii.Error) if it is not base64."""
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def signature_holds(username: str, device: str, keys: IdentityKeys, signature: str) -> bool:
    """Whether ``signature`` is the device's Ed25519 signature of its signing text
    (:func:`~chatapp.protocol.e2e_frames.device_signing_text`)."""
    text = device_signing_text(username, device, keys.curve25519, keys.ed25519)
    try:
        public = Ed25519PublicKey.from_public_bytes(unpadded(keys.ed25519))
        public.verify(unpadded(signature), text)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True
