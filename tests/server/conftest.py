"""An in-process server on a real socket and a real database, for server tests.

End-to-end behaviour that needs a process (signals, crashes, installs) is in
tests/e2e with a subprocess; everything else runs the same ChatServer inside
the test's event loop, which is faster and shows tracebacks directly.

``start_server`` (and ``chat``, ``connect``) use the ``database`` fixture of
tests/conftest.py, so every server test runs on SQLite and on PostgreSQL; a test
about SQLite itself is marked ``@pytest.mark.sqlite_only``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from chatapp.server.app import ChatServer
from chatapp.server.config import Config
from tests.support.databases import ScratchDatabase
from tests.support.wire import WireClient

ServerFactory = Callable[..., Awaitable[ChatServer]]


def fast_config(database_url: str, **overrides: Any) -> Config:
    base = Config(
        port=0,
        database_url=database_url,
        argon2_memory_kib=8,
        argon2_time_cost=1,
        shutdown_timeout=2.0,
        close_grace=0.5,
        min_password_score=0,  # test passwords are short; the default (3) is tested on its own
        # No control socket unless a test asks for one: on PostgreSQL the default would be the
        # user's data directory, shared by every server on the machine.
        control_socket="none",
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture
async def start_server(database: ScratchDatabase) -> AsyncIterator[ServerFactory]:
    """Start in-process servers on the test's database (each backend in turn)."""
    servers: list[ChatServer] = []

    async def start(**overrides: Any) -> ChatServer:
        server = ChatServer(fast_config(database.url, **overrides))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.shutdown()


@pytest.fixture
async def chat(start_server: ServerFactory) -> ChatServer:
    return await start_server()


Dial = Callable[..., Awaitable[WireClient]]


@pytest.fixture
async def dial() -> AsyncIterator[Dial]:
    """Open WireClients to a given server; all are closed at the end of the test."""
    clients: list[WireClient] = []

    async def open_client(
        server: ChatServer, *, local_addr: str | None = None, greet: bool = True
    ) -> WireClient:
        client = await WireClient.connect("127.0.0.1", server.port, local_addr=local_addr, greet=greet)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()


@pytest.fixture
def connect(chat: ChatServer, dial: Dial) -> Callable[..., Awaitable[WireClient]]:
    """Open WireClients to the ``chat`` server; all are closed at the end."""

    async def open_client(*, local_addr: str | None = None, greet: bool = True) -> WireClient:
        return await dial(chat, local_addr=local_addr, greet=greet)

    return open_client
