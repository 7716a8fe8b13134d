"""Encrypted direct messages in the store: the flag is written by every insert path (SQLite's fast
path, asyncpg's batch, the generic SQLAlchemy INSERT) and read back by every read (the batch's
result, history pages, replays, nonce look-ups), the envelope stored as sent."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
import pytest

from chatapp.server.store import MessageDraft, Store
from tests.server.store.helpers import dm_draft, make_users, replayed, room_draft
from tests.support.databases import ScratchDatabase
from tests.support.olm import TestDevice, fake_ciphertext

ENVELOPE = msgspec.json.encode(
    TestDevice("alice", "LAPTOP01").envelope({"PHONE001": fake_ciphertext(300)})
).decode()


def encrypted_draft(
    sender_id: int, recipient_id: int, now: datetime, nonce: str | None = None
) -> MessageDraft:
    return MessageDraft(
        sender_id=sender_id,
        text=ENVELOPE,
        created_at=now,
        recipient_id=recipient_id,
        nonce=nonce,
        encrypted=True,
    )


def test_only_a_direct_message_is_encrypted(now: datetime) -> None:
    with pytest.raises(ValueError, match="direct message"):
        MessageDraft(sender_id=1, text="x", created_at=now, room_id=1, encrypted=True)


async def test_the_flag_and_the_envelope_survive_every_path(
    any_store: Store, now: datetime, database: ScratchDatabase
) -> None:
    store = any_store
    alice, bob = await make_users(store, now, "alice", "bob")
    drafts = [
        dm_draft(alice, bob, "plain", now, nonce="p1"),
        encrypted_draft(alice.id, bob.id, now, nonce="e1"),
        room_draft(bob, 1, "room", now),
        encrypted_draft(bob.id, alice.id, now),
    ]
    stored = await store.insert_messages(drafts)
    assert [m.encrypted for m in stored] == [False, True, False, True]
    assert [m.text for m in stored] == ["plain", ENVELOPE, "room", ENVELOPE]
    assert database.rows("SELECT text, encrypted FROM messages ORDER BY id") == [
        ("plain", False),
        (ENVELOPE, True),
        ("room", False),
        (ENVELOPE, True),
    ]

    assert await replayed(store, bob.id, 0, 100) == stored
    page, more = await store.dm_history(alice.id, bob.id, before=None, after=None, limit=10)
    assert page == [stored[0], stored[1], stored[3]] and not more

    # A resend of the encrypted one is recognised (read back through the nonce look-up).
    (again,) = await store.insert_messages([encrypted_draft(alice.id, bob.id, now, nonce="e1")])
    assert again.duplicate and again.encrypted and again.id == stored[1].id and again.text == ENVELOPE

    # Removed: the envelope is emptied like a text.
    assert await store.remove_message(stored[1].id, "alice", now)
    removed = [m for m in await replayed(store, bob.id, 0, 100) if m.id == stored[1].id]
    assert removed[0].text == "" and removed[0].removed_by == "alice"


async def test_retention_prunes_encrypted_messages_as_plain_ones(any_store: Store, now: datetime) -> None:
    store = any_store
    alice, bob = await make_users(store, now, "alice", "bob")
    old, new = await store.insert_messages(
        [encrypted_draft(alice.id, bob.id, now), encrypted_draft(alice.id, bob.id, now + timedelta(days=2))]
    )
    assert await store.prune_messages(now + timedelta(days=1)) == 1
    assert await replayed(store, bob.id, 0, 10) == [new]
