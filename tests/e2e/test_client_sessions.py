"""The real client takes an account back from whoever holds a leaked token, and ends old sessions,
against a real server process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from chatapp.client import ChatSession
from chatapp.client.ui.signin import SignInOptions, sign_in
from chatapp.protocol import Bye, ListSessions, Presence, Resume, SessionList
from tests.client.harness import ENTER, fake_terminal, running_screen
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient


async def test_the_owner_takes_the_account_back_and_ends_an_old_session(server: ServerProcess) -> None:
    # An old session the owner left behind (resumable), and the one whose token leaks.
    phone = await WireClient.connect(server.host, server.port)
    phone_token = (await phone.register("owner")).token
    await phone.send(ListSessions())
    phone_session = (await phone.expect(SessionList, skip=(Presence,))).sessions[0].id
    await phone.close()
    await session_ended(server, phone_session)
    laptop = await WireClient.connect(server.host, server.port)
    leaked = (await laptop.login("owner")).token
    holder = await WireClient.connect(server.host, server.port, local_addr="127.0.0.66")
    await holder.resume(leaked)
    assert (await laptop.expect(Bye, skip=(Presence,))).reason == "replaced by another login"

    session = ChatSession(server.host, server.port)
    try:
        await session.connect()
        with fake_terminal() as (pipe, terminal):
            pipe.send_text(PASSWORD + ENTER + "y" + ENTER)
            ok = await asyncio.wait_for(sign_in(session, SignInOptions(username="owner")), 20)
        assert ok.username == "owner"
        shown = terminal.plain()
        assert "This account is already signed in somewhere else (from 127.0.0.66:" in shown
        assert "Take that session over?" in shown
        assert (await holder.expect(Bye, skip=(Presence,))).reason == "replaced by another login"
        again = await WireClient.connect(server.host, server.port, local_addr="127.0.0.66")
        await again.send(Resume(token=leaked))
        await again.expect_error("invalid_token")

        async with running_screen(session) as screen:
            screen.type("/sessions" + ENTER)
            await screen.wait_line("Your sessions (2; /endsession ID signs one out):")
            assert screen.find("; this one")
            assert screen.find(f"{phone_session}  127.0.0.1:")
            screen.type(f"/endsession {phone_session}" + ENTER)
            await screen.wait_line(f"Session {phone_session} is signed out; its saved login no longer works.")
        thief = await WireClient.connect(server.host, server.port)
        await thief.send(Resume(token=phone_token))
        await thief.expect_error("invalid_token")
        await asyncio.gather(*(client.close() for client in (laptop, holder, again, thief)))
    finally:
        await session.aclose()


async def session_ended(server: ServerProcess, session_id: int) -> None:
    """Wait until the server has stored that the session's connection is gone."""
    for _ in range(500):
        rows = server.rows("SELECT ended_at FROM sessions WHERE id = :id", id=session_id)
        if rows and rows[0][0] is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"session {session_id} stayed open")


async def test_line_mode_takeover(server: ServerProcess, tmp_path: Path) -> None:
    first = await WireClient.connect(server.host, server.port)
    await first.register("scripted")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    base = [
        sys.executable,
        "-m",
        "chatapp.client",
        "--host",
        server.host,
        "--port",
        str(server.port),
        "--user",
        "scripted",
        "--password-stdin",
    ]

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *extra], input=f"{PASSWORD}\nhi\n", capture_output=True, text=True, timeout=20, env=env
        )

    refused = await asyncio.to_thread(run)
    assert refused.returncode == 1
    assert "already signed in somewhere else" in refused.stderr and "--takeover" in refused.stderr
    took = await asyncio.to_thread(run, "--takeover")
    assert took.returncode == 0, took.stderr
    assert "<scripted> hi" in took.stdout
    assert (await first.expect(Bye, skip=(Presence,))).reason == "replaced by another login"
    assert "Traceback" not in refused.stderr + took.stderr
    await first.close()
