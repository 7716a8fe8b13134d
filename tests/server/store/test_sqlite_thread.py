"""The fast paths' thread: calls run in order on one connection, errors come back, close finishes them."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from chatapp.server.store.sqlite_thread import CHECKPOINT_EVERY, SqliteThread

pytestmark = pytest.mark.sqlite_only  # the SQLite fast paths' own thread


async def test_calls_run_in_order_on_one_connection_in_one_other_thread(tmp_path: Path) -> None:
    thread = SqliteThread(tmp_path / "t.db", ["journal_mode=WAL"], "sqlite-test")
    seen: list[tuple[int, int, str]] = []

    def step(i: int) -> object:
        def run(connection: sqlite3.Connection) -> int:
            seen.append((i, id(connection), threading.current_thread().name))
            return i * 2

        return run

    try:
        results = await asyncio.gather(*(thread.call(step(i)) for i in range(20)))  # type: ignore[arg-type]
    finally:
        thread.close()
    assert results == [i * 2 for i in range(20)]
    assert [i for i, _, _ in seen] == list(range(20))
    assert len({conn for _, conn, _ in seen}) == 1
    assert {name for _, _, name in seen} == {"sqlite-test"}


async def test_an_error_in_the_thread_is_raised_to_the_caller_and_the_thread_goes_on(tmp_path: Path) -> None:
    thread = SqliteThread(tmp_path / "t.db", [], "sqlite-test")
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await thread.call(lambda connection: connection.execute("SELECT * FROM nowhere"))
        assert await thread.call(lambda connection: connection.execute("SELECT 7").fetchone()[0]) == 7
    finally:
        thread.close()
    with pytest.raises(RuntimeError, match="closed"):
        await thread.call(lambda connection: None)


async def test_writes_are_checkpointed_now_and_then_by_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    thread = SqliteThread(path, ["journal_mode=WAL"], "sqlite-test")

    def write(connection: sqlite3.Connection) -> None:
        connection.execute("CREATE TABLE IF NOT EXISTS t (x)")
        connection.execute("INSERT INTO t VALUES (1)")
        thread.wrote()

    try:
        await thread.call(write)
        first_size = path.stat().st_size  # the header; the table and its row are in the log only
        for _ in range(CHECKPOINT_EVERY * 2):
            await thread.call(write)
        # The writer's own connection never checkpoints (wal_autocheckpoint=0): only the
        # checkpoint thread can have copied the pages into the database file.
        for _ in range(200):
            if path.stat().st_size > first_size:
                break
            await asyncio.sleep(0.01)
        assert path.stat().st_size > first_size
    finally:
        thread.close()
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM t").fetchone()[0] == CHECKPOINT_EVERY * 2 + 1


def test_a_failing_checkpoint_is_logged_at_most_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A directory that does not exist: the checkpointer cannot even open the database.
    thread = SqliteThread(tmp_path / "missing" / "chat.db", (), "test-writer")
    try:
        with caplog.at_level(logging.WARNING, logger="chatapp.server.store.sqlite_thread"):
            thread._checkpoint()  # noqa: SLF001 - what the checkpointer thread runs
            thread._checkpoint()  # noqa: SLF001
        lines = [r.getMessage() for r in caplog.records if "checkpoint" in r.getMessage()]
        assert len(lines) == 1
        assert "WAL checkpoint of" in lines[0] and "missing" in lines[0] and "1 failures" in lines[0]
    finally:
        thread.close()
