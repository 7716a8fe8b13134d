"""Devices and their keys for end-to-end encrypted direct messages (part of :class:`~.store.Store`).

The server keeps public keys only: each device's identity keys (Curve25519, Ed25519) and their
signature, its supply of one-time keys and its fallback key. Publishing and deleting lock the
user's row first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time), so
that two connections of one user cannot together pass the device limit or the key cap.

A claim takes a one-time key away in one statement, ``DELETE ... WHERE id = (SELECT ... FOR
UPDATE SKIP LOCKED) RETURNING``: on PostgreSQL two concurrent claims lock different rows, and on
SQLite (where FOR UPDATE is not rendered) the write turn runs one claim at a time. Either way no
two claims ever get the same key.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .backend import Backend
from .errors import DeviceConflict, TooManyDevices, TooManyKeys
from .models import Device, OneTimeKey, User
from .orm_ops import NO_SYNC
from .records import ClaimedKey, DeviceRecord, KeyRecord


def _device_record(row: Device) -> DeviceRecord:
    return DeviceRecord(
        device=row.device,
        curve25519=row.curve25519,
        ed25519=row.ed25519,
        signature=row.signature,
        name=row.name,
        added_at=row.added_at,
    )


async def _lock_user(session: AsyncSession, user_id: int) -> None:
    """Serialise a user's device changes (a no-op on SQLite, which writes one at a time anyway)."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


async def _device_row(session: AsyncSession, user_id: int, device: str) -> Device | None:
    return await session.scalar(select(Device).where(Device.user_id == user_id, Device.device == device))


class Devices:
    _backend: Backend

    async def publish_device(
        self,
        user_id: int,
        device: DeviceRecord,
        one_time_keys: Sequence[KeyRecord],
        fallback_key: KeyRecord | None,
        *,
        devices_max: int,
        keys_max: int,
    ) -> int:
        """Register ``device`` for the user (its first publish) and add keys to its supply; return
        how many unclaimed one-time keys it has now.

        A known device id with other identity keys is :class:`DeviceConflict` (nothing changes;
        its name and signature are those of the first publish). A new device past ``devices_max``
        is :class:`TooManyDevices`. One-time key ids the device has already are left alone; if the
        new ones would take the device past ``keys_max`` unclaimed keys, :class:`TooManyKeys`
        and nothing at all is stored (the device is not registered either). A fallback key
        replaces the device's previous one.
        """
        async with self._backend.writing() as session:
            await _lock_user(session, user_id)
            row = await _device_row(session, user_id, device.device)
            if row is not None and (row.curve25519, row.ed25519) != (device.curve25519, device.ed25519):
                raise DeviceConflict(f"device {device.device!r} has other identity keys")
            known: set[str] = set()
            if row is None:
                count = await session.scalar(select(func.count()).where(Device.user_id == user_id))
                if (count or 0) >= devices_max:
                    raise TooManyDevices(f"the user has {count} devices")
            else:
                found = await session.scalars(select(OneTimeKey.key_id).where(OneTimeKey.device_id == row.id))
                known = set(found)
            fresh: dict[str, str] = {}
            for key in one_time_keys:
                if key.key_id not in known:
                    fresh.setdefault(key.key_id, key.key)
            if len(known) + len(fresh) > keys_max:
                raise TooManyKeys(len(known), len(fresh), keys_max)
            if row is None:
                row = Device(
                    user_id=user_id,
                    device=device.device,
                    curve25519=device.curve25519,
                    ed25519=device.ed25519,
                    signature=device.signature,
                    name=device.name,
                    added_at=device.added_at,
                )
                session.add(row)
                await session.flush()
            if fallback_key is not None:
                row.fallback_key_id, row.fallback_key = fallback_key.key_id, fallback_key.key
            session.add_all(
                OneTimeKey(device_id=row.id, key_id=key_id, key=key, added_at=device.added_at)
                for key_id, key in fresh.items()
            )
            return len(known) + len(fresh)

    async def list_devices(self, user_id: int) -> list[DeviceRecord]:
        """The user's devices, the oldest first."""
        async with self._backend.reading() as session:
            rows = await session.scalars(
                select(Device).where(Device.user_id == user_id).order_by(Device.added_at, Device.id)
            )
            return [_device_record(row) for row in rows]

    async def device_keys(self, user_id: int) -> dict[str, str]:
        """The user's device ids and each one's Curve25519 key: what an encrypted message's sending
        device is checked against."""
        async with self._backend.reading() as session:
            rows = await session.execute(
                select(Device.device, Device.curve25519).where(Device.user_id == user_id)
            )
            return {row.device: row.curve25519 for row in rows}

    async def claim_key(self, user_id: int, device: str) -> ClaimedKey | None:
        """Take one of the device's one-time keys away (the oldest), else its fallback key (which is
        kept); None if the user has no such device. See the module's note on concurrent claims."""
        async with self._backend.writing() as session:
            row = (
                await session.execute(
                    select(Device.id, Device.fallback_key_id, Device.fallback_key).where(
                        Device.user_id == user_id, Device.device == device
                    )
                )
            ).first()
            if row is None:
                return None
            oldest = (
                select(OneTimeKey.id)
                .where(OneTimeKey.device_id == row.id)
                .order_by(OneTimeKey.id)
                .limit(1)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            claimed = (
                await session.execute(
                    delete(OneTimeKey)
                    .where(OneTimeKey.id == oldest)
                    .returning(OneTimeKey.key_id, OneTimeKey.key),
                    execution_options=NO_SYNC,
                )
            ).first()
            if claimed is not None:
                return ClaimedKey(KeyRecord(claimed.key_id, claimed.key))
            if row.fallback_key_id is not None and row.fallback_key is not None:
                return ClaimedKey(KeyRecord(row.fallback_key_id, row.fallback_key), fallback=True)
            return ClaimedKey(None)

    async def delete_device(self, user_id: int, device: str) -> bool:
        """Remove one of the user's devices with its keys; False if the user has no such device."""
        async with self._backend.writing() as session:
            await _lock_user(session, user_id)
            row = await _device_row(session, user_id, device)
            if row is None:
                return False
            # The keys go by the foreign key's cascade (SQLite: foreign_keys=ON), said here too so
            # that no key outlives its device whatever the connection's settings.
            await session.execute(
                delete(OneTimeKey).where(OneTimeKey.device_id == row.id), execution_options=NO_SYNC
            )
            await session.delete(row)
            return True

    async def unclaimed_keys(self, user_id: int, device: str) -> int:
        """How many one-time keys the device has left (0 for no such device)."""
        async with self._backend.reading() as session:
            count = await session.scalar(
                select(func.count(OneTimeKey.id))
                .join(Device, Device.id == OneTimeKey.device_id)
                .where(Device.user_id == user_id, Device.device == device)
            )
            return int(count or 0)
