"""Action messages (``/me``) in the store: the flag is written by every insert path (SQLite's fast
path, asyncpg's batch, the generic SQLAlchemy INSERT) and read back by every read (the batch's
result, history pages, replays, nonce look-ups)."""

from __future__ import annotations

from datetime import datetime

import pytest

from chatapp.server.store import MessageDraft, Store
from tests.server.store.helpers import make_users, replayed
from tests.support.databases import ScratchDatabase


def test_an_encrypted_message_carries_no_action_flag_outside(now: datetime) -> None:
    with pytest.raises(ValueError, match="inside its ciphertext"):
        MessageDraft(sender_id=1, text="{}", created_at=now, recipient_id=2, encrypted=True, action=True)


async def test_the_flag_survives_every_path(
    any_store: Store, now: datetime, database: ScratchDatabase
) -> None:
    store = any_store
    alice, bob = await make_users(store, now, "alice", "bob")
    room, _, _ = await store.join_room(alice.id, "dev", now)
    await store.join_room(bob.id, "dev", now)

    def draft(text: str, action: bool, **to: int) -> MessageDraft:
        return MessageDraft(sender_id=alice.id, text=text, created_at=now, nonce=text, action=action, **to)

    drafts = [
        draft("waves", True, room_id=room.id),
        draft("hello", False, room_id=room.id),
        draft("winks", True, recipient_id=bob.id),
        draft("plain", False, recipient_id=bob.id),
    ]
    stored = await store.insert_messages(drafts)
    assert [m.action for m in stored] == [True, False, True, False]
    assert database.rows("SELECT text, action FROM messages ORDER BY id") == [
        ("waves", True),
        ("hello", False),
        ("winks", True),
        ("plain", False),
    ]

    assert await replayed(store, bob.id, 0, 100) == stored
    page, _ = await store.room_history(room.id, before=None, after=None, limit=10)
    assert [(m.text, m.action) for m in page] == [("waves", True), ("hello", False)]
    page, _ = await store.dm_history(alice.id, bob.id, before=None, after=None, limit=10)
    assert [(m.text, m.action) for m in page] == [("winks", True), ("plain", False)]

    # A resend is recognised, read back through the nonce look-up with its flag.
    (again,) = await store.insert_messages([draft("waves", True, room_id=room.id)])
    assert again.duplicate and again.action and again.id == stored[0].id
