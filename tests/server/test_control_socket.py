"""The control socket: made 0600, signed in as the console, only the console's frames, one per server."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from chatapp.protocol import Bye, Join, Login, Ping, Pong, Presence, Quit, Send, SessionList, UserInfo, Whois
from chatapp.protocol.moderation_frames import (
    AddressBanList,
    Admin,
    AdminDone,
    AuditPage,
    ListAddressBans,
    ListUsers,
    ReadAudit,
    UserList,
    UserSessions,
)
from chatapp.server.app import ChatServer
from chatapp.server.transport.control import ControlSocketError
from tests.server.conftest import Dial, ServerFactory, fast_config
from tests.support.databases import ScratchDatabase
from tests.support.wire import WireClient


@pytest.fixture
def control_path(tmp_path: Path) -> Path:
    return tmp_path / "run" / "control.sock"


async def test_the_socket_is_made_with_mode_0600_and_removed_at_shutdown(
    start_server: ServerFactory, control_path: Path
) -> None:
    server = await start_server(control_socket=str(control_path))
    made = os.stat(control_path)
    assert stat.S_ISSOCK(made.st_mode)
    assert stat.S_IMODE(made.st_mode) == 0o600
    await server.shutdown()
    assert not control_path.exists()


async def test_the_console_is_signed_in_from_the_welcome_and_may_look_users_up(
    start_server: ServerFactory, dial: Dial, control_path: Path
) -> None:
    server = await start_server(control_socket=str(control_path))
    alice = await dial(server)
    await alice.register("alice")
    console = await WireClient.connect_console(str(control_path))
    try:
        await console.send(Ping(ref="p"))
        assert await console.expect(Pong) == Pong(ref="p")
        await console.send(Whois(username="alice", ref="w"))
        info = await console.expect(UserInfo)
        assert (info.username, info.online, info.ref) == ("alice", True, "w")
        await console.send(Quit(ref="q"))
        assert (await console.expect(Bye)).reason == "quit"
    finally:
        await console.close()
    # The console is nobody: alice, in #general, never saw it come or go, and is still online.
    await alice.send(Whois(username="alice", ref=1))
    seen = []
    while not isinstance(frame := await alice.recv(), UserInfo):
        seen.append(frame)
    assert frame.online
    assert all(not isinstance(f, Presence) or f.username == "alice" for f in seen), seen


async def test_frames_of_a_user_are_forbidden_to_the_console_and_it_goes_on(
    start_server: ServerFactory, control_path: Path
) -> None:
    await start_server(control_socket=str(control_path))
    console = await WireClient.connect_console(str(control_path))
    try:
        await console.send(Join(room="general", ref=1))
        refused = await console.expect_error("forbidden")
        assert refused.ref == 1 and "join" in refused.message
        await console.send(Send(room="general", text="hi", ref=2))
        assert (await console.expect_error("forbidden")).ref == 2
        await console.send(Login(username="alice", password="correct horse battery", ref=3))
        assert (await console.expect_error("already_authenticated")).ref == 3
        await console.send(Ping(ref=4))
        assert await console.expect(Pong) == Pong(ref=4)
    finally:
        await console.close()


async def start_and_stop(database: ScratchDatabase, control_path: Path) -> None:
    """Start a server, and shut it down (as chatapp-server does after a failed start)."""
    server = ChatServer(fast_config(database.url, control_socket=str(control_path)))
    try:
        await server.start()
    finally:
        await server.shutdown()


async def test_a_second_server_on_a_live_socket_fails_and_the_first_goes_on(
    start_server: ServerFactory, database: ScratchDatabase, control_path: Path
) -> None:
    await start_server(control_socket=str(control_path))
    with pytest.raises(ControlSocketError, match="another server is running"):
        await start_and_stop(database, control_path)
    console = await WireClient.connect_console(str(control_path))  # still the first server's
    try:
        await console.send(Ping(ref=1))
        await console.expect(Pong)
    finally:
        await console.close()


async def test_a_stale_socket_left_by_a_crashed_server_is_replaced(
    start_server: ServerFactory, control_path: Path
) -> None:
    control_path.parent.mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(control_path))  # bound, never listening: what a killed server leaves behind
    stale.close()
    await start_server(control_socket=str(control_path))
    console = await WireClient.connect_console(str(control_path))
    try:
        await console.send(Ping(ref=1))
        await console.expect(Pong)
    finally:
        await console.close()


async def test_a_file_that_is_not_a_socket_is_left_alone_and_refused(
    database: ScratchDatabase, control_path: Path
) -> None:
    control_path.parent.mkdir()
    control_path.write_text("precious")
    with pytest.raises(ControlSocketError, match="is not a socket"):
        await start_and_stop(database, control_path)
    assert control_path.read_text() == "precious"


async def test_none_turns_the_socket_off(start_server: ServerFactory, tmp_path: Path) -> None:
    await start_server(control_socket="none")
    assert not list(tmp_path.rglob("*.sock"))


CONSOLE_QUESTIONS = [
    (ListUsers(ref="u"), UserList),
    (UserSessions(user="alice", ref="s"), SessionList),
    (ListAddressBans(ref="b"), AddressBanList),
    (ReadAudit(ref="a"), AuditPage),
    (Admin(action="promote", user="alice", role="moderator", ref="p"), AdminDone),
]


async def test_the_consoles_frames_are_forbidden_to_a_user_and_answered_on_the_socket(
    start_server: ServerFactory, dial: Dial, control_path: Path
) -> None:
    server = await start_server(control_socket=str(control_path))
    alice = await dial(server)
    await alice.register("alice")
    for question, _ in CONSOLE_QUESTIONS:
        await alice.send(question)
        refused = await alice.expect_error("forbidden", skip=(Presence,))
        assert refused.ref == question.ref
    console = await WireClient.connect_console(str(control_path))
    try:
        for question, answer in CONSOLE_QUESTIONS:
            await console.send(question)
            got = await console.recv()
            assert isinstance(got, answer) and got.ref == question.ref, got
        # The promotion took effect on alice's live session: the lists are hers now.
        await alice.send(ListUsers(ref="again"))
        assert [u.username for u in (await alice.expect(UserList, skip=(Presence,))).users] == ["alice"]
        # and the audit log has the console's action, from the local address.
        await console.send(ReadAudit(limit=1, ref="last"))
        (event,) = (await console.expect(AuditPage)).events
        said = (event.actor, event.action, event.target, event.address)
        assert said == ("console", "promote", "alice", "local")
    finally:
        await console.close()
