"""Helpers shared by the store tests."""

from __future__ import annotations

from datetime import datetime

from chatapp.server.store import MessageDraft, Store, UserRecord


async def make_users(store: Store, now: datetime, *names: str) -> list[UserRecord]:
    return [await store.create_user(name, f"hash-{name}", now) for name in names]


def room_draft(
    sender: UserRecord, room_id: int, text: str, now: datetime, nonce: str | None = None
) -> MessageDraft:
    return MessageDraft(sender_id=sender.id, text=text, created_at=now, room_id=room_id, nonce=nonce)


def dm_draft(
    sender: UserRecord, recipient: UserRecord, text: str, now: datetime, nonce: str | None = None
) -> MessageDraft:
    return MessageDraft(
        sender_id=sender.id, text=text, created_at=now, recipient_id=recipient.id, nonce=nonce
    )
