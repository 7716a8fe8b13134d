"""``chatapp-admin`` as the operator runs it, against real server subprocesses and against the database
alone; the control socket of a real ``chatapp-server``."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chatapp.protocol import AuthOk, Bye, Error, Login, Message, Presence, Send
from chatapp.protocol.moderation_frames import ListUsers, UserList
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

TIMEOUT = 60.0


def admin(target: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``chatapp-admin`` with the server's database and control socket (running or not)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATAPP_")}
    socket = str(target.control_socket) if target.control_socket is not None else "none"
    result = subprocess.run(
        [sys.executable, "-m", "chatapp.admin", "--database-url", target.url, "--control-socket", socket]
        + list(args),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def no_server_line(target: ServerProcess) -> str:
    return f"chatapp-admin: no server is running at {target.control_socket}: changing the database directly\n"


async def signed_in(server: ServerProcess, name: str, *, register: bool = True) -> WireClient:
    client = await WireClient.connect(server.host, server.port)
    await (client.register(name) if register else client.login(name))
    return client


# -- the control socket of a real server ----------------------------------------------------------


def test_the_control_socket_is_beside_the_database_0600_and_gone_after_a_clean_stop(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path / "chat.db").start()
    path = tmp_path / "control.sock"
    assert server.control_socket == path
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    assert f"event=control_socket path={path}" in server.log
    assert server.stop() == 0
    assert not path.exists()


def test_a_second_server_on_the_same_socket_fails_with_one_line_and_a_stale_one_is_replaced(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    first = server_factory(tmp_path / "chat.db").start()
    second = server_factory(tmp_path / "chat.db", "--log-level", "info")
    assert second.start_expecting_failure() == 1
    said = [line for line in second.log.splitlines() if line.startswith("chatapp-server:")]
    assert said == [
        f"chatapp-server: cannot start: another server is running with the control socket "
        f"{tmp_path / 'control.sock'} (stop it, or give this one its own --control-socket)"
    ]
    assert "Traceback" not in second.log and "event=database" not in second.log
    assert admin(first, "ping").stdout == "the server answers\n"  # the first one is untouched
    first.kill()  # SIGKILL: the socket file stays behind
    assert (tmp_path / "control.sock").exists()
    third = server_factory(tmp_path / "chat.db").start()
    assert "event=control_socket_replaced" in third.log
    assert admin(third, "ping").returncode == 0


# -- against a running server ---------------------------------------------------------------------


async def test_promote_and_demote_change_a_live_sessions_role_at_once(server: ServerProcess) -> None:
    alice = await signed_in(server, "alice")
    try:
        # An ordinary user's connection may not send the console's frames.
        await alice.send(ListUsers(ref=1))
        assert "may not" in (await alice.expect_error("forbidden", skip=(Presence,))).message
        promoted = admin(server, "promote", "alice", "--role", "moderator")
        assert (promoted.returncode, promoted.stderr) == (0, "")
        assert promoted.stdout == "alice is now a moderator\n"
        await alice.send(ListUsers(ref=2))
        listed = await alice.expect(UserList, skip=(Presence,))
        assert [u.username for u in listed.users] == ["alice"] and listed.users[0].role == "moderator"
        assert admin(server, "demote", "alice").stdout == "alice is now an ordinary user\n"
        await alice.send(ListUsers(ref=3))
        await alice.expect_error("forbidden", skip=(Presence,))
    finally:
        await alice.close()
    assert server.rows("SELECT role FROM users WHERE username = 'alice'") == [("user",)]


async def test_suspend_disconnects_the_live_session_within_a_second(server: ServerProcess) -> None:
    mallory = await signed_in(server, "mallory")
    try:
        done = admin(server, "suspend", "mallory", "--for", "1h", "--reason", "spam")
        assert done.returncode == 0 and done.stdout.startswith("mallory is suspended until "), done
        bye = await mallory.expect(Bye, timeout=1.0, skip=(Presence,))
        assert bye.reason == "account suspended" and "spam" in (bye.message or "")
    finally:
        await mallory.close()
    again = await WireClient.connect(server.host, server.port)
    try:
        await again.send(Login(username="mallory", password=PASSWORD, ref=1))
        assert (await again.expect_error("suspended")).until is not None
    finally:
        await again.close()
    assert admin(server, "unsuspend", "mallory").stdout == "mallory's suspension is lifted\n"
    back = await signed_in(server, "mallory", register=False)
    await back.close()


async def test_mute_and_disconnect_act_on_the_live_session(server: ServerProcess) -> None:
    bob = await signed_in(server, "bob")
    try:
        assert admin(server, "mute", "bob", "--reason", "calm down").stdout == (
            "bob is muted server-wide until lifted\n"
        )
        await bob.send(Send(room="general", text="can you hear me", ref=1))
        assert (await bob.expect_error("muted", skip=(Presence,))).ref == 1
        assert admin(server, "unmute", "bob").stdout == "bob's server-wide mute is lifted\n"
        await bob.send(Send(room="general", text="and now", ref=2))
        assert (await bob.expect(Message, skip=(Presence,))).text == "and now"
        assert admin(server, "disconnect", "bob").stdout == "bob: 1 session ended\n"
        assert (await bob.expect(Bye, timeout=1.0, skip=(Presence, Message))).reason == (
            "disconnected by a moderator"
        )
    finally:
        await bob.close()


async def test_the_lists_and_a_refusal_against_a_running_server(server: ServerProcess) -> None:
    bob = await signed_in(server, "bob")
    await bob.close()
    users = admin(server, "users", "--search", "bo")
    assert users.returncode == 0 and users.stdout.startswith("bob: user, since ")
    sessions = admin(server, "sessions", "bob")
    assert sessions.returncode == 0 and sessions.stdout.startswith("session "), sessions
    ghost = admin(server, "suspend", "ghost")
    assert ghost.returncode == 1 and ghost.stdout == ""
    assert ghost.stderr.startswith("chatapp-admin: refused (no_such_user): ")
    banned = admin(server, "ban-address", "203.0.113.9/24", "--reason", "flood")
    assert banned.stdout == "203.0.113.0/24 is banned until lifted; 0 connections closed\n"
    assert admin(server, "address-bans").stdout.startswith("203.0.113.0/24 until lifted (since ")
    assert admin(server, "unban-address", "203.0.113.0/24").stdout == "the ban of 203.0.113.0/24 is lifted\n"
    audit = admin(server, "audit", "--limit", "2").stdout.splitlines()
    assert [line.split(" ", 4)[4] for line in audit[:2]] == [
        "console unban_address 203.0.113.0/24 from local",
        "console ban_address 203.0.113.0/24 from local: flood",
    ], audit
    assert audit[2] == f"more: --before {audit[1].split()[0].lstrip('#')}"


# -- against the database alone --------------------------------------------------------------------


@pytest.fixture
async def stopped(server: ServerProcess) -> ServerProcess:
    """A server's database with alice, bob and mallory, and the server stopped (its socket gone)."""
    for name in ("alice", "bob", "mallory"):
        client = await signed_in(server, name)
        await client.close()
    server.wait_for_log(r"event=disconnect user=mallory")
    assert server.stop() == 0
    return server


async def login(server: ServerProcess, name: str, password: str = PASSWORD) -> AuthOk | Error:
    client = await WireClient.connect(server.host, server.port)
    try:
        await client.send(Login(username=name, password=password, ref=1))
        frame = await client.recv()
        assert isinstance(frame, AuthOk | Error), frame
        return frame
    finally:
        await client.close()


async def test_every_change_without_a_server_is_made_in_the_database(stopped: ServerProcess) -> None:
    server = stopped
    promoted = admin(server, "promote", "alice", "--role", "admin")
    assert (promoted.returncode, promoted.stdout) == (0, "alice is now an admin\n")
    assert promoted.stderr == no_server_line(server)
    admin(server, "promote", "bob", "--role", "moderator")
    assert admin(server, "demote", "bob").returncode == 0
    assert server.rows("SELECT username, role FROM users ORDER BY username") == [
        ("alice", "admin"),
        ("bob", "user"),
        ("mallory", "user"),
    ]
    # Her session from before can no longer be resumed: it is one of those ended.
    assert admin(server, "suspend", "mallory", "--reason", "spam").stdout == (
        "mallory is suspended until lifted; 1 session ended\n"
    )
    muted = admin(server, "mute", "alice", "--for", "1h")
    assert muted.stdout.startswith("alice is muted server-wide until 20")
    assert admin(server, "unmute", "alice").stdout == "alice's server-wide mute is lifted\n"
    assert admin(server, "disconnect", "alice").stdout == "alice: 1 session ended\n"  # her resumable one
    assert admin(server, "ban-address", "198.51.100.0/24", "--for", "7d").returncode == 0
    assert admin(server, "ban-address", "2001:db8::/32").returncode == 0
    assert admin(server, "unban-address", "2001:db8::/32").stdout == "the ban of 2001:db8::/32 is lifted\n"
    reset = admin(server, "reset-password", "bob")
    assert reset.returncode == 0
    password = reset.stdout.splitlines()[0].removeprefix("new password for bob: ")
    assert len(password) >= 16 and password not in reset.stderr
    listed = admin(server, "users").stdout.splitlines()
    assert [line.split(":")[0] for line in listed] == ["alice", "bob", "mallory"]
    assert listed[0].startswith("alice: admin, since ")
    assert listed[2].startswith("mallory: user, since ") and listed[2].endswith("suspended until lifted")
    assert admin(server, "sessions", "alice").returncode == 0
    assert admin(server, "address-bans").stdout.startswith("198.51.100.0/24 until 20")
    audit = admin(server, "audit").stdout
    assert "console suspend mallory from local: spam" in audit and password not in audit
    reload = admin(server, "reload-filters")
    assert reload.returncode == 1 and reload.stdout == ""
    assert "reload-filters needs a running server" in reload.stderr

    # A server started afterwards has every change.
    server.start()
    refused = await login(server, "mallory")
    assert isinstance(refused, Error) and refused.code == "suspended"
    assert isinstance(await login(server, "bob"), Error)  # the old password is gone
    assert isinstance(await login(server, "bob", password), AuthOk)
    assert server.rows("SELECT network FROM address_bans") == [("198.51.100.0/24",)]
    server.stop()
    assert admin(server, "unsuspend", "mallory").stdout == "mallory's suspension is lifted\n"
    server.start()
    assert isinstance(await login(server, "mallory"), AuthOk)


def test_without_a_database_it_says_so_and_makes_none(tmp_path: Path) -> None:
    missing = ServerProcess(tmp_path / "nowhere" / "chat.db")
    result = admin(missing, "users")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        f"chatapp-admin: there is no database at {tmp_path / 'nowhere' / 'chat.db'} (give --database-url)"
    )
    assert not (tmp_path / "nowhere").exists()


def test_ping_without_a_server_is_a_sentence_and_exit_1(tmp_path: Path) -> None:
    result = admin(ServerProcess(tmp_path / "chat.db"), "ping")
    assert result.returncode == 1 and result.stdout == ""
    assert "no server is running at " in result.stderr and "ping needs a running server" in result.stderr
