"""Unlocking the device after signing in, typed through a pipe: the previous password, a new device,
or no encryption this run; never a silent replacement. Against the scripted server (which knows no key
frames: encryption then turns itself off, after the device file was dealt with)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatapp.client.e2e.agent import E2eSession
from chatapp.client.e2e.vault import Vault
from chatapp.client.ui.devicekeys import unlock
from tests.client.fakeserver import PASSWORD, FakeServer
from tests.client.harness import ENTER, CapturedTerminal, fake_terminal

OLD = "the old horse battery"


@pytest.fixture
async def session(server: FakeServer) -> AsyncIterator[E2eSession]:
    server.accounts["alice"] = PASSWORD
    client = E2eSession(server.host, server.port)
    await client.connect()
    await client.login("alice", PASSWORD)
    yield client
    await client.aclose()


def old_device(directory: Path) -> str:
    """A device made while the password was OLD (since changed elsewhere to PASSWORD)."""
    vault = Vault.unlock(directory, "alice", OLD)
    device_id = vault.device.device_id
    vault.close()
    return device_id


async def answered(
    session: E2eSession, directory: Path, *answers: str
) -> tuple[str | None, CapturedTerminal]:
    with fake_terminal() as (pipe, terminal):
        pipe.send_text("".join(answer + ENTER for answer in answers))
        asking = unlock(session, directory, PASSWORD, new_device=False, interactive=True)
        off = await asyncio.wait_for(asking, 20)
    return off, terminal


async def test_the_previous_password_opens_it_and_it_is_kept_under_the_new_one(
    session: E2eSession, tmp_path: Path
) -> None:
    device_id = old_device(tmp_path)
    off, terminal = await answered(session, tmp_path, "1", "not it", "1", OLD)
    assert off is None
    screen = terminal.plain()
    assert "do not open with your password" in screen and "That password does not open them either." in screen
    assert OLD not in terminal.text
    await session.aclose()
    vault = Vault.unlock(tmp_path, "alice", PASSWORD)  # wrapped under the new password now
    assert vault.device.device_id == device_id
    vault.close()


async def test_a_new_device_only_when_confirmed_and_going_on_without(
    session: E2eSession, tmp_path: Path
) -> None:
    device_id = old_device(tmp_path)
    off, terminal = await answered(session, tmp_path, "2", "n", "3")
    assert off is not None and "go on without encryption" in off
    assert "can then NOT be read here" in terminal.plain()
    vault = Vault.unlock(tmp_path, "alice", OLD)  # untouched
    assert vault.device.device_id == device_id
    vault.close()
    off, _ = await answered(session, tmp_path, "2", "y")
    assert off is None
    await session.aclose()
    vault = Vault.unlock(tmp_path, "alice", PASSWORD)
    assert vault.device.device_id != device_id
    vault.close()


async def test_line_mode_never_asks_and_a_busy_device_is_said(session: E2eSession, tmp_path: Path) -> None:
    old_device(tmp_path)
    off = await unlock(session, tmp_path, PASSWORD, new_device=False, interactive=False)
    assert off is not None and "--new-device" in off and "do not open with this password" in off
    holder = Vault.unlock(tmp_path, "alice", OLD)
    try:
        off = await unlock(session, tmp_path, OLD, new_device=False, interactive=False)
        assert off is not None and "another chatapp-client is using this device" in off
    finally:
        holder.close()
