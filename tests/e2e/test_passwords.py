"""Passwords in a real server process with its default minimum strength: a weak password is refused
with zxcvbn's reason; ``passwd`` ends the account's other session; no password reaches the log."""

from __future__ import annotations

import pytest

from chatapp.protocol import Presence, Register, Resume
from chatapp.protocol.moderation_frames import ChangePassword, PasswordChanged
from tests.support.databases import ScratchDatabase
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

NEW = "violet quarry harmonica"


async def offline(observer: WireClient, username: str) -> None:
    """Wait until the observer hears that ``username`` went offline."""
    while True:
        presence = await observer.expect(Presence)
        if (presence.event, presence.username) == ("offline", username):
            return


@pytest.mark.sqlite_only
async def test_default_strength_and_passwd_in_a_server_process(
    server_factory: type[ServerProcess], database: ScratchDatabase
) -> None:
    # FAST_ARGS lower the minimum for the other tests; the last flag wins, so this is the default.
    server = server_factory(database, "--min-password-score", "3").start()
    observer = await WireClient.connect(server.host, server.port)
    await observer.register("watcher")
    first = await WireClient.connect(server.host, server.port)
    await first.send(Register(username="alice", password="qwertyuiop", ref=1))
    error = await first.expect_error("weak_password")
    assert "too easy to guess (strength 0 of 4; 3 is needed)" in error.message
    assert "This is a top-100 common password." in error.message  # zxcvbn's own warning
    token = (await first.register("alice", PASSWORD)).token
    await first.close()  # a disconnect, not a quit: the token could resume this session
    await offline(observer, "alice")
    # Signed in afresh elsewhere, alice changes her password: the resumable session ends.
    second = await WireClient.connect(server.host, server.port)
    await second.login("alice", PASSWORD)
    await second.send(ChangePassword(old=PASSWORD, new=NEW, ref="pw"))
    done = await second.expect(PasswordChanged, skip=(Presence,))
    assert (done.sessions_ended, done.ref) == (1, "pw")
    late = await WireClient.connect(server.host, server.port)
    await late.send(Resume(token=token))
    await late.expect_error("invalid_token")
    assert server.stop() == 0
    for secret in (PASSWORD, NEW, "qwertyuiop"):
        assert secret not in server.log
    assert "event=audit actor=alice action=passwd target=alice" in server.log
    for client in (observer, second, late):
        await client.close()
