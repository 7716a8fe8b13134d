"""Other users' devices as this client knows them: fetched, signature-checked, cached, trusted or not.

Device lists come from the server (``devices``), which could lie: every
device's signature is checked (:func:`~.safety.signed`) and a device that
fails is left out, with a notice. Lists are cached for :data:`MAX_AGE`
seconds and fetched again before a send when older.

Trust: the first devices seen of a user are remembered; a device that comes
later is a plain notice for an unverified user, and for a verified one
(``/verify``) it stops the message (:meth:`DeviceDirectory.check_trust`) until
the user runs ``/verify NAME`` again or ``/trust NAME``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chatapp.protocol import DeviceInfo, ListDevices
from chatapp.protocol.e2e_frames import DeviceList

from ..net.events import E2eNote
from ..ui.sanitize import sanitize
from .safety import key_fingerprint, signed, unknown_devices

if TYPE_CHECKING:
    from .agent import E2eSession

MAX_AGE = 30.0
"""Seconds a fetched device list is used before a send fetches it again."""


def describe(devices: list[DeviceInfo]) -> str:
    return ", ".join(f"{d.device} (key {key_fingerprint(d.keys.ed25519)})" for d in devices)


class DeviceDirectory:
    """Device lists by user (lower case): see the module docstring."""

    def __init__(self, session: E2eSession) -> None:
        self._session = session
        self._cache: dict[str, tuple[float, list[DeviceInfo]]] = {}
        self.max_age = MAX_AGE

    def forget(self) -> None:
        """After a reconnect: devices may have come and gone meanwhile."""
        self._cache.clear()

    async def of(self, username: str, *, needed: str | None = None, fresh: bool = False) -> list[DeviceInfo]:
        """``username``'s devices with valid signatures.

        Fetched unless cached, holding ``needed``, and (``fresh``) recent.
        """
        key = username.lower()
        cached = self._cache.get(key)
        if cached is not None:
            age = time.monotonic() - cached[0]
            has_needed = needed is None or any(d.device == needed for d in cached[1])
            if has_needed and (not fresh or age < self.max_age):
                return cached[1]
        answer = await self._session.ask(lambda ref: ListDevices(username=username, ref=ref))
        assert isinstance(answer, DeviceList)
        good = [d for d in answer.devices if signed(username, d)]
        bad = [d for d in answer.devices if d not in good]
        if bad:
            self._session.emit(E2eNote(
                f"The server lists a device of {sanitize(username)} whose keys are not signed by it "
                f"({', '.join(sanitize(d.device) for d in bad)}): it is ignored, and nothing is encrypted "
                f"for it. The server may be tampering with keys.", peer=username, level="warning"))
        self._cache[key] = (time.monotonic(), good)
        return good

    def cached(self, username: str) -> list[DeviceInfo] | None:
        entry = self._cache.get(username.lower())
        return entry[1] if entry is not None else None

    async def check_trust(self, username: str, devices: list[DeviceInfo]) -> str | None:
        """A warning that stops the message (a verified user's new device), or None; notes the rest."""
        known, verified = await self._session.in_vault(lambda v: v.store.trusted(username))
        new = unknown_devices(devices, known)
        if not new:
            return None
        name = sanitize(username)
        if verified:
            return (f"WARNING: {name}, whom you verified, has a new or changed device: {describe(new)}. "
                    f"Nothing was sent. Compare safety numbers again with /verify {name}, or accept the "
                    f"new devices with /trust {name}.")
        if known and username.lower() == (self._session.username or "").lower():
            self._session.emit(E2eNote(
                f"A new device was added to your account: {describe(new)}. It reads the direct messages "
                f"you send from now on; if it is not yours, change your password and /devices remove it.",
                level="warning"))
        elif known:
            plural = "s" if len(new) > 1 else ""
            self._session.emit(E2eNote(f"{name} has a new device{plural}: {describe(new)}.", peer=username))
        current = {d.device: d.keys.ed25519 for d in devices}
        await self._session.in_vault(lambda v: v.store.set_trusted(username, current, verified=False))
        return None
