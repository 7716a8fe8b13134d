"""Where relayed messages get their id and timestamp.

Today messages live only in memory (ids increase for the life of the
process); durable history replaces :class:`MemoryMessageLog` with one backed by
the store's group-commit writer, behind the same ``append`` method, so the
connection and the hub do not change.
"""

from __future__ import annotations

from typing import Protocol

from chatapp.clock import utc_now, wire_timestamp
from chatapp.protocol import Message


class MessageLog(Protocol):
    async def append(self, room: str, sender: str, text: str, nonce: str | None) -> Message:
        """Assign id and time to a message and make it durable (if this log is durable)."""
        ...


class MemoryMessageLog:
    def __init__(self) -> None:
        self._last_id = 0

    async def append(self, room: str, sender: str, text: str, nonce: str | None) -> Message:
        self._last_id += 1
        return Message(
            id=self._last_id, room=room, sender=sender, text=text, ts=wire_timestamp(utc_now()), nonce=nonce
        )
