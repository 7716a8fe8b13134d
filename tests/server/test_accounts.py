"""Register, log in, resume and quit over a real socket, with every refusal they can give."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from chatapp.protocol import AuthOk, Bye, Login, Message, Presence, Quit, Register, Resume, Send
from chatapp.server.app import ChatServer
from tests.server.conftest import Dial, ServerFactory
from tests.support.databases import ScratchDatabase
from tests.support.wire import PASSWORD, WireClient

Connect = Callable[..., Awaitable[WireClient]]


def session_rows(database: ScratchDatabase) -> list[tuple[Any, ...]]:
    return database.rows(
        "SELECT u.username, s.ended_at, s.end_reason FROM sessions s JOIN users u ON u.id = s.user_id "
        "ORDER BY s.id"
    )


async def test_welcome_announces_version_and_limits(connect: Connect) -> None:
    client = await connect()
    assert client.welcome is not None
    assert client.welcome.version == 1
    assert client.welcome.max_frame == 64 * 1024
    assert client.welcome.max_text == 4000


async def test_register_signs_in_and_announces_online(connect: Connect) -> None:
    client = await connect()
    await client.send(Register(username="Alice", password=PASSWORD, ref="r1"))
    ok = await client.signed_in()
    assert ok.username == "Alice" and ok.ref == "r1" and len(ok.token) >= 40
    presence = await client.expect(Presence)
    assert (presence.event, presence.room, presence.username) == ("online", "general", "Alice")


async def test_login_is_case_insensitive_and_keeps_registered_spelling(connect: Connect) -> None:
    first = await connect()
    await first.register("Alice")
    await first.send(Quit())
    await first.expect(Presence)
    assert (await first.expect(Bye)).reason == "quit"
    second = await connect()
    ok = await second.login("aLiCe")
    assert ok.username == "Alice"


async def test_wrong_password_and_unknown_user_answer_alike(connect: Connect) -> None:
    client = await connect()
    await client.register("alice")
    other = await connect()
    await other.send(Login(username="alice", password="wrong password!", ref=1))
    wrong = await other.expect_error("auth_failed")
    await other.send(Login(username="nobody", password="wrong password!", ref=2))
    unknown = await other.expect_error("auth_failed")
    assert wrong.message == unknown.message
    assert (wrong.ref, unknown.ref) == (1, 2)


@pytest.mark.parametrize(
    ("username", "password", "code"),
    [
        ("ab", PASSWORD, "invalid_username"),
        ("a" * 33, PASSWORD, "invalid_username"),
        ("bad name", PASSWORD, "invalid_username"),
        ("héllo", PASSWORD, "invalid_username"),
        ("carol", "short", "weak_password"),
        ("carol", "x" * 1025, "weak_password"),
        ("carolcarol", "CAROLCAROL", "weak_password"),
    ],
)
async def test_registration_rules(connect: Connect, username: str, password: str, code: str) -> None:
    client = await connect()
    await client.send(Register(username=username, password=password, ref=5))
    error = await client.expect_error(code)
    assert error.ref == 5
    # The connection is still usable after a refusal.
    await client.register("carol_ok")


async def test_username_taken_ignoring_case(connect: Connect) -> None:
    await (await connect()).register("Bob")
    client = await connect()
    await client.send(Register(username="bob", password=PASSWORD))
    await client.expect_error("username_taken")


async def test_simultaneous_registrations_of_one_name_one_wins(connect: Connect) -> None:
    clients = [await connect() for _ in range(4)]
    for i, client in enumerate(clients):
        await client.send(Register(username=["dave", "Dave", "DAVE", "daVe"][i], password=PASSWORD))
    results = [await client.recv() for client in clients]
    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["AuthOk", "Error", "Error", "Error"]
    assert all(r.code == "username_taken" for r in results if not isinstance(r, AuthOk))  # type: ignore[union-attr]


async def test_frames_need_the_right_state(connect: Connect) -> None:
    client = await connect()
    await client.send(Send(room="general", text="hi", ref=1))
    assert (await client.expect_error("not_authenticated")).ref == 1
    await client.register("erin")
    await client.expect(Presence)
    await client.send(Login(username="erin", password=PASSWORD, ref=2))
    assert (await client.expect_error("already_authenticated")).ref == 2


async def test_resume_reattaches_without_password(connect: Connect, database: ScratchDatabase) -> None:
    client = await connect()
    token = (await client.register("frank")).token
    await client.close()
    again = await connect()
    await again.send(Resume(token=token, ref="x"))
    ok = await again.signed_in()
    assert ok.username == "frank" and ok.ref == "x"
    assert session_rows(database)[-1][1] is None  # the one session row is open again


async def test_bad_token_is_refused(connect: Connect) -> None:
    client = await connect()
    await client.send(Resume(token="not-a-token"))
    await client.expect_error("invalid_token")
    await client.send(Resume(token="x" * 5000))
    await client.expect_error("invalid_token")


async def test_quit_ends_the_session_and_revokes_the_token(
    connect: Connect, database: ScratchDatabase
) -> None:
    client = await connect()
    token = (await client.register("gina")).token
    await client.expect(Presence)
    await client.send(Quit())
    assert (await client.expect(Bye)).reason == "quit"
    assert await client.closed()
    for _ in range(100):
        if session_rows(database)[-1][2] == "quit":
            break
        await asyncio.sleep(0.02)
    assert session_rows(database)[-1][2] == "quit"
    again = await connect()
    await again.send(Resume(token=token))
    await again.expect_error("invalid_token")


async def test_disconnect_ends_the_session_but_keeps_the_token(
    connect: Connect, database: ScratchDatabase
) -> None:
    client = await connect()
    await client.register("hank")
    await client.close()
    for _ in range(100):
        if session_rows(database)[-1][2] is not None:
            break
        await asyncio.sleep(0.02)
    assert session_rows(database)[-1][2] == "disconnect"


async def test_duplicate_login_rejected_by_default(connect: Connect) -> None:
    first = await connect()
    await first.register("ivan")
    await first.expect(Presence)
    second = await connect()
    await second.send(Login(username="ivan", password=PASSWORD))
    await second.expect_error("already_logged_in")
    # The first session is untouched.
    await first.send(Send(room="general", text="still here"))
    assert (await first.expect(Message)).text == "still here"


async def test_duplicate_login_replace_policy(start_server: ServerFactory, dial: Dial) -> None:
    server: ChatServer = await start_server(duplicate_login="replace")
    first = await dial(server)
    second = await dial(server)
    if True:
        old_token = (await first.register("judy")).token
        await first.expect(Presence)
        await second.login("judy")
        assert (await first.expect(Bye)).reason == "replaced by another login"
        # The user never went offline, so nobody saw offline/online; the new session works.
        await second.send(Send(room="general", text="moved"))
        assert (await second.expect(Message)).text == "moved"
        # The replaced session cannot come back and bounce the new one out.
        third = await dial(server)
        await third.send(Resume(token=old_token))
        await third.expect_error("invalid_token")


async def test_resume_of_the_same_session_takes_over_a_stale_link(connect: Connect) -> None:
    stale = await connect()
    token = (await stale.register("kate")).token
    await stale.expect(Presence)
    fresh = await connect()
    await fresh.resume(token)
    assert (await stale.expect(Bye)).reason == "replaced by another login"
    await fresh.send(Send(room="general", text="back"))
    assert (await fresh.expect(Message)).text == "back"


async def test_an_expired_token_is_refused(connect: Connect, database: ScratchDatabase) -> None:
    client = await connect()
    token = (await client.register("lena")).token
    await client.close()
    database.execute("UPDATE sessions SET expires_at = '2000-01-01 00:00:00.000000'")
    again = await connect()
    await again.send(Resume(token=token, ref="late"))
    assert (await again.expect_error("invalid_token")).ref == "late"
    # Refused before anything was written: the row stays as the disconnect left it.
    for _ in range(100):
        if session_rows(database)[-1][2] is not None:
            break
        await asyncio.sleep(0.02)
    assert session_rows(database)[-1][2] == "disconnect"


async def test_bad_tokens_are_throttled_per_address(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server(login_failures_per_address=2)
    owner = await dial(server)
    token = (await owner.register("mona")).token
    await owner.close()
    client = await dial(server)
    for attempt in range(2):
        await client.send(Resume(token=f"wrong-{attempt}", ref=attempt))
        assert (await client.expect_error("invalid_token")).ref == attempt
    # Past the free failures the address waits, even with a good token ...
    await client.send(Resume(token=token, ref="good"))
    error = await client.expect_error("rate_limited")
    assert error.ref == "good" and error.retry_after is not None and error.retry_after >= 1
    # ... while another address is not held up.
    other = await dial(server, local_addr="127.0.0.2")
    assert (await other.resume(token)).username == "mona"


async def test_many_resumes_at_once_sign_in_and_their_sign_outs_are_stored(
    start_server: ServerFactory, dial: Dial, database: ScratchDatabase
) -> None:
    server = await start_server(registrations_per_address=1000)
    tokens = []
    for n in range(40):
        client = await dial(server)
        tokens.append((await client.register(f"crowd{n}")).token)
        await client.close()
    clients = [await dial(server, local_addr=f"127.0.0.{2 + n % 5}") for n in range(40)]

    # All at once: the sign-ins share the store's transactions.
    oks = await asyncio.gather(*(client.resume(token) for client, token in zip(clients, tokens, strict=True)))

    assert sorted(ok.username for ok in oks) == sorted(f"crowd{n}" for n in range(40))
    assert all(ended is None for _, ended, _ in session_rows(database))
    await clients[0].send(Send(room="general", text="everyone here?"))
    received = [await client.expect(Message, skip=(Presence,)) for client in clients]
    message_id = received[0].id
    assert {m.id for m in received} == {message_id}
    # And all at once out: every session ended, every seen cursor saved.
    await asyncio.gather(*(client.close() for client in clients))
    for _ in range(250):
        if all(reason == "disconnect" for _, _, reason in session_rows(database)):
            break
        await asyncio.sleep(0.02)
    assert [reason for _, _, reason in session_rows(database)] == ["disconnect"] * 40
    seen = dict(database.rows("SELECT username, seen_message_id FROM users"))
    assert seen == {f"crowd{n}": message_id for n in range(40)}


@pytest.mark.sqlite_only  # holds SQLite's write lock from outside the server
async def test_shutdown_past_its_timeout_logs_no_tracebacks_and_still_saves_every_sign_out(
    start_server: ServerFactory,
    dial: Dial,
    database: ScratchDatabase,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = await start_server(shutdown_timeout=0.3, registrations_per_address=100)
    clients = [await dial(server) for _ in range(5)]
    for n, client in enumerate(clients):
        await client.register(f"late{n}")
    await clients[0].send(Send(room="general", text="last words"))
    message_id = (await clients[-1].expect(Message, skip=(Presence,))).id
    for client in clients[:-1]:
        await client.expect(Message, skip=(Presence,))
    assert database.path is not None
    locker = sqlite3.connect(database.path, isolation_level=None)
    try:
        # The sign-outs wait for the database longer than shutdown_timeout: the connections
        # are cancelled while their writes are queued.
        locker.execute("BEGIN IMMEDIATE")
        shutdown = asyncio.create_task(server.shutdown())
        await asyncio.sleep(1.0)
        assert not shutdown.done()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    await asyncio.wait_for(shutdown, 10)

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert [reason for _, _, reason in session_rows(database)] == ["shutdown"] * 5
    seen = dict(database.rows("SELECT username, seen_message_id FROM users"))
    assert seen == {f"late{n}": message_id for n in range(5)}
