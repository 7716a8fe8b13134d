"""The scripted server the client's unit tests talk to (end-to-end tests use the real one)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest

from chatapp.client import Backoff, ChatSession
from tests.client.fakeserver import PASSWORD, FakeServer
from tests.client.harness import Screen, running_screen

FAST = Backoff(initial=0.01, maximum=0.05)
"""Reconnects within tens of milliseconds: the tests that drop the link do not wait."""


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = await FakeServer().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def session(server: FakeServer) -> AsyncIterator[ChatSession]:
    """Alice, registered on the scripted server (a module may define its own)."""
    client = ChatSession(server.host, server.port, backoff=FAST, rng=random.Random(3))
    await client.connect()
    await client.register("alice", PASSWORD)
    yield client
    await client.aclose()


@pytest.fixture
async def screen(session: ChatSession) -> AsyncIterator[Screen]:
    """Alice's chat screen, once she is online in #general."""
    async with running_screen(session) as running:
        await running.wait_line("You are online in #general.")
        yield running


@pytest.fixture(autouse=True)
def _client_data_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Device files (end-to-end keys), settings and input history of clients started here go to temporary
    directories, never home."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("client-data")))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("client-config")))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("client-state")))
