"""Fixtures of the end-to-end tests that drive the real chat screen."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatapp.client import ChatSession
from tests.client.harness import Screen, running_screen
from tests.e2e.test_client_chat import signed_in
from tests.support.server import ServerProcess


@pytest.fixture
async def alice(server: ServerProcess) -> AsyncIterator[ChatSession]:
    """Alice, registered and signed in with the real client (a module may define its own)."""
    session = await signed_in(server)
    yield session
    await session.aclose()


@pytest.fixture
async def screen(alice: ChatSession) -> AsyncIterator[Screen]:
    """Alice's chat screen, once she is online in #general."""
    async with running_screen(alice) as running:
        await running.wait_line("You are online in #general.")
        yield running


@pytest.fixture(autouse=True)
def _client_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Device files (end-to-end keys), settings and input history of clients started here go to temporary
    directories, never home."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("client-data")))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("client-config")))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("client-state")))
