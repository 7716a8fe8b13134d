"""Helpers shared by the store tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chatapp.server.store import (
    Backend,
    MessageDraft,
    SessionRecord,
    Store,
    StoredMessage,
    UserRecord,
    create_engine,
)
from tests.support.databases import ScratchDatabase


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


def token(n: int) -> str:
    return f"{n:064x}"


async def make_session(
    store: Store,
    user: UserRecord,
    now: datetime,
    n: int = 1,
    *,
    peer: str = "127.0.0.1:5000",
    hours: int = 24,
) -> SessionRecord:
    """Sign ``user`` in (a new session with token ``token(n)``); the session."""
    return (await store.sign_in(user.id, token(n), peer, now, now + timedelta(hours=hours))).session


async def replayed(store: Store, user_id: int, after: int, limit: int) -> list[StoredMessage]:
    """Up to ``limit`` messages a replay for the user after ``after`` holds, in id order."""
    page, _ = await store.replay_page(user_id, after, None, limit, list)
    return page


def rooms_of(database: ScratchDatabase, user_id: int) -> list[str]:
    """The names of the rooms the user is a member of, as stored."""
    return [
        name
        for (name,) in database.rows(
            "SELECT rooms.name FROM rooms JOIN memberships ON memberships.room_id = rooms.id "
            "WHERE memberships.user_id = :user ORDER BY rooms.name",
            user=user_id,
        )
    ]


async def open_store(url: str, path: str, **options: Any) -> Store:
    """``fast``: the store as Store.open makes it (its database's own backend: SQLite's fast
    paths, asyncpg's batch insert); ``sqlalchemy``: on the generic SQLAlchemy backend."""
    store = await Store.open(url, **options)  # migrates
    if path == "fast":
        return store
    await store.close()
    return Store(Backend(create_engine(url, **options)))
