"""Devices and their public keys, for end-to-end encrypted direct messages (docs/protocol.md, "End-to-end
encrypted direct messages").

The server holds public keys only and checks what it can: that a device's keys are signed by its
own Ed25519 key for this user and id (:func:`chatapp.protocol.e2e_frames.device_signing_text`),
the device limit, the key cap, and on every encrypted ``dm`` that the sending device is one of the
sender's. That last check is on the message path, so the device ids and Curve25519 keys of each
sender are kept in memory (:class:`DeviceCache`), read once and dropped whenever that user
publishes or deletes a device (on any server process: with ``--redis-url`` the others are told,
:class:`~chatapp.server.control_events.DevicesChanged`).

An Ed25519 verification takes tens of microseconds: it runs on the event loop, as an executor hop
would cost as much; ``publish_keys`` is limited to 10 a minute per connection.
"""

from __future__ import annotations

import logging

from chatapp.clock import utc_now, wire_timestamp
from chatapp.device_signature import signature_holds
from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.protocol.e2e_frames import (
    ClaimedKey,
    DeviceDeleted,
    DeviceInfo,
    DeviceList,
    Envelope,
    IdentityKeys,
    KeysPublished,
    OneTimeKey,
    PublishKeys,
)
from chatapp.protocol.frame_base import Ref
from chatapp.protocol.limits import DEVICES_MAX, ONE_TIME_KEYS_MAX
from chatapp.server.control_events import ALONE, DevicesChanged, Others
from chatapp.server.services.limits import Limits
from chatapp.server.services.people import find_user
from chatapp.server.session import Session
from chatapp.server.store import (
    DeviceConflict,
    DeviceRecord,
    KeyRecord,
    Store,
    TooManyDevices,
    TooManyKeys,
)

log = logging.getLogger("chatapp.devices")

CACHED_USERS_MAX = 10_000
"""Senders whose devices are kept in memory; past it the cache starts again (a read per sender)."""


class DeviceCache:
    """Each sender's device ids and their Curve25519 keys, read from the store once."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._known: dict[int, dict[str, str]] = {}
        self._changes = 0
        """Bumped by every :meth:`forget`: a read that saw one begin meanwhile is not kept."""

    async def keys(self, user_id: int) -> dict[str, str]:
        known = self._known.get(user_id)
        if known is not None:
            return known
        changes = self._changes
        found = await self._store.device_keys(user_id)
        if changes == self._changes:
            if len(self._known) >= CACHED_USERS_MAX:
                self._known.clear()
            self._known[user_id] = found
        return found

    def forget(self, user_id: int) -> None:
        """The user's devices changed (called once the change is committed): read them again."""
        self._changes += 1
        self._known.pop(user_id, None)

    def forget_all(self) -> None:
        """Changes may have been missed (a reconnect to the other processes): read everyone again."""
        self._changes += 1
        self._known.clear()


def _info(record: DeviceRecord) -> DeviceInfo:
    return DeviceInfo(
        device=record.device,
        keys=IdentityKeys(curve25519=record.curve25519, ed25519=record.ed25519),
        signature=record.signature,
        added=wire_timestamp(record.added_at),
        name=record.name,
    )


def _no_such_device(device: str) -> ProtocolError:
    return ProtocolError(ErrorCode.NO_SUCH_DEVICE, f"there is no device {device!r}")


class Devices:
    """Publishing, listing, claiming and deleting devices and keys; the sending device's check."""

    def __init__(self, store: Store, limits: Limits, others: Others = ALONE) -> None:
        self._store = store
        self._limits = limits
        self._others = others
        self.cache = DeviceCache(store)

    def _changed(self, user_id: int) -> None:
        """The user's devices changed (or may have): read them again, here and on the others."""
        self.cache.forget(user_id)
        self._others.tell(DevicesChanged(user_id))

    async def publish(self, session: Session, frame: PublishKeys) -> KeysPublished:
        self._limits.check_keys(session, "publish")
        if not signature_holds(session.username, frame.device, frame.keys, frame.signature):
            raise ProtocolError(
                ErrorCode.BAD_SIGNATURE, "the signature does not verify with the device's Ed25519 key"
            )
        device = DeviceRecord(
            device=frame.device,
            curve25519=frame.keys.curve25519,
            ed25519=frame.keys.ed25519,
            signature=frame.signature,
            name=frame.name or None,
            added_at=utc_now(),
        )
        one_time = [_key(key) for key in frame.one_time_keys or ()]
        fallback = _key(frame.fallback_key) if frame.fallback_key is not None else None
        try:
            unclaimed = await self._store.publish_device(
                session.user_id,
                device,
                one_time,
                fallback,
                devices_max=DEVICES_MAX,
                keys_max=ONE_TIME_KEYS_MAX,
            )
        except DeviceConflict as exc:
            raise ProtocolError(
                ErrorCode.DEVICE_CONFLICT,
                f"device {frame.device!r} is registered with other identity keys; choose a new device id",
            ) from exc
        except TooManyDevices as exc:
            raise ProtocolError(
                ErrorCode.TOO_MANY_DEVICES,
                f"you have {DEVICES_MAX} devices, the most allowed; delete one first",
            ) from exc
        except TooManyKeys as exc:
            raise ProtocolError(
                ErrorCode.BAD_FRAME,
                f"the device has {exc.unclaimed} unclaimed one-time keys: {exc.adding} more would be "
                f"over {exc.most}; nothing was added",
            ) from exc
        finally:
            self._changed(session.user_id)
        # Sizes and ids only: keys are public, but there is no use in logging them.
        log.debug("keys published user=%s device=%s unclaimed=%d", session.username, frame.device, unclaimed)
        return KeysPublished(device=frame.device, one_time_keys=unclaimed, ref=frame.ref)

    async def list_devices(self, session: Session, username: str, ref: Ref) -> DeviceList:
        self._limits.check_keys(session, "devices")
        user = await find_user(self._store, username)
        devices = await self._store.list_devices(user.id)
        return DeviceList(username=user.username, devices=[_info(d) for d in devices], ref=ref)

    async def claim(self, session: Session, username: str, device: str, ref: Ref) -> ClaimedKey:
        self._limits.check_keys(session, "claim")
        user = await find_user(self._store, username)
        claimed = await self._store.claim_key(user.id, device)
        if claimed is None:
            raise _no_such_device(device)
        if claimed.key is None:
            raise ProtocolError(
                ErrorCode.NO_KEYS, f"device {device!r} of {user.username} has no keys left; try later"
            )
        key = OneTimeKey(key_id=claimed.key.key_id, key=claimed.key.key)
        return ClaimedKey(username=user.username, device=device, key=key, fallback=claimed.fallback, ref=ref)

    async def delete(self, session: Session, device: str, ref: Ref) -> DeviceDeleted:
        try:
            deleted = await self._store.delete_device(session.user_id, device)
        finally:
            self._changed(session.user_id)
        if not deleted:
            raise _no_such_device(device)
        return DeviceDeleted(device=device, ref=ref)

    async def check_sender(self, session: Session, envelope: Envelope) -> None:
        """An encrypted message comes from one of the sender's devices, under its own key."""
        keys = await self.cache.keys(session.user_id)
        if keys.get(envelope.device) != envelope.key:
            raise ProtocolError(
                ErrorCode.NO_SUCH_DEVICE,
                f"{envelope.device!r} is not one of your devices (or not with that key); publish its keys",
            )


def _key(key: OneTimeKey) -> KeyRecord:
    return KeyRecord(key_id=key.key_id, key=key.key)
