"""Server moderation over the protocol: suspensions, server-wide mutes, disconnects, roles, password
resets, and who may do which to whom (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

from chatapp.protocol import (
    Bye,
    Login,
    Message,
    Presence,
    Resume,
    Send,
    SendDirect,
    ServerFrame,
    SessionList,
)
from chatapp.protocol.moderation_frames import (
    Admin,
    AdminDone,
    AuditPage,
    ListUsers,
    ReadAudit,
    UserList,
    UserSessions,
)
from chatapp.server.app import ChatServer
from chatapp.server.services.administration import Actor
from tests.server.conftest import Dial, ServerFactory
from tests.support.wire import PASSWORD, WireClient

SKIP = (Presence,)
NOISE = (Presence, Message)
"""What a staff member's connection also receives (the chat of ``general``) while it waits for an answer."""


async def member(
    server: ChatServer, dial: Dial, name: str, role: str = "user", address: str = "127.0.0.1"
) -> WireClient:
    """A signed-in user; a role other than ``user`` is given by the console once signed in (so the
    live session gets it too)."""
    client = await dial(server, local_addr=address)
    await client.register(name)
    if role != "user":
        await server.administration.promote(Actor.console(), name, role)
    return client


async def admin(client: WireClient, **fields: object) -> ServerFrame:
    """Send an ``admin`` frame and return the answer (``admin_done`` or ``error``), presence aside."""
    ref = client.next_ref()
    await client.send(Admin(ref=ref, **fields))  # type: ignore[arg-type]
    while True:
        frame = await client.recv()
        if not isinstance(frame, NOISE):
            assert getattr(frame, "ref", None) == ref, frame
            return frame


async def refused(client: WireClient, code: str, **fields: object) -> str:
    frame = await admin(client, **fields)
    assert getattr(frame, "code", None) == code, frame
    return frame.message  # type: ignore[attr-defined, no-any-return]


async def test_a_suspended_user_is_told_at_once_and_cannot_sign_in_until_it_is_lifted(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    alice = await member(server, dial, "alice", "admin")
    bob = await member(server, dial, "bob")
    token = bob.last_token

    done = await admin(alice, action="suspend", user="bob", reason="spam", duration=3600)
    assert isinstance(done, AdminDone) and done.user == "bob" and done.count == 1
    assert done.until is not None
    bye = await bob.expect(Bye, timeout=1.0, skip=SKIP + (Message,))
    assert bye.reason == "account suspended"
    assert bye.message == f"suspended by alice until {done.until}: spam"
    assert await bob.closed()

    # Only with the right password or a token of it does anyone learn of the suspension.
    again = await dial(server)
    await again.send(Login(username="bob", password="not the password", ref=1))
    await again.expect_error("auth_failed")
    await again.send(Login(username="bob", password=PASSWORD, ref=2))
    refusal = await again.expect_error("suspended")
    assert refusal.until == done.until
    assert "suspended by alice" in refusal.message and "spam" in refusal.message
    await again.send(Resume(token=token, ref=3))
    assert (await again.expect_error("suspended")).until == done.until

    lifted = await admin(alice, action="unsuspend", user="bob")
    assert isinstance(lifted, AdminDone) and lifted.count == 1
    await again.send(Resume(token=token, ref=4))
    await again.expect_error("invalid_token")  # the suspension revoked every token of the account
    await again.login("bob")


async def test_who_may_act_on_whom(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server()
    alice = await member(server, dial, "alice", "admin")
    dave = await member(server, dial, "dave", "admin")
    mod = await member(server, dial, "mod", "moderator")
    carol = await member(server, dial, "carol")

    # An ordinary user is refused before any name is looked up: the same answer for anyone.
    assert await refused(carol, "forbidden", action="suspend", user="alice") == await refused(
        carol, "forbidden", action="suspend", user="nobody-at-all"
    )
    await carol.send(ListUsers(ref="u"))
    assert (await carol.expect_error("forbidden", skip=SKIP)).ref == "u"
    # A moderator cannot act on an admin, nor promote anyone; an admin cannot demote an admin.
    assert "equal to or above" in await refused(mod, "forbidden", action="suspend", user="alice")
    await refused(mod, "forbidden", action="promote", user="carol", role="moderator")
    await refused(mod, "forbidden", action="reset_password", user="carol")
    demoting = await refused(alice, "forbidden", action="promote", user="dave", role="user")
    assert "equal to or above" in demoting
    assert "yourself" in await refused(alice, "forbidden", action="disconnect", user="alice")
    await refused(mod, "no_such_user", action="mute", user="nobody-at-all")
    await refused(alice, "bad_frame", action="suspend")  # no user

    # A promotion counts at once on the live session.
    done = await admin(alice, action="promote", user="carol", role="moderator")
    assert isinstance(done, AdminDone) and done.user == "carol"
    await carol.send(ListUsers(query="dav", ref="u2"))
    listed = await carol.expect(UserList, skip=SKIP)
    assert [(u.username, u.role, u.online) for u in listed.users] == [("dave", "admin", True)]
    # The console outranks every admin.
    await server.administration.promote(Actor.console(), "dave", "user")
    assert "you may not" in await refused(dave, "forbidden", action="mute", user="carol")


async def test_a_server_wide_mute_refuses_sends_and_direct_messages_until_lifted(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    mod = await member(server, dial, "mod", "moderator")
    bob = await member(server, dial, "bob")

    done = await admin(mod, action="mute", user="bob", reason="calm down", duration=600)
    assert isinstance(done, AdminDone) and done.until is not None
    await bob.send(Send(room="general", text="hello?", ref="s1"))
    refusal = await bob.expect_error("muted", skip=SKIP)
    assert refusal.until == done.until and "muted on this server by mod" in refusal.message
    await bob.send(SendDirect(to="mod", text="why?", ref="d1"))
    await bob.expect_error("muted", skip=SKIP)

    assert isinstance(await admin(mod, action="unmute", user="bob"), AdminDone)
    await bob.send(Send(room="general", text="thanks", ref="s2"))
    assert (await bob.expect(Message, skip=SKIP)).text == "thanks"
    # Muted until lifted: no ``until``.
    await admin(mod, action="mute", user="bob")
    await bob.send(Send(room="general", text="again", ref="s3"))
    assert (await bob.expect_error("muted", skip=SKIP + (Message,))).until is None


async def test_a_moderator_lists_a_users_sessions_and_ends_one(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    mod = await member(server, dial, "mod", "moderator")
    bob = await member(server, dial, "bob", address="127.0.0.9")
    token = bob.last_token

    await mod.send(UserSessions(user="bob", ref="s"))
    listed = await mod.expect(SessionList, skip=SKIP)
    assert listed.user == "bob" and len(listed.sessions) == 1
    (session,) = listed.sessions
    assert session.connected and session.address.startswith("127.0.0.9:")

    await refused(mod, "no_such_session", action="disconnect", user="bob", session=session.id + 1000)
    done = await admin(mod, action="disconnect", user="bob", session=session.id)
    assert isinstance(done, AdminDone) and done.count == 1
    bye = await bob.expect(Bye, timeout=1.0, skip=SKIP)
    assert bye.reason == "disconnected by a moderator" and bye.message == "disconnected by mod"
    again = await dial(server)
    await again.send(Resume(token=token, ref=1))
    await again.expect_error("invalid_token")


async def test_a_password_reset_is_shown_once_and_ends_every_session(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    alice = await member(server, dial, "alice", "admin")
    bob = await member(server, dial, "bob")

    done = await admin(alice, action="reset_password", user="bob")
    assert isinstance(done, AdminDone) and done.password and len(done.password) == 20
    assert "<hidden>" in repr(done) and done.password not in repr(done)
    assert (await bob.expect(Bye, timeout=1.0, skip=SKIP)).reason == "disconnected by a moderator"
    again = await dial(server)
    await again.send(Login(username="bob", password=PASSWORD, ref=1))
    await again.expect_error("auth_failed")
    await again.login("bob", done.password)

    await alice.send(ReadAudit(limit=5, ref="a"))
    page = await alice.expect(AuditPage, skip=SKIP)
    assert page.events[0].action == "reset_password" and page.events[0].target == "bob"
    assert all(done.password not in str(event) for event in page.events)


async def test_every_admin_action_is_forbidden_to_an_ordinary_user_whoever_it_names(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    await member(server, dial, "alice", "admin")
    carol = await member(server, dial, "carol")
    asks: list[dict[str, object]] = [
        {"action": "suspend"},
        {"action": "unsuspend"},
        {"action": "mute"},
        {"action": "unmute"},
        {"action": "disconnect"},
        {"action": "promote", "role": "admin"},
        {"action": "reset_password"},
    ]
    for ask in asks:
        known = await refused(carol, "forbidden", user="alice", **ask)
        assert known == await refused(carol, "forbidden", user="nobody-at-all", **ask), ask
    await refused(carol, "forbidden", action="promote", user="carol", role="admin")
    for action in ("ban_address", "unban_address"):
        await refused(carol, "forbidden", action=action, address="192.0.2.1")
    await refused(carol, "forbidden", action="reload_filters")
    for frame in (UserSessions(user="alice", ref="x"), ReadAudit(ref="x"), ListUsers(ref="x")):
        await carol.send(frame)
        await carol.expect_error("forbidden", skip=NOISE)


async def test_disconnecting_a_user_ends_all_of_their_sessions(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    mod = await member(server, dial, "mod", "moderator")
    bob = await member(server, dial, "bob")
    old_token = bob.last_token
    await bob.close()
    for _ in range(500):  # until the server has seen bob go (only one session of an account is online)
        if server.hub.online_count == 1:
            break
        await asyncio.sleep(0.01)
    again = await dial(server)
    await again.login("bob")  # a second session; the first is resumable still

    done = await admin(mod, action="disconnect", user="bob")
    assert isinstance(done, AdminDone) and done.count == 2
    bye = await again.expect(Bye, timeout=1.0, skip=SKIP)
    assert bye.reason == "disconnected by a moderator"
    for token in (old_token, again.last_token):
        client = await dial(server)
        await client.send(Resume(token=token, ref=1))
        await client.expect_error("invalid_token")
    await mod.send(UserSessions(user="bob", ref="s"))
    assert (await mod.expect(SessionList, skip=NOISE)).sessions == []
