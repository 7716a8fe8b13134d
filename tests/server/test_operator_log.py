"""What an operator reads at start and stop: where the database is, what was migrated, no noise."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import make_url

from tests.server.conftest import ServerFactory
from tests.support.databases import ScratchDatabase


@pytest.mark.empty_database
async def test_start_says_where_the_database_is_and_what_was_migrated(
    start_server: ServerFactory, database: ScratchDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        first = await start_server()
        await first.shutdown()
        second = await start_server()
        await second.shutdown()

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event=database ")]
    assert len(lines) == 2
    where = str(database.path) if database.path is not None else make_url(database.url).database
    assert all(str(where) in line for line in lines)
    assert all("chatapp-test-password" not in line for line in lines)  # the password is masked
    assert "migrated_from=" in lines[0] and "none" in lines[0].split("migrated_from=")[1]
    assert 'migrated_from="no migration needed"' in lines[1]
    # The store's internal statistics at shutdown are for debugging, not the operator's log.
    stopped = [r for r in caplog.records if " stopped: " in r.getMessage()]
    assert stopped and all(r.levelno == logging.DEBUG for r in stopped)
