"""Devices and their keys for end-to-end encrypted direct messages: handed to the devices service."""

from __future__ import annotations

from chatapp.protocol.e2e_frames import ClaimKey, DeleteDevice, ListDevices, PublishKeys
from chatapp.server.services import Services
from chatapp.server.session import Session


async def on_publish_keys(session: Session, frame: PublishKeys, services: Services) -> None:
    session.send(await services.devices.publish(session, frame))


async def on_devices(session: Session, frame: ListDevices, services: Services) -> None:
    session.send(await services.devices.list_devices(session, frame.username, frame.ref))


async def on_claim_key(session: Session, frame: ClaimKey, services: Services) -> None:
    session.send(await services.devices.claim(session, frame.username, frame.device, frame.ref))


async def on_delete_device(session: Session, frame: DeleteDevice, services: Services) -> None:
    session.send(await services.devices.delete(session, frame.device, frame.ref))
