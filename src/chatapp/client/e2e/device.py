"""This installation as a device: its Olm account, its id, its supply of one-time keys. Pure.

A device publishes its identity keys once (the first ``publish_keys``
registers it) and keeps up to :data:`ONE_TIME_KEYS_TARGET` one-time keys on the
server, topping up when the server's count (``keys_published.one_time_keys``)
falls below half of that. New keys are generated and the account pickled
*before* they are published, and marked published only after the server
answered, so a crash in between publishes them again rather than losing them
(the server ignores a key id it has).
"""

from __future__ import annotations

import secrets
import string

import vodozemac

from chatapp.protocol import IdentityKeys, OneTimeKey, PublishKeys
from chatapp.protocol.e2e_frames import device_signing_text

DEVICE_ID_LENGTH = 10
DEVICE_ID_ALPHABET = string.ascii_uppercase + string.digits
ONE_TIME_KEYS_TARGET = 50
"""One-time keys kept on the server (its limit is 100)."""


def new_device_id() -> str:
    return "".join(secrets.choice(DEVICE_ID_ALPHABET) for _ in range(DEVICE_ID_LENGTH))


class Device:
    """One user's device: an Olm account under a device id."""

    def __init__(self, username: str, device_id: str, account: vodozemac.Account) -> None:
        self.username = username.lower()
        self.device_id = device_id
        self.account = account
        self._filling = False

    @classmethod
    def create(cls, username: str) -> Device:
        """A new device with its fallback key (one-time keys come with :meth:`top_up`)."""
        device = cls(username, new_device_id(), vodozemac.Account())
        device.account.generate_fallback_key()  # type: ignore[attr-defined]  # in the module, not its stub
        return device

    @property
    def curve25519(self) -> str:
        return self.account.curve25519_key.to_base64()

    @property
    def ed25519(self) -> str:
        return self.account.ed25519_key.to_base64()

    def identity(self) -> IdentityKeys:
        return IdentityKeys(curve25519=self.curve25519, ed25519=self.ed25519)

    def signature(self) -> str:
        text = device_signing_text(self.username, self.device_id, self.curve25519, self.ed25519)
        return self.account.sign(text).to_base64()

    def top_up(self, published: int, batch: int = ONE_TIME_KEYS_TARGET) -> bool:
        """Generate up to ``batch`` keys (what fits in one frame) while the server holds fewer than the
        target, starting when it holds fewer than half; True when some were made."""
        unpublished = len(self.account.one_time_keys)
        wanted = min(batch, ONE_TIME_KEYS_TARGET - published - unpublished)
        if published + unpublished >= ONE_TIME_KEYS_TARGET // 2 and not self._filling or wanted <= 0:
            self._filling = False
            return False
        self._filling = True  # once started, fill up to the target, one frame at a time
        self.account.generate_one_time_keys(wanted)
        return True

    def has_unpublished(self) -> bool:
        return bool(self.account.one_time_keys) or bool(self.account.fallback_key)  # type: ignore[attr-defined]

    def publish_frame(
        self, ref: int, batch: int = ONE_TIME_KEYS_TARGET, name: str | None = None
    ) -> PublishKeys:
        """The ``publish_keys`` that registers this device and hands over (at most ``batch`` of) its
        unpublished keys; any left over (a crash between generating and publishing) are never used."""
        one_time = [OneTimeKey(key_id=key_id, key=key.to_base64())
                    for key_id, key in sorted(self.account.one_time_keys.items())][:batch]
        unpublished: dict[str, vodozemac.Curve25519PublicKey] = self.account.fallback_key  # type: ignore[attr-defined]
        fallback = [OneTimeKey(key_id=key_id, key=key.to_base64()) for key_id, key in unpublished.items()]
        return PublishKeys(
            device=self.device_id, keys=self.identity(), signature=self.signature(),
            one_time_keys=one_time or None, fallback_key=fallback[0] if fallback else None, name=name,
            ref=ref,
        )

    def mark_published(self) -> None:
        self.account.mark_keys_as_published()
