"""Room moderation: act on a user in a room, make it private or public, delete it, remove a
message, list its bans and mutes. The services decide and act; these only hand the frames over."""

from __future__ import annotations

from chatapp.protocol.moderation_frames import DeleteMessage, DeleteRoom, ListSanctions, Moderate, RoomMode
from chatapp.server.services import Services
from chatapp.server.session import Session


async def on_moderate(session: Session, frame: Moderate, services: Services) -> None:
    await services.rooms.moderate(session, frame)


async def on_room_mode(session: Session, frame: RoomMode, services: Services) -> None:
    await services.rooms.set_mode(session, frame)


async def on_delete_room(session: Session, frame: DeleteRoom, services: Services) -> None:
    await services.rooms.delete_room(session, frame)


async def on_delete_message(session: Session, frame: DeleteMessage, services: Services) -> None:
    await services.removal.remove(session, frame)


async def on_sanctions(session: Session, frame: ListSanctions, services: Services) -> None:
    session.send(await services.rooms.list_sanctions(session, frame))
