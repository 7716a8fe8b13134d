"""Real end-to-end keys for tests: vodozemac accounts, their signed device keys, and Olm messages
as the wire carries them."""

from __future__ import annotations

import base64

import vodozemac

from chatapp.protocol.e2e_frames import (
    Ciphertext,
    DeviceId,
    Envelope,
    IdentityKeys,
    OneTimeKey,
    PublishKeys,
    device_signing_text,
)


class TestDevice:
    """One device of ``username``: a vodozemac account and what it publishes."""

    __test__ = False  # not a pytest class

    def __init__(self, username: str, device: DeviceId) -> None:
        self.username = username
        self.device = device
        self.account = vodozemac.Account()

    @property
    def keys(self) -> IdentityKeys:
        return IdentityKeys(
            curve25519=self.account.curve25519_key.to_base64(), ed25519=self.account.ed25519_key.to_base64()
        )

    def signature(self, username: str | None = None) -> str:
        keys = self.keys
        text = device_signing_text(username or self.username, self.device, keys.curve25519, keys.ed25519)
        return self.account.sign(text).to_base64()

    def one_time_keys(self, count: int) -> list[OneTimeKey]:
        """``count`` new one-time keys (marked as published)."""
        self.account.generate_one_time_keys(count)
        keys = [OneTimeKey(key_id=i, key=k.to_base64()) for i, k in self.account.one_time_keys.items()]
        self.account.mark_keys_as_published()
        return keys

    def publish(
        self,
        count: int = 0,
        *,
        fallback: OneTimeKey | None = None,
        name: str | None = None,
        ref: int | None = None,
    ) -> PublishKeys:
        return PublishKeys(
            device=self.device,
            keys=self.keys,
            signature=self.signature(),
            one_time_keys=self.one_time_keys(count) if count else None,
            fallback_key=fallback,
            name=name,
            ref=ref,
        )

    def session_with(self, other_curve25519: str, one_time_key: str) -> vodozemac.Session:
        return self.account.create_outbound_session(
            vodozemac.Curve25519PublicKey.from_base64(other_curve25519),
            vodozemac.Curve25519PublicKey.from_base64(one_time_key),
        )

    def envelope(self, ciphertexts: dict[str, Ciphertext]) -> Envelope:
        return Envelope(device=self.device, key=self.keys.curve25519, ciphertexts=ciphertexts)


def wire_ciphertext(message: vodozemac.AnyOlmMessage) -> Ciphertext:
    """An Olm message as the envelope carries it: its type and its bytes as padded base64."""
    kind, body = message.to_parts()
    assert kind in (0, 1)
    return Ciphertext(type=0 if kind == 0 else 1, body=base64.b64encode(body).decode())


def olm_message(ciphertext: Ciphertext) -> vodozemac.AnyOlmMessage:
    return vodozemac.AnyOlmMessage.from_parts(ciphertext.type, base64.b64decode(ciphertext.body))


def fake_ciphertext(size: int) -> Ciphertext:
    """A ciphertext-shaped body of about ``size`` bytes (the server does not look inside)."""
    return Ciphertext(type=1, body=base64.b64encode(bytes(range(256)) * (size // 256 + 1))[:size].decode())
