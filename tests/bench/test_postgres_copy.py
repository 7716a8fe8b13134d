"""The bench's copy of its prepared SQLite database into PostgreSQL (bench/postgres.py), with real
databases: every row arrives with its id, and the sequences go on after the highest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench.postgres import copy_rows

from chatapp.server.store import Store
from chatapp.server.store.records import MessageDraft
from tests.support.databases import ScratchDatabase


async def test_rows_are_copied_with_their_ids_and_sequences_go_on(
    tmp_path: Path, postgres_database: ScratchDatabase
) -> None:
    now = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
    source_url = f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}"
    source = await Store.open(source_url)
    try:
        alice = await source.create_user("Alice", "hash", now)
        first = await source.insert_messages(
            [MessageDraft(sender_id=alice.id, room_id=1, text="hi", created_at=now)]
        )
    finally:
        await source.close()
    # A table whose id is not a number (a file's is a random string) has no sequence to move on.
    ScratchDatabase("sqlite", source_url, tmp_path / "bench.db").execute(
        "INSERT INTO files (id, owner_id, sha256, size, name, encrypted, created_at) "
        f"VALUES ('f1', {alice.id}, '{'0' * 64}', 1, 'a.txt', false, '2026-12-05 08:00:00')"
    )

    await copy_rows(source_url, postgres_database.url)

    assert postgres_database.rows("SELECT id, username FROM users") == [(alice.id, "Alice")]
    assert postgres_database.rows("SELECT id FROM files") == [("f1",)]
    target = await Store.open(postgres_database.url)
    try:
        (second,) = await target.insert_messages(
            [MessageDraft(sender_id=alice.id, room_id=1, text="again", created_at=now)]
        )
    finally:
        await target.close()
    assert second.id > first[0].id
