"""ChatSession against a scripted fake server: sign-in, sending, pings, losing and regaining the link."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator

import pytest

from chatapp.client import (
    AuthError,
    Backoff,
    ChatSession,
    ClientError,
    ConnectError,
    ConnectionState,
    LinkDown,
    LinkUp,
    ReconnectFailed,
    Reconnecting,
    SendFailed,
    SendRefused,
    SessionEnded,
)
from chatapp.protocol import (
    AuthOk,
    ByeReason,
    ClientFrame,
    Direct,
    Error,
    ErrorCode,
    HistoryPage,
    Join,
    Login,
    Message,
    OnlineUser,
    Ping,
    Pong,
    Presence,
    ProtocolError,
    Quit,
    Resume,
    Send,
    SendDirect,
    Synced,
    TopicChanged,
    Who,
    WhoList,
)
from tests.client.fakeserver import PASSWORD, FakeConnection, FakeServer
from tests.client.harness import next_event, until

FAST = Backoff(initial=0.01, factor=2.0, maximum=0.05, jitter=0.5)


@pytest.fixture
async def session(server: FakeServer) -> AsyncIterator[ChatSession]:
    client = ChatSession(server.host, server.port, backoff=FAST, rng=random.Random(1))
    yield client
    await client.aclose()


async def signed_in(session: ChatSession, name: str = "alice") -> AuthOk:
    await session.connect()
    return await session.register(name, PASSWORD)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- connecting and signing in -------------------------------------------------------------


async def test_connect_refused_is_a_connect_error() -> None:
    async with ChatSession("127.0.0.1", closed_port()) as session:
        with pytest.raises(ConnectError) as caught:
            await session.connect()
    assert caught.value.detail == "connection refused"
    assert session.state is ConnectionState.CLOSED


async def test_server_that_never_greets() -> None:
    fake = await FakeServer(greet=False).start()
    try:
        async with ChatSession(fake.host, fake.port, connect_timeout=0.2) as session:
            with pytest.raises(ConnectError, match="welcome"):
                await session.connect()
    finally:
        await fake.stop()


async def test_bye_before_welcome_is_reported(server: FakeServer, session: ChatSession) -> None:
    server.greet = False

    async def refuse() -> None:
        await until(lambda: server.connections)
        server.connections[0].bye(ByeReason.TOO_MANY_CONNECTIONS)

    refusing = asyncio.create_task(refuse())
    with pytest.raises(ConnectError) as caught:
        await session.connect()
    await refusing
    assert caught.value.bye == ByeReason.TOO_MANY_CONNECTIONS


async def test_register_then_login(server: FakeServer, session: ChatSession) -> None:
    welcome = await session.connect()
    assert welcome.server == "fake" and session.state is ConnectionState.CONNECTED
    ok = await session.register("alice", PASSWORD)
    assert ok.username == "alice" and session.username == "alice"
    assert session.state is ConnectionState.ONLINE
    frame = await server.next_frame(ClientFrame)
    assert type(frame).__name__ == "Register"
    with pytest.raises(ClientError, match="already signed in"):
        await session.login("alice", PASSWORD)

    async with ChatSession(server.host, server.port) as other:
        await other.connect()
        with pytest.raises(AuthError) as caught:
            await other.login("alice", "wrong password")
        assert caught.value.code == ErrorCode.AUTH_FAILED
        ok = await other.login("alice", PASSWORD)  # try again on the same connection
        assert ok.username == "alice"


async def test_sign_in_reconnects_when_the_server_gave_up(server: FakeServer, session: ChatSession) -> None:
    await session.connect()
    server.connections[0].bye(ByeReason.AUTH_TIMEOUT)
    await until(lambda: session.state is ConnectionState.DISCONNECTED)
    ok = await session.register("alice", PASSWORD)
    assert ok.username == "alice"


async def test_rate_limited_sign_in_carries_retry_after(server: FakeServer, session: ChatSession) -> None:
    def limit(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Login):
            conn.send(Error(code="rate_limited", message="slow down", ref=frame.ref, retry_after=30.0))
            return True
        return False

    server.on_frame = limit
    await session.connect()
    with pytest.raises(AuthError) as caught:
        await session.login("alice", PASSWORD)
    assert caught.value.code == ErrorCode.RATE_LIMITED and caught.value.retry_after == 30.0


# -- messages ------------------------------------------------------------------------------------


async def test_send_is_acknowledged_by_the_echo(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    outgoing = session.send_text("hello")
    assert session.outbox == (outgoing,)
    sent = await server.next_frame(Send)
    assert isinstance(sent, Send) and sent.nonce == outgoing.nonce and sent.room == "general"
    message = await next_event(session, Message)
    assert message.text == "hello" and message.nonce == outgoing.nonce
    assert session.outbox == ()
    assert await session.flush(1.0)


async def test_send_checks_rules_locally(server: FakeServer, session: ChatSession) -> None:
    with pytest.raises(SendRefused):
        session.send_text("too early")
    server.max_text = 10
    await signed_in(session)
    assert session.max_text == 10
    with pytest.raises(ProtocolError) as caught:
        session.send_text("x" * 11)
    assert caught.value.code == ErrorCode.TEXT_TOO_LONG
    with pytest.raises(ProtocolError):
        session.send_text("   ")
    assert session.outbox == ()


async def test_refused_send_is_reported(server: FakeServer, session: ChatSession) -> None:
    def refuse(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Send):
            conn.send(Error(code="muted", message="you are muted", ref=frame.ref))
            return True
        return False

    await signed_in(session)
    server.on_frame = refuse
    outgoing = session.send_text("spam")
    failed = await next_event(session, SendFailed)
    assert failed.outgoing is outgoing and failed.error.code == "muted"
    assert session.outbox == ()


async def test_incoming_messages_presence_and_errors(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    joined = await next_event(session, Presence)
    assert joined.username == "alice"
    server.broadcast(server.message("bob", "hi"))
    server.broadcast(Error(code="server_error", message="oops"))
    assert (await next_event(session, Message)).sender == "bob"
    assert (await next_event(session, Error)).code == "server_error"


async def test_server_pings_are_answered(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    server.connections[0].send(Ping(ref="srv-1"))
    pong = await server.next_frame(Pong)
    assert isinstance(pong, Pong) and pong.ref == "srv-1"


async def test_latency_is_measured(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    await until(lambda: session.latency is not None)
    assert session.latency is not None and 0 <= session.latency < 5


async def test_garbage_from_the_server_is_ignored(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    server.connections[0].writer.write(b"not json\n{\"type\":\"nonsense\"}\n" + b"x" * 2_000_000 + b"\n")
    server.broadcast(server.message("bob", "still here"))
    assert (await next_event(session, Message)).text == "still here"


# -- losing the link -----------------------------------------------------------------------------------


async def test_reconnects_and_resumes_after_a_restart(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    port = server.port
    await server.stop(bye=ByeReason.SHUTDOWN)
    down = await next_event(session, LinkDown)
    assert down.bye == ByeReason.SHUTDOWN and down.reconnect
    # messages typed while the link is down wait in the outbox
    waiting = session.send_text("typed while down")
    assert waiting.queued
    first = await next_event(session, Reconnecting)
    assert first.attempt == 1 and 0 < first.delay <= FAST.initial
    failed = await next_event(session, ReconnectFailed)
    assert failed.reason == "connection refused"
    second = await next_event(session, Reconnecting)
    assert second.attempt == 2

    restarted = FakeServer()
    restarted.port = port
    restarted.tokens = server.tokens
    await restarted.start()
    try:
        up = await next_event(session, LinkUp)
        assert up.attempt >= 2 and session.state is ConnectionState.ONLINE
        resume = await restarted.next_frame(Resume)
        assert isinstance(resume, Resume) and resume.token == "token-alice"
        assert resume.last_id is None  # no message seen yet
        sent = await restarted.next_frame(Send)
        assert isinstance(sent, Send) and sent.text == "typed while down" and sent.nonce == waiting.nonce
        echo = await next_event(session, Message)
        assert echo.nonce == waiting.nonce and session.outbox == ()
    finally:
        await restarted.stop()


async def test_unacknowledged_messages_are_sent_again(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    swallowed: list[Send] = []

    def swallow(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Send) and not swallowed:
            swallowed.append(frame)
            conn.writer.transport.abort()  # the link dies before the echo
            return True
        return False

    server.on_frame = swallow
    outgoing = session.send_text("once")
    await next_event(session, LinkDown)
    echo = await next_event(session, Message)
    assert echo.nonce == outgoing.nonce == swallowed[0].nonce


@pytest.mark.parametrize("reason", [ByeReason.REPLACED, ByeReason.KICKED])
async def test_no_reconnect_after_replaced_or_kicked(
    server: FakeServer, session: ChatSession, reason: str
) -> None:
    await signed_in(session)
    server.connections[0].bye(reason)
    down = await next_event(session, LinkDown)
    assert down.bye == reason and not down.reconnect
    ended = await next_event(session, SessionEnded)
    assert ended.bye == reason and session.state is ConnectionState.CLOSED
    with pytest.raises(SendRefused):
        session.send_text("anyone?")


async def test_expired_token_ends_the_session(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    server.tokens.clear()
    server.connections[0].writer.transport.abort()
    ended = await next_event(session, SessionEnded)
    assert ended.error is not None and ended.error.code == ErrorCode.INVALID_TOKEN


async def test_refused_resume_is_retried(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    refusals: list[Resume] = []

    def busy(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Resume) and not refusals:
            refusals.append(frame)
            conn.send(Error(code="already_logged_in", message="still here", ref=frame.ref))
            return True
        return False

    server.on_frame = busy
    server.connections[0].writer.transport.abort()
    failed = await next_event(session, ReconnectFailed)
    assert failed.code == ErrorCode.ALREADY_LOGGED_IN
    await next_event(session, LinkUp)


async def test_a_silent_server_is_detected_by_pings(server: FakeServer) -> None:
    server.answer_pings = False
    async with ChatSession(server.host, server.port, backoff=FAST, ping_interval=0.1) as session:
        await signed_in(session)
        down = await next_event(session, LinkDown)
        assert down.error is not None and "no answer" in down.error
        server.answer_pings = True
        await next_event(session, LinkUp)


async def test_reconnect_now_cuts_the_wait_short(server: FakeServer) -> None:
    slow = Backoff(initial=60.0, maximum=60.0, jitter=0.0)
    async with ChatSession(server.host, server.port, backoff=slow) as session:
        await signed_in(session)
        assert not session.reconnect_now()
        server.connections[0].writer.transport.abort()
        waiting = await next_event(session, Reconnecting)
        assert waiting.delay == 60.0 and session.state is ConnectionState.WAITING
        assert session.reconnect_now()
        await next_event(session, LinkUp)


# -- leaving ------------------------------------------------------------------------------------------------


async def test_quit_says_goodbye(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    await session.quit()
    assert isinstance(await server.next_frame(Quit), Quit)
    ended = await next_event(session, SessionEnded)
    assert ended.bye == ByeReason.QUIT
    assert session.state is ConnectionState.CLOSED
    await session.aclose()  # twice is fine


async def test_quit_while_disconnected(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    await server.stop()
    await next_event(session, LinkDown)
    await session.quit()
    assert (await next_event(session, SessionEnded)).bye == ByeReason.QUIT


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    policy = Backoff(initial=1.0, factor=2.0, maximum=10.0, jitter=0.5)
    rng = random.Random(7)
    delays = [policy.delay(n, rng) for n in range(8)]
    raw = [1, 2, 4, 8, 10, 10, 10, 10]
    for delay, top in zip(delays, raw, strict=True):
        assert top * 0.5 <= delay <= top
    assert len(set(delays)) == len(delays)  # jittered
    assert Backoff(jitter=0.0).delay(1000, rng) == Backoff().maximum


async def test_resume_asks_for_what_was_missed_and_duplicates_are_dropped(
    server: FakeServer, session: ChatSession
) -> None:
    await signed_in(session)
    server.broadcast(server.message("bob", "one"))
    server.broadcast(server.message("bob", "two"))
    assert (await next_event(session, Message)).text == "one"
    assert (await next_event(session, Message)).text == "two"
    assert session.last_id == 2

    def replay(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Resume):
            conn.send(AuthOk(username="alice", token="token-alice", ref=frame.ref))
            # a replay that overlaps what the client already has
            conn.send(Message(id=2, room="general", sender="bob", text="two", ts="2026-01-01T00:00:00Z"))
            conn.send(Message(id=3, room="general", sender="bob", text="three", ts="2026-01-01T00:00:01Z",
                              replayed=True))
            return True
        return False

    server.on_frame = replay
    server.connections[0].writer.transport.abort()
    await next_event(session, LinkUp)
    resume = await server.next_frame(Resume)
    assert isinstance(resume, Resume) and resume.last_id == 2
    message = await next_event(session, Message)
    assert message.text == "three" and message.replayed
    assert session.last_id == 3


async def test_frames_of_later_features_are_passed_on(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    server.connections[0].send(TopicChanged(room="general", text="new topic", by="bob"))
    changed = await next_event(session, TopicChanged)
    assert changed.text == "new topic"


# -- direct messages, requests, ids -----------------------------------------------------------------


async def test_direct_message_is_acknowledged_by_the_echo(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    server.accounts["bob"] = PASSWORD
    outgoing = session.send_direct("psst", "bob")
    assert outgoing.to == "bob" and outgoing.room is None and session.outbox == (outgoing,)
    sent = await server.next_frame(SendDirect)
    assert isinstance(sent, SendDirect) and sent.to == "bob" and sent.nonce == outgoing.nonce
    echo = await next_event(session, Direct)
    assert echo.text == "psst" and echo.sender == "alice" and session.outbox == ()
    assert session.last_id == echo.id


async def test_direct_message_to_nobody_is_refused(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    with pytest.raises(ProtocolError) as caught:
        session.send_direct("hi", "no such name!")
    assert caught.value.code == ErrorCode.INVALID_USERNAME
    outgoing = session.send_direct("hi", "nobody")
    failed = await next_event(session, SendFailed)
    assert failed.outgoing is outgoing and failed.error.code == ErrorCode.NO_SUCH_USER


async def test_requests_carry_a_ref_and_need_a_connection(server: FakeServer, session: ChatSession) -> None:
    with pytest.raises(SendRefused, match="not connected"):
        session.request(lambda ref: Who(room="general", ref=ref))
    await signed_in(session)
    assert session.online

    def answer(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Who):
            conn.send(WhoList(room=frame.room, users=[OnlineUser(username="alice")], ref=frame.ref))
            return True
        if isinstance(frame, Join):
            conn.send(Error(code="too_many_rooms", message="leave one", ref=frame.ref))
            return True
        return False

    server.on_frame = answer
    ref = session.request(lambda ref: Who(room="general", ref=ref))
    who = await next_event(session, WhoList)
    assert who.ref == ref and who.users[0].username == "alice"
    ref = session.request(lambda ref: Join(room="rust", ref=ref))
    refused = await next_event(session, Error)
    assert refused.ref == ref and refused.code == "too_many_rooms"
    server.connections[0].writer.transport.abort()
    await next_event(session, LinkDown)
    assert not session.online
    with pytest.raises(SendRefused):
        session.request(lambda ref: Who(room="general", ref=ref))


async def test_synced_and_direct_messages_move_last_id(server: FakeServer, session: ChatSession) -> None:
    await signed_in(session)
    conn = server.connections[0]
    conn.send(Synced(last_id=40))
    assert (await next_event(session, Synced)).last_id == 40
    assert session.last_id == 40
    conn.send(Direct(id=41, sender="bob", to="alice", text="one", ts="2026-01-01T00:00:00Z"))
    conn.send(Direct(id=41, sender="bob", to="alice", text="one", ts="2026-01-01T00:00:00Z"))
    conn.send(HistoryPage(messages=[server.message("bob", "old")], has_more=False, room="general"))
    conn.send(server.message("bob", "two"))
    assert (await next_event(session, Direct)).id == 41
    page = await next_event(session, HistoryPage)  # the duplicate 41 was dropped
    assert page.messages[0].text == "old"
    assert session.last_id == 41  # a history page does not move it
    assert (await next_event(session, Message)).text == "two"


async def test_the_token_survives_resumes_answered_with_an_empty_token(
    server: FakeServer, session: ChatSession
) -> None:
    await signed_in(session)
    for _ in range(3):
        server.connections[-1].writer.transport.abort()
        await next_event(session, LinkDown)
        await next_event(session, LinkUp)
    resumes = [frame for conn in server.connections for frame in conn.received if isinstance(frame, Resume)]
    assert resumes and all(frame.token == "token-alice" for frame in resumes)
