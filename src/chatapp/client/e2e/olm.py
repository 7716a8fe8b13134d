"""Olm sessions with other devices, by their Curve25519 key. Pure (vodozemac), no I/O.

One device may have several sessions with another (each side may have
started one); a message is encrypted with the newest and decrypted by trying
them newest first. A pre-key message that none of them matches starts an
inbound session, which uses up one of this device's one-time keys: the
account changed too, and the caller persists both (:attr:`Decrypted.new_session`).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses

import vodozemac

from chatapp.protocol import Ciphertext


class DecryptFailed(Exception):
    """A ciphertext that could not be decrypted; ``kind`` says why (for the notice)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind
        """``garbage`` (not an Olm message), ``mac`` (altered, or no session fits), ``no_session``."""


@dataclasses.dataclass(frozen=True, slots=True)
class Decrypted:
    plaintext: bytes
    session: vodozemac.Session
    new_session: bool


def encode(message: vodozemac.AnyOlmMessage) -> Ciphertext:
    kind, body = message.to_parts()
    return Ciphertext(type=0 if kind == 0 else 1, body=base64.b64encode(body).decode("ascii"))


class SessionBook:
    """The Olm sessions of this device, by the other device's Curve25519 key, newest first."""

    def __init__(self) -> None:
        self._by_key: dict[str, list[vodozemac.Session]] = {}

    def add(self, curve25519: str, session: vodozemac.Session) -> None:
        """Add a session as the newest for that key (the store loads them oldest first)."""
        sessions = self._by_key.setdefault(curve25519, [])
        sessions[:] = [s for s in sessions if s.session_id != session.session_id]
        sessions.insert(0, session)

    def has(self, curve25519: str) -> bool:
        return bool(self._by_key.get(curve25519))

    def start(self, account: vodozemac.Account, curve25519: str, one_time_key: str) -> vodozemac.Session:
        """An outbound session from a claimed one-time key; its messages are pre-key ones until answered."""
        session = account.create_outbound_session(
            vodozemac.Curve25519PublicKey.from_base64(curve25519),
            vodozemac.Curve25519PublicKey.from_base64(one_time_key),
        )
        self.add(curve25519, session)
        return session

    def encrypt(self, curve25519: str, plaintext: bytes) -> tuple[Ciphertext, vodozemac.Session]:
        session = self._by_key[curve25519][0]
        return encode(session.encrypt(plaintext)), session

    def decrypt(self, account: vodozemac.Account, sender_key: str, ciphertext: Ciphertext) -> Decrypted:
        """Decrypt with a session of ``sender_key`` (or a new inbound one); :class:`DecryptFailed` else."""
        try:
            raw = base64.b64decode(ciphertext.body, validate=True)
            message = vodozemac.AnyOlmMessage.from_parts(ciphertext.type, raw)
            sender = vodozemac.Curve25519PublicKey.from_base64(sender_key)
        except (ValueError, binascii.Error):
            raise DecryptFailed("garbage") from None
        sessions = self._by_key.get(sender_key, [])
        pre_key = message.to_pre_key() if ciphertext.type == 0 else None
        if ciphertext.type == 0 and pre_key is None:
            raise DecryptFailed("garbage")
        for session in sessions:
            if pre_key is not None and not session.session_matches(pre_key):
                continue
            try:
                return Decrypted(session.decrypt(message), session, new_session=False)
            except ValueError:
                if pre_key is not None:
                    raise DecryptFailed("mac") from None  # its own session refused it: altered
                continue
        if pre_key is None:
            raise DecryptFailed("mac" if sessions else "no_session")
        try:
            session, plaintext = account.create_inbound_session(sender, pre_key)
        except ValueError:
            raise DecryptFailed("mac") from None
        self.add(sender_key, session)
        return Decrypted(plaintext, session, new_session=True)
