"""The database schema as SQLAlchemy 2.x typed models.

Only :mod:`chatapp.server.store` uses these classes; the rest of the server sees
the plain records of :mod:`chatapp.server.store.repository`. Every change here
needs a new alembic revision in ``migrations/versions`` (a test compares the two).

The same models serve PostgreSQL via asyncpg, with one difference: the foreign keys
of :mod:`.unenforced`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Explicit names make constraints addressable by later migrations: SQLite cannot
# ALTER a constraint, so batch mode recreates tables and must know every name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

DEFAULT_ROLE = "user"

# Ids are 64-bit: a large install passes 2**31 messages (and sessions) in time. SQLite's INTEGER
# is 64-bit already, and only a column declared exactly INTEGER PRIMARY KEY is the rowid (which
# AUTOINCREMENT needs): so INTEGER there, BIGINT elsewhere (PostgreSQL). Revision 0004.
Id = BigInteger().with_variant(Integer(), "sqlite")

# "<lower user id>:<higher user id>": two 19-digit ids and a colon. SQLite does not enforce a
# VARCHAR's length, so its column keeps the width it was created with rather than rebuilding
# the messages table for a declaration it ignores.
DM_KEY = String(40).with_variant(String(24), "sqlite")


def require_aware(moment: datetime) -> datetime:
    """``moment`` itself; ``ValueError`` if it is naive (the store refuses to guess its zone)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: the store only accepts timezone-aware datetimes")
    return moment


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that is always UTC, on every backend.

    SQLite has no timestamp type: SQLAlchemy stores the wall-clock digits and
    hands back naive datetimes, so a non-UTC value would silently shift and a
    naive one would be ambiguous. Normalising here, in the type, means no query
    can forget to.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return require_aware(value).astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    __tablename__ = "users"
    # Fetch server-generated values (role) right after INSERT: a lazy load on
    # first access would need a database round trip outside the greenlet.
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    # Uniqueness on a stored lowercase key rather than a functional index or a
    # collation, because lower() indexes and NOCASE differ between SQLite and
    # PostgreSQL, and the key is what the protocol rules call "the same name".
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), server_default=DEFAULT_ROLE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The highest message id delivered to the user when their last session
    # ended: what they missed is what came after it.
    seen_message_id: Mapped[int] = mapped_column(Id, server_default="0")
    # The profile (revision 0005): sanitised and length-checked by the protocol's rules.
    display_name: Mapped[str | None] = mapped_column(String(64))
    bio: Mapped[str | None] = mapped_column(String(300))
    # The display name's key (protocol.profile_rules.name_key: NFKC, case-folded; folding can
    # triple a character's length): unique, so two users cannot take one name at once.
    display_name_key: Mapped[str | None] = mapped_column(String(192), index=True, unique=True)


class UserSession(Base):
    """A resumable sign-in; the row outlives the TCP connection that made it."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    peer: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Indexed because start-up crash recovery looks for the rows still open.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    # The server process that opened (or last resumed) it: each process ends only its own at start
    # and shutdown, and the others end those of a process that died (docs/design.md). NULL on rows
    # from before revision 0012.
    node: Mapped[str | None] = mapped_column(String(32), index=True)


class Room(Base):
    __tablename__ = "rooms"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # Lowercase, validated by the caller (protocol.rules.check_room).
    name: Mapped[str] = mapped_column(String(32), unique=True)
    # text("''"), not "": alembic's comparison reads an empty string default as
    # differing from the '' SQLite reports back.
    topic: Mapped[str] = mapped_column(String(300), server_default=text("''"))
    owner_id: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Invited users only; hidden from the room list of everyone else (revision 0005).
    private: Mapped[bool] = mapped_column(Boolean(), server_default=text("false"))


class Membership(Base):
    __tablename__ = "memberships"

    # The primary key (user_id, room_id) serves "rooms of a user"; the index on
    # room_id serves "members of a room" and the cascade from rooms.
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    room_id: Mapped[int] = mapped_column(
        Id, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime())


def _ONLY_SET(column: str) -> dict[str, Any]:  # noqa: N802 - reads as a constant in an Index()
    """The options of a partial index of the rows where ``column`` is set, on both databases."""
    where = text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


_FALSE = text("false")
"""For a column of :class:`Message`, whose own ``text`` hides sqlalchemy's ``text()``."""


class Message(Base):
    """A room message (``room_id`` set) or a direct message (``recipient_id`` and ``dm_key`` set)."""

    __tablename__ = "messages"
    __table_args__ = (
        # NULL nonces never collide (in SQLite and PostgreSQL alike). Its
        # leading sender_id also serves the cascade from users.
        UniqueConstraint("sender_id", "nonce", name="uq_messages_sender_id_nonce"),
        Index("ix_messages_room_id_id", "room_id", "id"),
        # Direct messages only (partial): a room message, the most common kind by far, costs
        # no entry in either (a third less work per row for PostgreSQL; revision 0004).
        Index("ix_messages_dm_key_id", "dm_key", "id", **_ONLY_SET("dm_key")),
        Index("ix_messages_recipient_id_id", "recipient_id", "id", **_ONLY_SET("recipient_id")),
        # Retention pruning.
        Index("ix_messages_created_at", "created_at"),
        # Who may read a file: the message that carries it (revision 0007; few messages have one).
        Index("ix_messages_file_id", "file_id", unique=True, **_ONLY_SET("file_id")),
        # Ids only ever increase: SQLite's plain rowid reuses the id of a
        # deleted last row; AUTOINCREMENT never does. (PostgreSQL sequences
        # never reuse either; the option is ignored there.)
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    # On PostgreSQL these three references are not enforced: see .unenforced.
    room_id: Mapped[int | None] = mapped_column(Id, ForeignKey("rooms.id", ondelete="CASCADE"))
    sender_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    recipient_id: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    # "<lower user id>:<higher user id>": one index serves a conversation both ways.
    dm_key: Mapped[str | None] = mapped_column(DM_KEY)
    text: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A removed message is a tombstone: its text is emptied and these say by whom and when.
    removed_by: Mapped[str | None] = mapped_column(String(32))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # An end-to-end encrypted direct message (revision 0006): ``text`` holds its envelope, the JSON
    # the client sent (chatapp.protocol.e2e_frames.Envelope), which the server cannot read.
    encrypted: Mapped[bool] = mapped_column(Boolean(), server_default=_FALSE)
    # An action message, "/me waves" (revision 0008); an encrypted one carries the flag inside.
    action: Mapped[bool] = mapped_column(Boolean(), server_default=_FALSE)
    # A message that shares a file (revision 0007): its id (``files.id``), and the file as the
    # frames show it (chatapp.protocol.file_frames.FileInfo as JSON). A file never changes once
    # posted, so the copy is read with the message and no page needs a join.
    file_id: Mapped[str | None] = mapped_column(String(32))
    file: Mapped[str | None] = mapped_column(Text)


def dm_key(user_a: int, user_b: int) -> str:
    """The conversation key of two users, the same whichever of them is first."""
    low, high = sorted((user_a, user_b))
    return f"{low}:{high}"


class RoomOperator(Base):
    """A room operator, appointed by the owner or an admin; the owner is ``rooms.owner_id``."""

    __tablename__ = "room_operators"

    room_id: Mapped[int] = mapped_column(Id, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    granted_by: Mapped[str | None] = mapped_column(String(32))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RoomInvite(Base):
    """Leave for a user to join a private room."""

    __tablename__ = "room_invites"

    room_id: Mapped[int] = mapped_column(Id, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    invited_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RoomSanction(Base):
    """A ban (``kind`` "ban": cannot join, send, read) or a mute ("mute": cannot send) in one room."""

    __tablename__ = "room_sanctions"

    room_id: Mapped[int] = mapped_column(Id, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    reason: Mapped[str | None] = mapped_column(String(300))
    actor: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # None: until lifted. An expired row is as good as none; it is deleted when next met.
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AccountSanction(Base):
    """A suspension (``kind`` "suspend": no sign-in at all) or a server-wide mute ("mute")."""

    __tablename__ = "account_sanctions"

    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    reason: Mapped[str | None] = mapped_column(String(300))
    actor: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AddressBan(Base):
    """An address or a CIDR range refused at accept time."""

    __tablename__ = "address_bans"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # Normalised (ipaddress.ip_network(..., strict=False)): one row per range.
    network: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str | None] = mapped_column(String(300))
    actor: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEvent(Base):
    """One moderation or admin action, filter hit or sanction: who did what to whom, when, from where.

    Names, not ids: the record must outlive the accounts and rooms it names. Never a password
    or a token.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(64))
    room: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(300))
    address: Mapped[str | None] = mapped_column(String(64))


class Device(Base):
    """One client installation of a user, with its public identity keys (end-to-end encryption).

    ``device`` is the id the client chose (unique per user); ``id`` is the row's own, which the
    one-time keys refer to. The identity keys of a device never change. Revision 0006.
    """

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("user_id", "device", name="uq_devices_user_id_device"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    device: Mapped[str] = mapped_column(String(32))
    curve25519: Mapped[str] = mapped_column(String(43))
    ed25519: Mapped[str] = mapped_column(String(43))
    # Ed25519 signature by ``ed25519`` of chatapp.protocol.e2e_frames.device_signing_text.
    signature: Mapped[str] = mapped_column(String(86))
    name: Mapped[str | None] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The fallback key, handed out (and kept) when the one-time keys run out; replaced by the next.
    fallback_key_id: Mapped[str | None] = mapped_column(String(32))
    fallback_key: Mapped[str | None] = mapped_column(String(43))


class OneTimeKey(Base):
    """An unclaimed one-time Curve25519 key of a device: a claim deletes it."""

    __tablename__ = "one_time_keys"
    # The unique (device_id, key_id) index also serves the claim's "first key of this device" and
    # the cascade from devices.
    __table_args__ = (UniqueConstraint("device_id", "key_id", name="uq_one_time_keys_device_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    device_id: Mapped[int] = mapped_column(Id, ForeignKey("devices.id", ondelete="CASCADE"))
    key_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(43))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())

class StoredFile(Base):
    """A whole uploaded file whose digest matched (revision 0007): its blob is ``files-dir/blobs/``
    its SHA-256. Several files may share a blob. ``attached_at`` is set when a message names it."""

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger())
    name: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str | None] = mapped_column(String(127))
    encrypted: Mapped[bool] = mapped_column(Boolean(), server_default=_FALSE)
    room_id: Mapped[int | None] = mapped_column(Id, ForeignKey("rooms.id", ondelete="CASCADE"))
    recipient_id: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Upload(Base):
    """An unfinished upload (revision 0007): what arrived is ``files-dir/partial/`` its id, whose
    size is how far it got (each chunk is checked before it is written, so any prefix is right)."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger())
    name: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str | None] = mapped_column(String(127))
    encrypted: Mapped[bool] = mapped_column(Boolean(), server_default=_FALSE)
    room_id: Mapped[int | None] = mapped_column(Id, ForeignKey("rooms.id", ondelete="CASCADE"))
    recipient_id: Mapped[int | None] = mapped_column(Id, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ServerSecret(Base):
    """A secret every server process sharing the database uses (revision 0007): the key of the
    download tickets, made by the first process that needs it."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
