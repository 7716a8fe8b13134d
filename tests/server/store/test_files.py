"""Shared files' metadata in the store: uploads and their limits, finishing, posting, who may read,
what the sweeper removes, the ticket key (on both databases, on every backend)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from chatapp.server.store import FileLimits, FileRecord, MessageDraft, Store, UploadRefused
from tests.server.store.helpers import make_users

DIGEST, OTHER = "ab" * 32, "cd" * 32
LIMITS = FileLimits(max_size=1000, quota=2500, budget=4000, uploads=2)


def upload(n: int, owner: int, now: datetime, *, size: int = 100, sha256: str = DIGEST,
           room_id: int | None = None, recipient_id: int | None = None) -> FileRecord:
    return FileRecord(
        id=f"UPLOAD{n:010d}", owner_id=owner, sha256=sha256, size=size, name=f"f{n}.bin", mime=None,
        encrypted=False, room_id=room_id, recipient_id=recipient_id, created_at=now,
    )


async def room_id(store: Store, user_id: int, now: datetime, name: str = "dev") -> int:
    room, _, _ = await store.join_room(user_id, name, now)
    return room.id


async def test_a_new_upload_is_resumed_by_the_same_size_digest_and_target(
    any_store: Store, now: datetime
) -> None:
    store = any_store
    alice, bob = await make_users(store, now, "alice", "bob")
    dev = await room_id(store, alice.id, now)
    first, resumed = await store.start_upload(upload(1, alice.id, now, room_id=dev), LIMITS)
    assert not resumed
    again, resumed = await store.start_upload(upload(2, alice.id, now, room_id=dev), LIMITS)
    assert resumed and again.id == first.id
    # Another target, size or user is another upload.
    other, resumed = await store.start_upload(upload(3, alice.id, now, recipient_id=bob.id), LIMITS)
    assert not resumed and other.id == "UPLOAD0000000003"
    assert await store.find_upload(first.id, alice.id) == first
    assert await store.find_upload(first.id, bob.id) is None


@pytest.mark.parametrize(
    ("kind", "size", "limit", "over"),
    [("size", 1500, 1000, 500), ("uploads", 10, 2, 1), ("quota", 900, 2500, 600), ("budget", 900, 4000, 100)],
)
async def test_each_limit_refuses_with_its_numbers(
    any_store: Store, now: datetime, kind: str, size: int, limit: int, over: int
) -> None:
    store = any_store
    alice, bob = await make_users(store, now, "alice", "bob")
    dev = await room_id(store, alice.id, now)
    if kind == "uploads":
        for n in (1, 2):
            await store.start_upload(upload(n, alice.id, now, room_id=dev, sha256=f"{n:064x}"), LIMITS)
    if kind == "quota":  # alice holds 2,200 bytes: one finished file and one unfinished upload
        await store.start_upload(upload(1, alice.id, now, room_id=dev, size=1000, sha256="1" * 64), LIMITS)
        await store.finish_upload("UPLOAD0000000001", replace(upload(1, alice.id, now, room_id=dev,
                                                                     size=1000), id="FILE000000000001"))
        await store.start_upload(upload(2, alice.id, now, room_id=dev, size=1000, sha256="2" * 64), LIMITS)
        await store.start_upload(upload(3, alice.id, now, room_id=dev, size=200, sha256="3" * 64),
                                 replace(LIMITS, uploads=5))
    if kind == "budget":  # bob holds 1,000 and alice 2,000 + 200 = 3,200
        await store.start_upload(upload(1, bob.id, now, recipient_id=alice.id, size=1000), LIMITS)
        await store.start_upload(upload(2, alice.id, now, room_id=dev, size=1000, sha256="2" * 64), LIMITS)
        await store.start_upload(upload(3, alice.id, now, room_id=dev, size=1000, sha256="3" * 64), LIMITS)
        await store.start_upload(upload(4, alice.id, now, room_id=dev, size=200, sha256="4" * 64),
                                 replace(LIMITS, uploads=5, quota=10_000))
        limits = replace(LIMITS, uploads=5, quota=10_000)
    else:
        limits = replace(LIMITS, uploads=5) if kind == "quota" else LIMITS
    with pytest.raises(UploadRefused) as info:
        await store.start_upload(upload(9, alice.id, now, room_id=dev, size=size, sha256="9" * 64), limits)
    assert (info.value.kind, info.value.limit, info.value.over) == (kind, limit, over)


async def test_concurrent_starts_cannot_pass_the_uploads_limit(any_store: Store, now: datetime) -> None:
    store = any_store
    (alice,) = await make_users(store, now, "alice")
    dev = await room_id(store, alice.id, now)
    results = await asyncio.gather(
        *(
            store.start_upload(upload(n, alice.id, now, room_id=dev, sha256=f"{n:064x}"), LIMITS)
            for n in range(6)
        ),
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 2
    assert all(isinstance(r, UploadRefused) for r in results if isinstance(r, BaseException))


async def test_finish_claim_post_and_access(any_store: Store, now: datetime) -> None:
    store = any_store
    alice, bob = await make_users(store, now, "alice", "bob")
    dev = await room_id(store, alice.id, now)
    started, _ = await store.start_upload(upload(1, alice.id, now, room_id=dev), LIMITS)
    file = replace(started, id="FILE000000000001")
    assert await store.finish_upload(started.id, file)
    assert not await store.finish_upload(started.id, file)  # the upload is gone: no second file
    assert await store.find_upload(started.id, alice.id) is None
    access = await store.file_access(file.id)
    assert access is not None and access.file == file and access.message_id is None
    # Only the owner, for the target it was uploaded for, once.
    assert await store.claim_file(file.id, bob.id, dev, None, now) is False
    assert await store.claim_file(file.id, alice.id, None, bob.id, now) is False
    claimed = await store.claim_file(file.id, alice.id, dev, None, now)
    assert claimed == file
    assert await store.claim_file(file.id, alice.id, dev, None, now) is True
    [stored] = await store.insert_messages([
        MessageDraft(sender_id=alice.id, text="", created_at=now, room_id=dev, file_id=file.id, file="{}")
    ])
    assert stored.file == "{}"
    access = await store.file_access(file.id)
    assert access is not None
    assert (access.message_id, access.room_id, access.sender_id) == (stored.id, dev, alice.id)
    # A removed message shares no file any more.
    assert await store.remove_message(stored.id, "alice", now)
    access = await store.file_access(file.id)
    assert access is not None and access.message_id is None
    assert await store.file_access("NOSUCHFILE000000") is None


async def test_orphans_are_unposted_old_files_and_files_whose_message_is_gone(
    any_store: Store, now: datetime
) -> None:
    store = any_store
    (alice,) = await make_users(store, now, "alice")
    dev = await room_id(store, alice.id, now)
    ids = []
    for n in range(3):
        started, _ = await store.start_upload(
            upload(n, alice.id, now, room_id=dev, sha256=f"{n:064x}"), replace(LIMITS, uploads=5)
        )
        ids.append(f"FILE00000000000{n}")
        await store.finish_upload(started.id, replace(started, id=ids[-1]))
    later = now + timedelta(hours=2)
    # 0: never posted; 1: posted by a message that is then pruned; 2: posted by a live message.
    for n in (1, 2):
        assert isinstance(await store.claim_file(ids[n], alice.id, dev, None, now), FileRecord)
    await store.insert_messages([
        MessageDraft(sender_id=alice.id, text="", created_at=now - timedelta(days=9), room_id=dev,
                     file_id=ids[1], file="{}"),
        MessageDraft(sender_id=alice.id, text="", created_at=now, room_id=dev, file_id=ids[2], file="{}"),
    ])
    assert await store.orphan_files(later) == [ids[0]]
    assert await store.orphan_files(now) == []  # nothing is old enough yet
    await store.prune_messages(now - timedelta(days=1))
    assert sorted(await store.orphan_files(later)) == ids[:2]
    assert await store.digests_in_use([f"{n:064x}" for n in range(3)]) == {f"{n:064x}" for n in range(3)}
    await store.delete_files(ids[:2])
    assert await store.digests_in_use([f"{n:064x}" for n in range(3)]) == {f"{2:064x}"}
    assert await store.stale_uploads(later) == []


async def test_the_first_secret_stored_is_the_one_everyone_reads(any_store: Store) -> None:
    first = await any_store.server_secret("tickets", "one")
    assert first == "one"
    assert await any_store.server_secret("tickets", "two") == "one"

