"""What an encrypted ``dm`` carries, sealed for every device that may read it, and opened on one. Pure.

Inside each ciphertext is a :class:`Payload` (docs/protocol.md): the text and
who sent it to whom, from and for which device. A message is shown only when
the payload matches the ``direct`` frame it came in, this device, and a
device of the sender whose signed keys this client checked; each way it can
fail has its own notice (:data:`NOTICES`), and the failure's bytes are never
shown.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Literal

import msgspec
import vodozemac

from chatapp.protocol import Ciphertext, DeviceInfo, Direct, Envelope

from .device import Device
from .filekey import FileKey
from .olm import DecryptFailed, SessionBook


class Payload(msgspec.Struct, frozen=True, omit_defaults=True):
    """Fields added later are optional and omitted at their default, so a plain message's payload is
    what it always was; unknown fields are ignored (a newer client's), as in every frame."""

    v: Literal[1]
    text: str
    sender: str = msgspec.field(name="from")
    to: str
    sender_device: str
    sender_ed25519: str
    recipient_device: str
    action: bool = False
    """An action (``/me``): sealed here so that the server never learns it."""
    file: FileKey | None = None
    """What opens the file the message shares, when it is encrypted; absent otherwise (so a message
    without a file is the same payload as before files existed)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Recipient:
    """A device to encrypt for: whose, its id, its Curve25519 key."""

    username: str
    device: str
    curve25519: str


NOTICES = {
    "before": "sent before this device was added; not readable here",
    "missing": "not encrypted for this device (the sender's client did not know it yet); not readable here",
    "garbage": "arrived damaged (not a valid encrypted message); not shown",
    "mac": "could not be decrypted: it was altered, or does not fit this device's session with the sender; "
           "not shown",
    "no_session": "could not be decrypted: this device has no session with the sending device; not shown",
    "payload": "could not be read: its content is not a valid message; not shown",
    "mismatch": "does not match the conversation it came in (sender, recipient or device); not shown",
    "device": "comes from a device the sender has not published with a valid signature; not shown",
}
"""Why an encrypted message is not shown, by kind: every one a distinct sentence."""


@dataclasses.dataclass(frozen=True, slots=True)
class Opened:
    """An encrypted message opened on this device: its text, or why not (a kind of :data:`NOTICES`)."""

    text: str | None = None
    problem: str | None = None
    action: bool = False
    file: FileKey | None = None
    sessions: tuple[tuple[str, vodozemac.Session], ...] = ()
    """Sessions changed by opening it (by the sender's key): persist them before showing the text."""
    account_changed: bool = False

    @property
    def notice(self) -> str | None:
        return NOTICES[self.problem] if self.problem else None


def seal(
    device: Device, book: SessionBook, text: str, to: str, recipients: list[Recipient],
    claimed: dict[str, str], file: FileKey | None = None, *, action: bool = False,
) -> tuple[Envelope, list[tuple[str, vodozemac.Session]]]:
    """Encrypt ``text`` for each recipient device; ``claimed``: one-time keys by device id, for new sessions.
    ``action``: an action message (``/me``), the flag sealed with the text.

    Returns the envelope and the sessions it moved on (to persist).
    """
    ciphertexts: dict[str, Ciphertext] = {}
    changed: list[tuple[str, vodozemac.Session]] = []
    for recipient in recipients:
        if not book.has(recipient.curve25519):
            book.start(device.account, recipient.curve25519, claimed[recipient.device])
        payload = Payload(
            v=1, text=text, sender=device.username, to=to.lower(), sender_device=device.device_id,
            sender_ed25519=device.ed25519, recipient_device=recipient.device, action=action, file=file,
        )
        ciphertext, session = book.encrypt(recipient.curve25519, msgspec.json.encode(payload))
        ciphertexts[recipient.device] = ciphertext
        changed.append((recipient.curve25519, session))
    envelope = Envelope(device=device.device_id, key=device.curve25519, ciphertexts=ciphertexts)
    return envelope, changed


def open_direct(
    direct: Direct, device: Device, book: SessionBook, sender_devices: list[DeviceInfo], *,
    device_added: datetime | None = None, sent: datetime | None = None,
) -> Opened:
    """Decrypt the ciphertext of ``direct`` for this device and check its payload.

    ``sender_devices``: the sender's devices whose signatures were checked.
    ``device_added``, ``sent``: when this device was made and the message
    sent, to tell "sent before this device was added" from "not encrypted for it".
    """
    envelope = direct.e2e
    assert envelope is not None
    ciphertext = envelope.ciphertexts.get(device.device_id)
    if ciphertext is None:
        before = device_added is not None and sent is not None and sent < device_added
        return Opened(problem="before" if before else "missing")
    try:
        decrypted = book.decrypt(device.account, envelope.key, ciphertext)
    except DecryptFailed as exc:
        return Opened(problem=exc.kind)
    changed = ((envelope.key, decrypted.session),)
    try:
        payload = msgspec.json.decode(decrypted.plaintext, type=Payload)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Opened(problem="payload", sessions=changed, account_changed=decrypted.new_session)
    known = next((d for d in sender_devices if d.device == envelope.device), None)
    if known is None or known.keys.curve25519 != envelope.key or known.keys.ed25519 != payload.sender_ed25519:
        return Opened(problem="device", sessions=changed, account_changed=decrypted.new_session)
    matches = (
        payload.sender == direct.sender.lower() and payload.to == direct.to.lower()
        and payload.sender_device == envelope.device and payload.recipient_device == device.device_id
    )
    if not matches:
        return Opened(problem="mismatch", sessions=changed, account_changed=decrypted.new_session)
    return Opened(text=payload.text, action=payload.action, file=payload.file, sessions=changed,
                  account_changed=decrypted.new_session)
