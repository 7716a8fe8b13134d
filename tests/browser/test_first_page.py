"""The web port seen from a real browser (headless Chromium): the web client's page loads under its
Content-Security-Policy, opens protocol v1 over the WebSocket of its own origin and shows the
welcome; a page of another origin is refused the WebSocket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatapp.server.app import ChatServer
from tests.server.conftest import fast_config
from tests.support.browser import page_errors

WAIT_MS = 10_000


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[ChatServer]:
    database = f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"
    server = ChatServer(fast_config(database, web_port=0, server_name="browser test"))
    await server.start()
    yield server
    await server.shutdown()


async def test_the_page_shows_the_servers_welcome(web: ChatServer, browser_context: Any) -> None:
    page = await browser_context.new_page()
    await page.goto(f"http://127.0.0.1:{web.web_port}/")
    server_name = page.locator("#server")
    await server_name.filter(has_text="browser test").wait_for(timeout=WAIT_MS)
    assert await server_name.text_content() == "browser test"
    assert await page.locator("#conn").text_content() == "Connected to browser test."
    assert await page.locator("#signin-submit").is_enabled()  # the sign-in form waits for the welcome
    assert page_errors(page) == []  # no CSP violation, no script error


async def test_a_page_of_another_origin_cannot_open_the_websocket(
    web: ChatServer, browser_context: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="chatapp.activity")
    # Another site on this machine (another port: another origin), a real server of its own.
    async def evil_site(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b"<!doctype html><title>another site</title>"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n")
        writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    evil = await asyncio.start_server(evil_site, "127.0.0.1", 0)
    page = await browser_context.new_page()
    await page.goto(f"http://127.0.0.1:{evil.sockets[0].getsockname()[1]}/")
    code = await page.evaluate(
        """port => new Promise(resolve => {
            const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
            socket.onopen = () => resolve("opened");
            socket.onclose = event => resolve(event.code);
        })""",
        web.web_port,
    )
    assert code == 1006  # the handshake was refused (403): never opened
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event=refused ")]
    assert any("reason=origin" in line for line in refused)
    evil.close()
    await evil.wait_closed()
