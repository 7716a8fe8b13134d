"""Helpers of the room moderation tests: users online, rooms joined, moderators made."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from chatapp.protocol import Error, HistoryPage, Join, Joined, Message, Presence
from chatapp.protocol.moderation_frames import Moderate, RoomEvent
from tests.support.databases import ScratchDatabase
from tests.support.wire import WireClient

Connect = Callable[..., Awaitable[WireClient]]


async def online(connect: Connect, name: str) -> WireClient:
    client = await connect()
    await client.register(name)
    return client


async def join(client: WireClient, room: str) -> Joined:
    await client.send(Join(room=room, ref=f"join-{room}"))
    joined = await client.expect(Joined, skip=(Presence, RoomEvent))
    await client.expect(HistoryPage, skip=(Presence, RoomEvent))
    return joined


async def moderate(client: WireClient, room: str, action: str, user: str, **fields: object) -> RoomEvent:
    """Send ``moderate`` and return the actor's own event (with its ref)."""
    ref = client.next_ref()
    await client.send(Moderate(room=room, action=action, user=user, ref=ref, **fields))  # type: ignore[arg-type]
    while True:  # whatever else comes first (presences, messages, others' events) is passed over
        frame = await client.recv()
        if isinstance(frame, Error):
            raise AssertionError(f"moderate was refused: {frame!r}")
        if isinstance(frame, RoomEvent) and frame.ref == ref:
            return frame


async def refused(client: WireClient, frame: object, code: str) -> Error:
    """Send ``frame`` and expect an error with ``code`` (events in between passed over)."""
    await client.send(frame)  # type: ignore[arg-type]
    return await client.expect_error(code, skip=(Presence, RoomEvent, Message))


async def event(client: WireClient, action: str) -> RoomEvent:
    """The next room event, which must be ``action`` (presences passed over)."""
    found = await client.expect(RoomEvent, skip=(Presence,))
    assert found.action == action, found
    return found


def audit_rows(database: ScratchDatabase) -> list[tuple[object, ...]]:
    """The audit events stored, oldest first: (actor, action, target, room, reason)."""
    return database.rows("SELECT actor, action, target, room, reason FROM audit_events ORDER BY id")


async def make_role(database: ScratchDatabase, username: str, role: str) -> None:
    """Give an account a server role in the database (it takes effect at its next sign-in). In a
    thread: the server in this event loop may hold the write lock meanwhile."""
    sql = "UPDATE users SET role = :role WHERE username = :name"
    assert await asyncio.to_thread(database.execute, sql, role=role, name=username) == 1
