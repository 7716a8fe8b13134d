"""chatapp-admin's live half: one question over the control socket of a real server, its answer back."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from chatapp.admin import live
from chatapp.protocol import Error, Join, Ping, Pong, UserInfo, Whois
from tests.server.conftest import Dial, ServerFactory


async def test_a_question_gets_its_answer_by_ref(
    start_server: ServerFactory, dial: Dial, tmp_path: Path
) -> None:
    path = tmp_path / "control.sock"
    server = await start_server(control_socket=str(path))
    await (await dial(server)).register("alice")
    assert await live.ask(path, Ping(ref="q")) == Pong(ref="q")
    info = await live.ask(path, Whois(username="alice", ref="w"))
    assert isinstance(info, UserInfo) and info.username == "alice" and info.online
    refused = await live.ask(path, Join(room="general", ref="j"))
    assert isinstance(refused, Error) and refused.code == "forbidden" and refused.ref == "j"


async def test_no_socket_file_is_no_server(tmp_path: Path) -> None:
    with pytest.raises(live.NoServer):
        await live.ask(tmp_path / "control.sock", Ping(ref=1))


async def test_a_socket_nobody_listens_on_is_no_server(tmp_path: Path) -> None:
    path = tmp_path / "control.sock"
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(path))  # what a server killed with SIGKILL leaves
    left.close()
    with pytest.raises(live.NoServer):
        await live.ask(path, Ping(ref=1))


async def test_something_else_on_the_socket_is_a_failure_not_a_hang(tmp_path: Path) -> None:
    """A socket that answers with something that is not chatapp: one sentence, within the timeout."""
    path = tmp_path / "control.sock"

    async def not_chatapp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_unix_server(not_chatapp, path=str(path))
    try:
        with pytest.raises(live.LiveFailure, match="not a frame|closed"):
            await live.ask(path, Ping(ref=1), timeout=5)
    finally:
        server.close()
        await server.wait_closed()
