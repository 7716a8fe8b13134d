"""From rows to records, by name: ORM objects and result rows become the records of :mod:`.records`.

Every mapping here reads columns by their name (an ORM attribute or a labelled
column), never by position, so a statement can add or reorder columns freely.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from .models import Message, Room, User, UserSession
from .records import RoomRecord, SessionRecord, StoredMessage, UserRecord


def user_record(user: User) -> UserRecord:
    return UserRecord(
        id=user.id,
        username=user.username,
        password_hash=user.password_hash,
        role=user.role,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def session_record(row: UserSession) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        user_id=row.user_id,
        peer=row.peer,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
    )


def room_record(room: Room) -> RoomRecord:
    return RoomRecord(
        id=room.id,
        name=room.name,
        topic=room.topic,
        owner_id=room.owner_id,
        created_at=room.created_at,
        private=room.private,
    )


_SENDER = aliased(User, name="sender")
_RECIPIENT = aliased(User, name="recipient")

# Messages with names instead of ids, in one query (outer joins: a message is a room message or a
# DM), each column labelled as the StoredMessage field it fills; sender_id is for matching
# nonces. Statements are immutable: refine with .where().
MESSAGE_SELECT = (
    select(
        Message.id,
        Room.name.label("room"),
        _SENDER.username.label("sender"),
        _RECIPIENT.username.label("recipient"),
        Message.text,
        Message.nonce,
        Message.created_at,
        Message.sender_id,
        Message.removed_by,
        Message.encrypted,
        Message.action,
        Message.file,
    )
    .select_from(Message)
    .join(_SENDER, _SENDER.id == Message.sender_id)
    .outerjoin(Room, Room.id == Message.room_id)
    .outerjoin(_RECIPIENT, _RECIPIENT.id == Message.recipient_id)
)


def stored_message(row: Any) -> StoredMessage:
    """A row of :data:`MESSAGE_SELECT` (or a statement with the same labels) as its record."""
    return StoredMessage(
        id=row.id,
        room=row.room,
        sender=row.sender,
        recipient=row.recipient,
        text=row.text,
        nonce=row.nonce,
        created_at=row.created_at,
        removed_by=row.removed_by,
        encrypted=bool(row.encrypted),
        action=bool(row.action),
        file=row.file,
    )
