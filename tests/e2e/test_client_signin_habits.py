"""The sign-in dialogue against a real server: a taken name asks only for a name; a frozen session is
offered to be taken over, saying how long it would otherwise last."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chatapp.client.ui.signin import SignInOptions, sign_in
from chatapp.protocol import Bye, Presence
from tests.client.harness import ENTER, fake_terminal
from tests.e2e.test_client_chat import new_session, wire
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD


@pytest.fixture
def server(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    """The dialogue's side only (the server's side runs on both databases in tests/server)."""
    return server_factory(tmp_path / "chat.db").start()


def typed(*answers: str) -> str:
    return "".join(answer + ENTER for answer in answers)


async def test_a_taken_name_asks_for_another_name_and_keeps_the_password(server: ServerProcess) -> None:
    taken = await wire(server, "taken")
    session = new_session(server)
    try:
        await session.connect()
        with fake_terminal() as (pipe, terminal):
            pipe.send_text(typed("2", "taken", PASSWORD, PASSWORD, "untaken"))
            ok = await asyncio.wait_for(sign_in(session, SignInOptions()), 20)
        assert ok.username == "untaken"
        after = terminal.plain().split("That username is already taken; please choose another one.", 1)[1]
        assert "Username:" in after and "Password" not in after
    finally:
        await session.aclose()
        await taken.close()


async def test_signed_in_elsewhere_says_how_long_a_frozen_session_lasts_and_takes_it_over(
    server: ServerProcess,
) -> None:
    frozen = await wire(server, "frozen")  # signed in, and it will never say another word
    session = new_session(server)
    try:
        await session.connect()
        with fake_terminal() as (pipe, terminal):
            pipe.send_text(typed("1", "frozen", PASSWORD, "y"))
            ok = await asyncio.wait_for(sign_in(session, SignInOptions()), 20)
        assert ok.username == "frozen"
        screen = terminal.plain()
        assert "This account is already signed in somewhere else (from 127.0.0.1:" in screen
        assert "if it is frozen, the server ends it by itself in " in screen
        assert "Take that session over? It will be signed out. [y/N]" in screen
        bye = await frozen.expect(Bye, skip=(Presence,))
        assert bye.reason == "replaced by another login"
    finally:
        await session.aclose()
        await frozen.close()
