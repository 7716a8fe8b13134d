"""The sign-in dialogue, typed through a pipe, against the scripted fake server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from msgspec.structs import replace as dataclass_replace

from chatapp.client import ChatSession
from chatapp.client.ui.signin import SignInCancelled, SignInFailed, SignInOptions, sign_in
from chatapp.protocol import AuthOk, ClientFrame, Error, Login, Register
from tests.client.fakeserver import PASSWORD, FakeConnection, FakeServer
from tests.client.harness import CTRL_C, CTRL_D, ENTER, CapturedTerminal, fake_terminal

OTHER = "another good password"


@pytest.fixture
def server(server: FakeServer) -> FakeServer:
    """The scripted server, with the account alice."""
    server.accounts["alice"] = PASSWORD
    return server


@pytest.fixture
async def session(server: FakeServer) -> AsyncIterator[ChatSession]:
    client = ChatSession(server.host, server.port)
    await client.connect()
    yield client
    await client.aclose()


async def dialogue(session: ChatSession, keys: str, options: SignInOptions | None = None,
                   ) -> tuple[AuthOk, CapturedTerminal]:
    with fake_terminal() as (pipe, terminal):
        pipe.send_text(keys)
        result = await asyncio.wait_for(sign_in(session, options or SignInOptions()), 10)
    return result, terminal


def typed(*answers: str) -> str:
    return "".join(answer + ENTER for answer in answers)


async def test_log_in_from_the_menu(session: ChatSession) -> None:
    ok, terminal = await dialogue(session, typed("1", "alice", PASSWORD))
    assert ok.username == "alice" and session.username == "alice"
    screen = terminal.plain()
    assert "1) Log in  2) Register" in screen
    assert "Username: alice" in screen
    assert PASSWORD not in terminal.text  # hidden input


async def test_register_asks_twice(server: FakeServer, session: ChatSession) -> None:
    keys = typed("2", "bob", OTHER, "a different one", OTHER, OTHER)
    ok, terminal = await dialogue(session, keys)
    assert ok.username == "bob"
    assert "The passwords do not match; please try again." in terminal.plain()
    assert server.accounts["bob"] == OTHER
    assert OTHER not in terminal.text


async def test_local_checks_before_asking_the_server(server: FakeServer, session: ChatSession) -> None:
    keys = typed("3", "2", "no spaces please", "bobby.tables", "short", "Bobby.Tables", OTHER, OTHER)
    ok, terminal = await dialogue(session, keys)
    screen = terminal.plain()
    assert "Please type 1 to log in or 2 to register" in screen
    assert "That username is not valid: usernames are 3 to 32 characters" in screen
    assert "That password is not accepted: passwords are 8 to 1024 characters long." in screen
    assert "That password is not accepted: the password must not be the username." in screen
    assert ok.username == "bobby.tables"
    assert not any(isinstance(frame, Register) and frame.username != "bobby.tables"
                   for conn in server.connections for frame in conn.received)


async def test_wrong_password_then_try_again(session: ChatSession) -> None:
    ok, terminal = await dialogue(session, typed("1", "alice", "wrong password", "1", "alice", PASSWORD))
    assert ok.username == "alice"
    assert "Wrong username or password." in terminal.plain()


async def test_taken_username_asks_for_another_name_not_the_password(session: ChatSession) -> None:
    ok, terminal = await dialogue(session, typed("2", "alice", OTHER, OTHER, "carol"))
    assert ok.username == "carol"
    screen = terminal.plain()
    assert "That username is already taken; please choose another one." in screen
    after = screen.split("already taken", 1)[1]
    assert "Username:" in after and "Password" not in after  # (the keys above ran out otherwise)


async def test_taken_username_whose_replacement_is_the_password_asks_for_a_password(
    session: ChatSession
) -> None:
    ok, terminal = await dialogue(session, typed("2", "alice", "carolcarol", "carolcarol", "carolcarol",
                                                 OTHER, OTHER))
    assert ok.username == "carolcarol"
    assert "That password cannot go with this username; please choose another one." in terminal.plain()


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (Error(code="rate_limited", message="slow", retry_after=12.5),
         "Too many attempts; please try again in 13 seconds."),
        (Error(code="username_taken", message="x"),
         "That username is already taken; please choose another one."),
        (Error(code="weak_password", message="too common"), "That password is not accepted: too common."),
    ],
)
async def test_refusals_are_sentences(
    server: FakeServer, session: ChatSession, error: Error, sentence: str
) -> None:
    refused: list[ClientFrame] = []

    def refuse_once(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Login | Register) and not refused:
            refused.append(frame)
            conn.send(dataclass_replace(error, ref=frame.ref))
            return True
        return False

    server.on_frame = refuse_once
    ok, terminal = await dialogue(session, typed("1", "alice", PASSWORD, "1", "alice", PASSWORD))
    assert sentence in terminal.plain()
    assert ok.username == "alice"


async def test_user_given_only_asks_the_password(session: ChatSession) -> None:
    options = SignInOptions(username="alice")
    ok, terminal = await dialogue(session, typed("nope nope", PASSWORD), options)
    screen = terminal.plain()
    assert "Log in" not in screen
    assert "Signing in as alice." in screen
    assert "Wrong username or password." in screen
    assert ok.username == "alice"


async def test_user_given_with_register(server: FakeServer, session: ChatSession) -> None:
    ok, _ = await dialogue(session, typed(OTHER, OTHER), SignInOptions(username="dave", register=True))
    assert ok.username == "dave" and "dave" in server.accounts


@pytest.mark.parametrize(("key", "interrupted"), [(CTRL_C, True), (CTRL_D, False)])
async def test_leaving_at_a_prompt(session: ChatSession, key: str, interrupted: bool) -> None:
    with pytest.raises(SignInCancelled) as caught:
        await dialogue(session, "1" + ENTER + key)
    assert caught.value.interrupted is interrupted


async def test_scripted_sign_in(server: FakeServer, session: ChatSession) -> None:
    ok = await sign_in(session, SignInOptions(username="alice", password=PASSWORD))
    assert ok.username == "alice"


async def test_scripted_register_and_failures(server: FakeServer) -> None:
    async with ChatSession(server.host, server.port) as session:
        await session.connect()
        with pytest.raises(SignInFailed, match="the password must not be the username"):
            await sign_in(session, SignInOptions(username="erinerin", register=True, password="ERINERIN"))
        with pytest.raises(SignInFailed, match="already taken"):
            await sign_in(session, SignInOptions(username="alice", register=True, password=OTHER))
        with pytest.raises(SignInFailed, match="Wrong username or password"):
            await sign_in(session, SignInOptions(username="alice", password=OTHER))
        ok = await sign_in(session, SignInOptions(username="erinerin", register=True, password=OTHER))
        assert ok.username == "erinerin"


async def test_server_gone_during_sign_in(server: FakeServer, session: ChatSession) -> None:
    await server.stop()
    with pytest.raises(SignInFailed, match="lost the connection"):
        await dialogue(session, typed("1", "alice", PASSWORD))


ELSEWHERE = (
    "this account is already signed in elsewhere from 10.1.2.3:4567 since 2026-11-26T09:15:02.123Z; "
    "quit there, or log in with takeover to end that session"
)


def signed_in_elsewhere(conn: FakeConnection, frame: ClientFrame) -> bool:
    """The account is signed in elsewhere: only a login with takeover gets in."""
    if isinstance(frame, Login) and not frame.takeover:
        conn.send(Error(code="already_logged_in", message=ELSEWHERE, ref=frame.ref))
        return True
    return False


def logins(server: FakeServer) -> list[tuple[str, bool | None]]:
    return [(f.password, f.takeover) for c in server.connections for f in c.received if isinstance(f, Login)]


async def test_signed_in_elsewhere_offers_to_take_over(server: FakeServer, session: ChatSession) -> None:
    server.on_frame = signed_in_elsewhere
    ok, terminal = await dialogue(session, typed("1", "alice", PASSWORD, "y"))
    assert ok.username == "alice"
    screen = terminal.plain()
    since = datetime(2026, 11, 26, 9, 15, 2, tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    assert f"already signed in somewhere else (from 10.1.2.3:4567 since {since})" in screen
    assert "Take that session over? It will be signed out. [y/N]" in screen
    # The password is not asked again: the same one goes with takeover.
    assert logins(server) == [(PASSWORD, None), (PASSWORD, True)]
    assert PASSWORD not in terminal.text


async def test_declining_the_takeover_changes_nothing(server: FakeServer, session: ChatSession) -> None:
    server.on_frame = signed_in_elsewhere
    with pytest.raises(SignInCancelled):
        await dialogue(session, typed("1", "alice", PASSWORD, "") + CTRL_D)
    assert logins(server) == [(PASSWORD, None)]


async def test_takeover_given_up_front(server: FakeServer, session: ChatSession) -> None:
    server.on_frame = signed_in_elsewhere
    options = SignInOptions(username="alice", takeover=True)
    ok, terminal = await dialogue(session, typed(PASSWORD), options)
    assert ok.username == "alice"
    assert "Take that session over?" not in terminal.plain()
    assert logins(server) == [(PASSWORD, True)]


async def test_scripted_sign_in_takes_over_only_when_told(server: FakeServer) -> None:
    server.on_frame = signed_in_elsewhere
    async with ChatSession(server.host, server.port) as session:
        await session.connect()
        with pytest.raises(SignInFailed, match=r"signed in somewhere else .*\(--takeover takes it over\.\)"):
            await sign_in(session, SignInOptions(username="alice", password=PASSWORD))
        ok = await sign_in(session, SignInOptions(username="alice", password=PASSWORD, takeover=True))
        assert ok.username == "alice"
    assert SignInOptions(password=PASSWORD, takeover=True).__repr__().count(PASSWORD) == 0
