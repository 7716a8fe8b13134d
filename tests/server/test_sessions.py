"""Session control: a password login takes over a session signed in elsewhere; a user lists and ends
their own sessions, and nobody else's."""

from __future__ import annotations

import asyncio
import math
import re

from chatapp.protocol import (
    AuthOk,
    Bye,
    EndSession,
    Error,
    ListSessions,
    Login,
    Message,
    Presence,
    Resume,
    Send,
    SessionClosed,
    SessionList,
    Synced,
)
from chatapp.server.app import ChatServer
from tests.server.conftest import Dial, ServerFactory
from tests.support.wire import PASSWORD, WireClient


async def until_offline(server: ChatServer) -> None:
    for _ in range(500):
        if server.hub.online_count == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("still online")


async def sessions_of(client: WireClient) -> SessionList:
    await client.send(ListSessions(ref="list"))
    answer = await client.expect(SessionList, skip=(Presence,))
    assert answer.ref == "list"
    return answer


async def test_a_leaked_token_cannot_lock_the_owner_out(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server()
    owner = await dial(server, local_addr="127.0.0.2")
    token = (await owner.register("leaky")).token
    await owner.expect(Presence)
    # The holder of the leaked token resumes the owner's session and takes it over.
    holder = await dial(server, local_addr="127.0.0.66")
    await holder.resume(token)
    assert (await owner.expect(Bye)).reason == "replaced by another login"
    # The owner's password login is refused, saying where the account is signed in and how to end that.
    again = await dial(server, local_addr="127.0.0.2")
    await again.send(Login(username="leaky", password=PASSWORD, ref="plain"))
    refusal = await again.expect_error("already_logged_in")
    assert refusal.ref == "plain"
    assert "127.0.0.66:" in refusal.message and "takeover" in refusal.message
    # How long the holder's session would last if it were frozen: what the keep-alive allows at most.
    limit = math.ceil(server.config.ping_interval + server.config.ping_timeout)
    assert refusal.retry_after is not None and 0 < refusal.retry_after <= limit
    assert f"if it is frozen, it ends within {int(refusal.retry_after)} s" in refusal.message
    assert re.search(r"since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", refusal.message), refusal.message
    # With takeover it wins: the holder is told and closed, and its token is over.
    await again.send(Login(username="leaky", password=PASSWORD, takeover=True, ref="mine"))
    ok = await again.signed_in()
    assert ok.ref == "mine" and ok.token and ok.token != token
    assert (await holder.expect(Bye, skip=(Presence,))).reason == "replaced by another login"
    assert await holder.closed()
    back = await dial(server, local_addr="127.0.0.66")
    await back.send(Resume(token=token, ref="retry"))
    await back.expect_error("invalid_token")
    # Only the owner's new session is left.
    listed = await sessions_of(again)
    assert [(s.current, s.connected) for s in listed.sessions] == [(True, True)]
    await again.send(Send(room="general", text="mine again"))
    assert (await again.expect(Message, skip=(Presence,))).text == "mine again"


async def test_takeover_needs_the_password(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server()
    owner = await dial(server)
    await owner.register("guarded")
    await owner.expect(Presence)
    intruder = await dial(server, local_addr="127.0.0.3")
    await intruder.send(Login(username="guarded", password="not the password", takeover=True))
    await intruder.expect_error("auth_failed")
    await owner.send(Send(room="general", text="undisturbed"))
    assert (await owner.expect(Message)).text == "undisturbed"


async def test_a_resume_never_displaces_another_live_session(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server()
    first = await dial(server)
    old_token = (await first.register("twice")).token
    await first.close()
    second = await dial(server)
    await second.login("twice")
    third = await dial(server)
    await third.send(Resume(token=old_token))
    assert "takeover" in (await third.expect_error("already_logged_in")).message
    await second.send(Send(room="general", text="still mine"))
    assert (await second.expect(Message, skip=(Presence,))).text == "still mine"
    # Refused, the old session was not used up: once the account is free it resumes.
    await second.close()
    await until_offline(server)
    fourth = await dial(server)
    assert (await fourth.resume(old_token)).username == "twice"


async def test_simultaneous_logins_of_one_account_let_exactly_one_in(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    owner = await dial(server)
    await owner.register("crowded")
    await owner.close()
    await until_offline(server)
    clients = [await dial(server, local_addr=f"127.0.2.{n + 1}") for n in range(5)]
    await asyncio.gather(*(c.send(Login(username="crowded", password=PASSWORD)) for c in clients))
    answers = await asyncio.gather(*(c.recv() for c in clients))
    kinds = sorted(a.code if isinstance(a, Error) else type(a).__name__ for a in answers)
    assert kinds == ["AuthOk"] + ["already_logged_in"] * 4
    winner = clients[[isinstance(a, AuthOk) for a in answers].index(True)]
    await winner.send(Send(room="general", text="the one"))
    assert (await winner.expect(Message, skip=(Presence, Synced))).text == "the one"


async def test_simultaneous_resumes_of_different_sessions_let_exactly_one_in(
    start_server: ServerFactory, dial: Dial
) -> None:
    """Each resume passes the first look while none is online yet; only one may go online."""
    server = await start_server()
    tokens = []
    for n in range(6):
        client = await dial(server)
        tokens.append((await (client.register("resumer") if n == 0 else client.login("resumer"))).token)
        await client.close()
        await until_offline(server)
    clients = [await dial(server) for _ in tokens]
    await asyncio.gather(*(c.send(Resume(token=t)) for c, t in zip(clients, tokens, strict=True)))
    answers = await asyncio.gather(*(c.recv() for c in clients))
    kinds = sorted(a.code if isinstance(a, Error) else type(a).__name__ for a in answers)
    assert kinds == ["AuthOk"] + ["already_logged_in"] * 5
    winner = clients[[isinstance(a, AuthOk) for a in answers].index(True)]
    await winner.send(Send(room="general", text="nobody bounced me"))
    assert (await winner.expect(Message, skip=(Presence, Synced))).text == "nobody bounced me"


async def test_a_user_lists_their_sessions_and_ends_another(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server()
    laptop = await dial(server, local_addr="127.0.0.7")
    laptop_token = (await laptop.register("roamer")).token
    await laptop.close()
    phone = await dial(server, local_addr="127.0.0.8")
    await until_offline(server)
    await phone.login("roamer")
    listed = await sessions_of(phone)
    assert len(listed.sessions) == 2
    mine, other = listed.sessions  # the most recently used first
    assert mine.current and mine.connected and mine.address.startswith("127.0.0.8:")
    assert not other.current and not other.connected and other.address.startswith("127.0.0.7:")
    assert other.created <= other.last_seen <= mine.last_seen
    await phone.send(EndSession(id=other.id, ref="end"))
    closed = await phone.expect(SessionClosed, skip=(Presence,))
    assert (closed.id, closed.ref) == (other.id, "end")
    # Its token no longer resumes, it is gone from the list, and it cannot be ended twice.
    thief = await dial(server, local_addr="127.0.0.9")
    await thief.send(Resume(token=laptop_token))
    await thief.expect_error("invalid_token")
    assert [s.id for s in (await sessions_of(phone)).sessions] == [mine.id]
    await phone.send(EndSession(id=other.id, ref="again"))
    assert (await phone.expect_error("no_such_session", skip=(Presence,))).ref == "again"


async def test_nobody_sees_or_ends_another_users_sessions(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server()
    alice = await dial(server)
    alice_token = (await alice.register("alice")).token
    alice_session = (await sessions_of(alice)).sessions[0].id
    await alice.close()
    mallory = await dial(server)
    await mallory.register("mallory")
    assert [s.current for s in (await sessions_of(mallory)).sessions] == [True]
    await mallory.send(EndSession(id=alice_session, ref="steal"))
    error = await mallory.expect_error("no_such_session", skip=(Presence,))
    assert error.ref == "steal"
    assert (await (await dial(server)).resume(alice_token)).username == "alice"


async def test_ending_ones_own_session_says_bye_and_ends_its_token(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    client = await dial(server)
    token = (await client.register("tidy")).token
    current = (await sessions_of(client)).sessions[0].id
    await client.send(EndSession(id=current))
    assert (await client.expect(SessionClosed, skip=(Presence,))).id == current
    assert (await client.expect(Bye, skip=(Presence,))).reason == "session ended by its user"
    assert await client.closed()
    later = await dial(server)
    await later.send(Resume(token=token))
    await later.expect_error("invalid_token")


async def test_session_frames_need_signing_in(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server()
    client = await dial(server)
    await client.send(ListSessions(ref=1))
    assert (await client.expect_error("not_authenticated")).ref == 1
    await client.send(EndSession(id=1, ref=2))
    assert (await client.expect_error("not_authenticated")).ref == 2
