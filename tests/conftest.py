from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[ServerProcess]]:
    """Start servers as subprocesses; every one started is killed at the end of the test."""
    started: list[ServerProcess] = []

    class _Tracked(ServerProcess):
        def start(self, timeout: float = 30.0) -> ServerProcess:
            if self not in started:
                started.append(self)
            return super().start(timeout)

    yield _Tracked
    for proc in started:
        proc.close()


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    """A running server subprocess on a fresh SQLite file."""
    return server_factory(tmp_path / "chat.db").start()
