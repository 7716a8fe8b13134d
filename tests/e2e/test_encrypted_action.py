"""``/me`` in an encrypted conversation, against a real server (SQLite and PostgreSQL): the action
flag travels inside the ciphertext, so the recipient shows ``* alice waves`` and the server has
stored an encrypted message that is, for all it knows, a plain one."""

from __future__ import annotations

from tests.e2e.test_encrypted_chat import Chat, pair
from tests.support.server import ServerProcess

__all__ = ["pair"]  # the fixture: two users with devices


async def test_an_encrypted_action_is_shown_as_one_and_the_server_cannot_tell(
    server: ServerProcess, pair: tuple[Chat, Chat]
) -> None:
    alice, bob = pair
    alice.type("/msg bob hello")
    await bob.wait("alice", lambda t: "<alice> \N{LOCK} hello" in t)
    alice.type("/me waves, encrypted")  # in the conversation /msg opened
    await bob.wait("alice", lambda t: "* alice \N{LOCK} waves, encrypted" in t)
    await alice.wait("bob", lambda t: "* alice \N{LOCK} waves, encrypted" in t)
    rows = server.rows("SELECT encrypted, action FROM messages ORDER BY id")
    assert [tuple(bool(v) for v in row) for row in rows[-2:]] == [(True, False), (True, False)]
    assert not any("waves" in str(text) for (text,) in server.rows("SELECT text FROM messages"))
