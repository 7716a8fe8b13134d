"""Store fixtures: every store test runs on SQLite and on PostgreSQL (see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatapp.server.store import Store
from tests.server.store.helpers import open_store
from tests.support.databases import ScratchDatabase


@pytest.fixture
def db_url(database: ScratchDatabase) -> str:
    return database.url


@pytest.fixture
def db_path(database: ScratchDatabase) -> Path:
    """The SQLite file, for tests about SQLite itself (mark them ``sqlite_only``)."""
    assert database.path is not None, "db_path is SQLite's: mark the test @pytest.mark.sqlite_only"
    return database.path


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(db_url)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def now() -> datetime:
    return datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.fixture
async def any_store(store_path: str, db_url: str) -> AsyncIterator[Store]:
    """A store on its database's own backend and on the generic SQLAlchemy one, on each database."""
    store = await open_store(db_url, store_path)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def store_path() -> str:
    raise AssertionError("parametrized by tests/conftest.py")  # pragma: no cover
