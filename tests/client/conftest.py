"""The scripted server the client's unit tests talk to (end-to-end tests use the real one)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.client.fakeserver import FakeServer


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = await FakeServer().start()
    yield fake
    await fake.stop()
