"""Stored messages as frames, and lists fitted into one frame: for replies, replays and fan-out."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import msgspec

from chatapp.clock import wire_timestamp
from chatapp.protocol import Direct, Message, encode
from chatapp.protocol.e2e_frames import Envelope
from chatapp.protocol.file_frames import FileInfo
from chatapp.protocol.frame_base import Ref
from chatapp.server.store import StoredMessage

T = TypeVar("T")

_ENVELOPE = msgspec.json.Decoder(Envelope)
_FILE = msgspec.json.Decoder(FileInfo)


def _file(stored: StoredMessage) -> FileInfo | None:
    """The file a message shares, as stored with it (none on a tombstone)."""
    if stored.file is None or stored.removed_by is not None:
        return None
    return _FILE.decode(stored.file)

FRAME_OVERHEAD = 512
"""Room left in a frame for the fields around a list (type, room, has_more), the ``ref`` apart."""


ENVELOPE_HEADROOM = 2048
"""Bytes of a frame an encrypted message's envelope leaves to everything around it in a page of
history: the page's own fields (``FRAME_OVERHEAD``), the longest ``ref`` escaped, and the
``direct`` frame's other fields (names, id, time, the nonce escaped). An envelope larger than
``max_frame`` less this would fit in no page, and a client paging back would be stuck behind it."""


def reply_budget(max_frame: int, ref: Ref) -> int:
    """The bytes a reply carrying ``ref`` has for its list: the frame limit less the echoed ref
    (a string ref of ``REF_MAX`` control characters takes six bytes each once escaped)."""
    return max_frame - len(msgspec.json.encode(ref))


def message_frame(
    stored: StoredMessage,
    *,
    for_sender: bool = False,
    replayed: bool = False,
    ref: Ref = None,
    envelope: Envelope | None = None,
) -> Message | Direct:
    """The frame of a stored message. The client-chosen ``nonce`` is only on the sender's copies
    (``for_sender``): nobody else has any use for it, and it is the sender's to see. ``envelope``:
    an encrypted message's envelope when the caller has it decoded already (a message just sent),
    so that it is not decoded again from the stored text."""
    ts = wire_timestamp(stored.created_at)
    nonce = stored.nonce if for_sender else None
    if stored.room is not None:
        return Message(
            id=stored.id,
            room=stored.room,
            sender=stored.sender,
            text=stored.text,
            ts=ts,
            nonce=nonce,
            replayed=replayed,
            removed_by=stored.removed_by,
            action=stored.action and stored.removed_by is None,
            file=_file(stored),
            ref=ref,
        )
    assert stored.recipient is not None
    text = stored.text
    if not stored.encrypted or stored.removed_by is not None:
        envelope = None
    else:
        if envelope is None:  # the envelope as stored, which the server checked when it was sent
            envelope = _ENVELOPE.decode(stored.text)
        text = ""
    return Direct(
        id=stored.id,
        sender=stored.sender,
        to=stored.recipient,
        text=text,
        e2e=envelope,
        ts=ts,
        nonce=nonce,
        replayed=replayed,
        removed_by=stored.removed_by,
        action=stored.action and stored.removed_by is None,
        file=_file(stored),
        ref=ref,
    )


def message_frames(
    stored: Sequence[StoredMessage], viewer: str, *, replayed: bool = False
) -> list[Message | Direct]:
    """Stored messages as ``viewer`` (a username) sees them: nonces on its own messages only."""
    return [message_frame(m, for_sender=m.sender == viewer, replayed=replayed) for m in stored]


def replay_encoder(viewer: str) -> Callable[[list[StoredMessage]], tuple[bytes, list[int]]]:
    """How a page of ``viewer``'s replay becomes the bytes to send (each message encoded with
    ``replayed``, nonces on the viewer's own only) and its ids.

    The encoder runs where the store read the page (a reader thread on SQLite), not on the event loop.
    """

    def encode_replayed(messages: list[StoredMessage]) -> tuple[bytes, list[int]]:
        frames = b"".join([encode(m) for m in message_frames(messages, viewer, replayed=True)])
        return frames, [message.id for message in messages]

    return encode_replayed


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
