"""Sharing files in the web client, in a real browser against a real server process: a file sent
with the Attach button and one dropped on the messages reach a terminal-side client whole; a file
shared from the terminal side shows as a file line (its hostile name as text) and downloads as an
attachment with the right bytes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatapp.protocol import Message, Send
from tests.browser.test_web_app import WAIT_MS, connected, open_page, register
from tests.server.file_helpers import download, upload
from tests.support.browser import page_errors
from tests.support.server import ServerProcess
from tests.support.wire import WireClient

DROP = """([name, bytes]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "text/plain" }));
  const pane = document.querySelector(".pane");
  for (const kind of ["dragover", "drop"]) {
    pane.dispatchEvent(new DragEvent(kind, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}"""


@pytest.fixture(scope="module")
def files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("web-files") / "chat.db", "--web-port", "0")
    server.start()
    yield server
    server.close()


def file_of(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "mimeType": "application/octet-stream", "buffer": data}


async def terminal_user(server: ServerProcess, name: str) -> WireClient:
    client = await WireClient.connect("127.0.0.1", server.port)
    await client.register(name)
    return client


async def next_file_message(client: WireClient) -> Message:
    while True:
        frame = await client.recv(WAIT_MS / 1000)
        if isinstance(frame, Message) and frame.file is not None:
            return frame


async def test_files_up_by_button_and_by_drop_and_down_by_link(
    files_server: ServerProcess, browser_context: Any, tmp_path: Path
) -> None:
    page = await open_page(browser_context, files_server)
    await register(page, "wendy")
    terminal = await terminal_user(files_server, "tom")
    try:
        # Up by the Attach button: 100 KB in four chunks, posted to #general.
        data = os.urandom(100_000)
        await page.set_input_files("#file-input", files=[file_of("report.bin", data)])
        got = await next_file_message(terminal)
        assert got.file is not None
        assert (got.sender, got.file.name, got.file.size) == ("wendy", "report.bin", 100_000)
        assert await download(terminal, got.file.id, got.file.size) == data
        own = page.locator("#messages li.msg:not(.pending) .file", has_text="report.bin")
        await own.wait_for(timeout=WAIT_MS)

        # Up by drag and drop.
        dropped = b"dropped on the messages\n" * 50
        await page.evaluate(DROP, ["notes.txt", list(dropped)])
        got = await next_file_message(terminal)
        assert got.file is not None and got.file.name == "notes.txt" and got.file.mime == "text/plain"
        assert await download(terminal, got.file.id, got.file.size) == dropped

        # Down by link: a file from the terminal side, with a name that is markup.
        hostile = "<img src=x onerror=alert(1)>.html"
        shared = os.urandom(50_000)
        done = await upload(terminal, shared, name=hostile, mime="text/html")
        await terminal.send(Send(room="general", text="have a look", file=done.file.id, nonce="t1"))
        line = page.locator("#messages li.msg .file", has_text="onerror")
        await line.wait_for(timeout=WAIT_MS)
        assert await page.locator("#messages img").count() == 0  # shown as text, never as markup
        async with page.expect_download(timeout=WAIT_MS) as waiting:
            await line.locator("button.download").click()
        saved = await (await waiting.value).path()
        assert hashlib.sha256(Path(saved).read_bytes()).hexdigest() == hashlib.sha256(shared).hexdigest()
        assert page.url.endswith("/")  # the page stayed; nothing was opened in its origin
        assert page_errors(page) == []
    finally:
        await terminal.close()


async def test_a_refused_upload_says_which_limit(tmp_path: Path, browser_context: Any) -> None:
    server = ServerProcess(tmp_path / "chat.db", "--web-port", "0", "--max-file-size", "1000")
    server.start()
    try:
        page = await open_page(browser_context, server)
        await register(page, "wendy")
        await connected(page)
        await page.set_input_files("#file-input", files=[file_of("big.bin", b"x" * 1500)])
        note = page.locator("#messages li.note.error", has_text="big.bin")
        await note.wait_for(timeout=WAIT_MS)
        assert await note.text_content() == (
            "Could not share big.bin: the file is too large: the most is 1000 B (500 B over)."
        )
    finally:
        server.close()


