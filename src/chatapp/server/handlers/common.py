"""Small pieces every handler module uses: stored messages as frames, fitting pages in a frame."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from chatapp.clock import wire_timestamp
from chatapp.protocol import Direct, Message, encode
from chatapp.server.store import StoredMessage

T = TypeVar("T")

FRAME_OVERHEAD = 512
"""Room left in a frame for the fields around a list (type, ref, room, has_more)."""


def message_frame(stored: StoredMessage, *, replayed: bool = False) -> Message | Direct:
    ts = wire_timestamp(stored.created_at)
    if stored.room is not None:
        return Message(
            id=stored.id,
            room=stored.room,
            sender=stored.sender,
            text=stored.text,
            ts=ts,
            nonce=stored.nonce,
            replayed=replayed,
        )
    assert stored.recipient is not None
    return Direct(
        id=stored.id,
        sender=stored.sender,
        to=stored.recipient,
        text=stored.text,
        ts=ts,
        nonce=stored.nonce,
        replayed=replayed,
    )


def encode_replayed(messages: list[StoredMessage]) -> tuple[bytes, list[int]]:
    """A page of a replay as the bytes to send (each message encoded with ``replayed``) and its ids.

    Runs where the store read the page (a reader thread on SQLite), not on the event loop.
    """
    frames = b"".join([encode(message_frame(message, replayed=True)) for message in messages])
    return frames, [message.id for message in messages]


def fit(
    items: Sequence[T], size_of: Callable[[T], int], budget: int, *, keep_newest: bool
) -> tuple[list[T], bool]:
    """As many items as fit in ``budget`` bytes; True if some were left out.

    ``keep_newest`` drops from the front (a page of older messages keeps those
    nearest the present); otherwise from the back.
    """
    chosen: list[T] = []
    used = FRAME_OVERHEAD
    ordered = reversed(items) if keep_newest else iter(items)
    for item in ordered:
        used += size_of(item) + 1
        if used > budget:
            break
        chosen.append(item)
    if keep_newest:
        chosen.reverse()
    return chosen, len(chosen) < len(items)


def encoded_size(frame: Message | Direct) -> int:
    return len(encode(frame))
