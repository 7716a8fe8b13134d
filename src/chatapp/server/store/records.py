"""The plain, frozen records the store takes and returns: no ORM objects ever leave the store.

Every datetime in and out is timezone-aware UTC. The rest of the server sees only these
(and the errors of :mod:`.errors`), so it does not depend on SQLAlchemy or on the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from .models import require_aware

NONCE_MAX = 64
"""The width of ``messages.nonce``."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    """As typed at registration; lookups ignore case."""
    password_hash: str
    role: str
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProfileRecord:
    display_name: str | None
    bio: str | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: int
    user_id: int
    peer: str
    """The client address ("ip:port") of the connection that last used the session."""
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    """None while a connection holds the session."""
    end_reason: str | None


@dataclass(frozen=True, slots=True)
class RoomRecord:
    id: int
    name: str
    topic: str
    owner_id: int | None
    """The creator; None for 'general' and once the owner's account is gone."""
    created_at: datetime
    private: bool = False
    """Invited users only (``room_mode``); hidden from the room list of everyone else."""


@dataclass(frozen=True, slots=True)
class RoomSummary:
    name: str
    topic: str
    members: int
    """How many users are members (online or not)."""
    private: bool = False


@dataclass(frozen=True, slots=True)
class SignInRecord:
    """What a login stores and reads in one go: the new session, the user's rooms and seen cursor."""

    session: SessionRecord
    rooms: list[RoomRecord]
    seen_message_id: int


@dataclass(frozen=True, slots=True)
class OpenedDatabase:
    """What :meth:`Store.open` found and did, for the start-up log."""

    url: str
    """The database URL with its password masked."""
    revision: str
    """The schema revision now."""
    migrated_from: str | None
    """The revision before the migrations run at open ("none" for a new database); None if none ran."""


# The two message records are msgspec Structs, not dataclasses: one of each is made per relayed
# message, and a frozen Struct is built about ten times faster than a frozen dataclass.
class StoredMessage(msgspec.Struct, frozen=True):
    id: int
    room: str | None
    """The room's name; None for a direct message."""
    sender: str
    """Usernames as registered."""
    recipient: str | None
    """Set for a direct message only."""
    text: str
    nonce: str | None
    created_at: datetime
    duplicate: bool = False
    """True when this is the message already stored for a resent (sender, nonce): it was not stored again."""
    removed_by: str | None = None
    """Set on a removed message (a tombstone): who removed it; ``text`` is empty then."""
    encrypted: bool = False
    """An end-to-end encrypted direct message: ``text`` is its envelope (JSON), not for showing."""
    action: bool = False
    """An action (``/me waves``): shown as ``* alice waves``. An encrypted message carries its
    action flag inside its ciphertext instead, so it is False there."""
    file: str | None = None
    """The file the message shares, as the frames show it (FileInfo as JSON); None once removed."""


class CommittedBatch(msgspec.Struct, frozen=True):
    """What one batch insert committed: the results in the order of its drafts, and ``prev``, the
    highest message id committed before the batch (PostgreSQL, where the batches of every process
    form one chain: see docs/design.md, "Several processes"; 0 on SQLite and when nothing new was
    stored)."""

    messages: list[StoredMessage]
    prev: int


class Routed(msgspec.Struct, frozen=True):
    """A stored message with what routes it: its sender's and (a direct message) recipient's ids."""

    message: StoredMessage
    sender_id: int
    recipient_id: int | None


class MessageDraft(msgspec.Struct, frozen=True):
    """A message to store: exactly one of ``room_id`` and ``recipient_id`` (a direct message).

    Checked when made (``ValueError``), so that one bad draft cannot fail the
    batch it would have been committed with.
    """

    sender_id: int
    text: str
    created_at: datetime
    room_id: int | None = None
    recipient_id: int | None = None
    nonce: str | None = None
    sender_name: str | None = None
    room_name: str | None = None
    recipient_name: str | None = None
    """The names, when the caller knows them: then the stored message is built
    without reading it back (the hot path of every send)."""
    encrypted: bool = False
    """``text`` is the envelope of an end-to-end encrypted direct message (as the client sent it)."""
    action: bool = False
    """An action message (``/me``); never with ``encrypted`` (the flag is inside the ciphertext)."""
    file_id: str | None = None
    """The file the message shares (claimed for it by :meth:`Store.claim_file`)."""
    file: str | None = None
    """That file as the frames show it (FileInfo as JSON): set with ``file_id``."""

    def __post_init__(self) -> None:
        if (self.room_id is None) == (self.recipient_id is None):
            raise ValueError("a message draft needs exactly one of room_id and recipient_id")
        if self.encrypted and self.recipient_id is None:
            raise ValueError("only a direct message is end-to-end encrypted")
        if self.encrypted and self.action:
            raise ValueError("an encrypted message carries its action flag inside its ciphertext")
        if (self.file_id is None) != (self.file is None):
            raise ValueError("a message shares a file by its id and its description together")
        require_aware(self.created_at)
        if self.nonce is not None and len(self.nonce) > NONCE_MAX:
            raise ValueError(f"a nonce is at most {NONCE_MAX} characters")
        # PostgreSQL cannot store U+0000 in text: one such draft would fail its whole batch there.
        if "\x00" in self.text or (self.nonce is not None and "\x00" in self.nonce):
            raise ValueError("a message's text and nonce must not contain NUL (U+0000)")

    @property
    def named(self) -> bool:
        """Whether the draft carries the names its stored message needs (see :func:`stored_from_draft`)."""
        if self.sender_name is None:
            return False
        return self.room_name is not None if self.room_id is not None else self.recipient_name is not None


def stored_from_draft(draft: MessageDraft, message_id: int) -> StoredMessage:
    """The stored message a draft with names becomes once it has its id."""
    assert draft.sender_name is not None, "a draft with its names (see MessageDraft)"
    return StoredMessage(
        id=message_id,
        room=draft.room_name,
        sender=draft.sender_name,
        recipient=draft.recipient_name,
        text=draft.text,
        nonce=draft.nonce,
        created_at=draft.created_at,
        encrypted=draft.encrypted,
        action=draft.action,
        file=draft.file,
    )


@dataclass(frozen=True, slots=True)
class AuditDraft:
    """An audit event to store. Names, not ids (they outlive accounts and rooms); never a secret."""

    created_at: datetime
    actor: str
    """Who acted: a username, "console" (chatapp-admin), or "server" (the filter)."""
    action: str
    target: str | None = None
    """A username, an address or range, a message id: whatever was acted on."""
    room: str | None = None
    reason: str | None = None
    address: str | None = None
    """Where the actor was connected from."""

    def __post_init__(self) -> None:
        require_aware(self.created_at)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    created_at: datetime
    actor: str
    action: str
    target: str | None
    room: str | None
    reason: str | None
    address: str | None


@dataclass(frozen=True, slots=True)
class SanctionRecord:
    """A ban or mute in force in one room."""

    user_id: int
    username: str
    kind: str
    """``ban`` or ``mute``."""
    created_at: datetime
    actor: str | None
    reason: str | None
    until: datetime | None
    """None: until lifted."""


@dataclass(frozen=True, slots=True)
class AccountSanctionRecord:
    """A suspension (``kind`` "suspend") or a server-wide mute ("mute") of an account."""

    user_id: int
    username: str
    kind: str
    reason: str | None
    actor: str | None
    created_at: datetime
    until: datetime | None
    """None: until lifted."""


@dataclass(frozen=True, slots=True)
class MessageOrigin:
    """Where a stored message belongs, and who wrote it: what removing it needs to know."""

    id: int
    sender_id: int
    room_id: int | None
    room: str | None
    recipient_id: int | None
    removed_by: str | None


@dataclass(frozen=True, slots=True)
class AddressBanRecord:
    network: str
    """Normalised CIDR form (``ipaddress.ip_network(..., strict=False)``): ``203.0.113.7/32``."""
    reason: str | None
    actor: str | None
    created_at: datetime
    until: datetime | None


@dataclass(frozen=True, slots=True)
class UserSummaryRecord:
    """An account as a list of users shows it."""

    id: int
    username: str
    role: str
    created_at: datetime
    display_name: str | None
    suspended: bool
    suspended_until: datetime | None
    """The end of a suspension in force (None with ``suspended``: until lifted)."""


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device of a user, with its public identity keys (end-to-end encryption)."""

    device: str
    """The id its client chose (unique per user)."""
    curve25519: str
    ed25519: str
    signature: str
    """By ``ed25519``, of ``chatapp.protocol.e2e_frames.device_signing_text``."""
    name: str | None
    added_at: datetime


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A one-time key (or a fallback key) of a device: its id among the device's keys, and the key."""

    key_id: str
    key: str


@dataclass(frozen=True, slots=True)
class ClaimedKey:
    """What a claim of a device's key found: a one-time key (now removed), else its fallback key
    (``fallback``), else none (``key`` None)."""

    key: KeyRecord | None
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class FileRecord:
    """An uploaded file (``files``) or an unfinished upload (``uploads``, ``attached_at`` None):
    whose, what, and for which room or person."""

    id: str
    owner_id: int
    sha256: str
    size: int
    name: str
    mime: str | None
    encrypted: bool
    room_id: int | None
    recipient_id: int | None
    created_at: datetime
    attached_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FileLimits:
    """What a new upload may not go past: bytes of one file, of one user's files, of all files
    (unfinished uploads count at their full size), and unfinished uploads per user."""

    max_size: int
    quota: int
    budget: int
    uploads: int


@dataclass(frozen=True, slots=True)
class FileAccess:
    """A file and the message that shares it (None: not posted, or its message is gone)."""

    file: FileRecord
    message_id: int | None = None
    room_id: int | None = None
    sender_id: int | None = None
    recipient_id: int | None = None
    nonce: str | None = None
    """The message's nonce: a resend of the ``send`` that posted the file is recognised by it."""
