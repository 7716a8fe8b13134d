"""Password strength at registration and ``passwd``: the old password proven like a login, the new one
measured, every other session of the account ended."""

from __future__ import annotations

import asyncio

from chatapp.protocol import Login, Presence, Register, Resume
from chatapp.protocol.moderation_frames import ChangePassword, PasswordChanged
from chatapp.server.app import ChatServer
from tests.server.conftest import Dial, ServerFactory
from tests.support.databases import ScratchDatabase
from tests.support.wire import PASSWORD

NEW = "plum orbit lantern 42"


async def until_offline(server: ChatServer) -> None:
    async with asyncio.timeout(5):
        while server.hub.online_count:
            await asyncio.sleep(0.01)


async def test_registration_needs_a_strong_password_by_default(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server(min_password_score=3)  # the default
    client = await dial(server)
    await client.send(Register(username="alice", password="password1", ref=1))
    error = await client.expect_error("weak_password")
    assert error.ref == 1
    assert error.message.startswith("this password is too easy to guess (strength 0 of 4; 3 is needed).")
    assert "This is a very common password." in error.message
    # The username counts against it too.
    await client.send(Register(username="wolfgang", password="wolfgang2024", ref=2))
    assert (await client.expect_error("weak_password")).ref == 2
    await client.register("alice", PASSWORD)  # scores 4


async def test_passwd_ends_the_other_sessions(
    start_server: ServerFactory, dial: Dial, database: ScratchDatabase
) -> None:
    server = await start_server(min_password_score=3)
    first = await dial(server)
    old_token = (await first.register("alice")).token
    await first.close()  # a disconnect: its token could still resume
    await until_offline(server)
    second = await dial(server)
    await second.login("alice")
    await second.send(ChangePassword(old=PASSWORD, new=NEW, ref="pw"))
    done = await second.expect(PasswordChanged, skip=(Presence,))
    assert (done.sessions_ended, done.ref) == (1, "pw")
    # The first session is over; this one goes on; the new password is the one.
    third = await dial(server)
    await third.send(Resume(token=old_token, ref=3))
    await third.expect_error("invalid_token")
    await second.send(ChangePassword(old=NEW, new=PASSWORD + "!", ref="again"))
    assert (await second.expect(PasswordChanged, skip=(Presence,))).sessions_ended == 0
    await second.close()
    await until_offline(server)
    await third.send(Login(username="alice", password=NEW, ref=4))
    await third.expect_error("auth_failed")
    await third.login("alice", PASSWORD + "!")
    # Audited, and neither password anywhere in the audit trail.
    rows = await asyncio.to_thread(database.rows, "SELECT actor, action, target, reason FROM audit_events")
    assert rows == [("alice", "passwd", "alice", None), ("alice", "passwd", "alice", None)]


async def test_passwd_refusals(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server(min_password_score=3, login_failures_per_account=2)
    alice = await dial(server)
    await alice.register("alice")
    await alice.expect(Presence)
    await alice.send(ChangePassword(old=PASSWORD, new=PASSWORD, ref=1))
    assert "differ" in (await alice.expect_error("weak_password")).message
    await alice.send(ChangePassword(old=PASSWORD, new="short", ref=2))
    await alice.expect_error("weak_password")
    await alice.send(ChangePassword(old=PASSWORD, new="abcabcabcabc", ref=3))
    weak = await alice.expect_error("weak_password")
    assert "strength" in weak.message and weak.ref == 3
    # A wrong old password is a failed login: auth_failed, then the account's throttle.
    await alice.send(ChangePassword(old="not it at all", new=NEW, ref=4))
    assert (await alice.expect_error("auth_failed")).message == "wrong password"
    await alice.send(ChangePassword(old="not it either", new=NEW, ref=5))
    await alice.expect_error("auth_failed")
    await alice.send(ChangePassword(old=PASSWORD, new=NEW, ref=6))
    limited = await alice.expect_error("rate_limited")
    assert limited.retry_after is not None and limited.ref == 6
