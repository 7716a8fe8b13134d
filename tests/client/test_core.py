"""The session's protocol part in memory: frames in, frames and events out, no socket, no event loop."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatapp.client import SendFailed, SendRefused
from chatapp.client.net.core import SessionCore, SignInAnswer
from chatapp.client.net.link import frame_size
from chatapp.protocol import (
    AuthOk,
    Direct,
    Error,
    ErrorCode,
    HistoryPage,
    Login,
    Message,
    Ping,
    Pong,
    Presence,
    ProtocolError,
    Register,
    Resume,
    Send,
    SendDirect,
    Synced,
    Welcome,
    Who,
)

WELCOME = Welcome(server="test", version=1, max_frame=65536, max_text=4000)
TS = "2026-01-01T00:00:00.000Z"


def fresh(**options: int) -> SessionCore:
    return SessionCore(frame_size=frame_size, rng=random.Random(5), **options)


def sign_in(core: SessionCore, token: str = "token-alice") -> int:
    """Greet and sign ``core`` in as alice; returns the ref of the login."""
    core.receive(WELCOME, now=0.0)
    login = core.sign_in(lambda ref: Login(username="alice", password="secret words", ref=ref))
    assert isinstance(login.ref, int)
    core.receive(AuthOk(username="alice", token=token, ref=login.ref), now=0.0)
    return login.ref


def signed_in(**options: int) -> SessionCore:
    core = fresh(**options)
    sign_in(core)
    core.events_received()
    return core


def message(id: int, text: str = "hi", *, nonce: str | None = None, sender: str = "bob") -> Message:
    return Message(id=id, room="general", sender=sender, text=text, ts=TS, nonce=nonce)


def test_the_welcome_and_the_sign_in_answer_are_for_the_link_part() -> None:
    core = fresh()
    core.receive(WELCOME, now=0.0)
    assert core.welcome == WELCOME and core.events_received() == [WELCOME]
    register = core.sign_in(lambda ref: Register(username="alice", password="secret words", ref=ref))
    assert isinstance(register, Register) and core.frames_to_send() == []  # the caller writes it
    assert isinstance(register.ref, int)
    ok = AuthOk(username="alice", token="t1", ref=register.ref)
    core.receive(ok, now=0.0)
    assert core.events_received() == [SignInAnswer(register.ref, ok)]
    assert core.online and core.username == "alice" and core.token == "t1"


def test_a_refused_sign_in_is_an_answer_too() -> None:
    core = fresh()
    login = core.sign_in(lambda ref: Login(username="alice", password="wrong", ref=ref))
    assert isinstance(login.ref, int)
    refusal = Error(code=ErrorCode.AUTH_FAILED, message="no", ref=login.ref)
    core.receive(refusal, now=0.0)
    assert core.events_received() == [SignInAnswer(login.ref, refusal)] and not core.online
    core.receive(AuthOk(username="mallory", token="x", ref=99), now=0.0)  # nobody asked
    assert core.events_received() == [] and not core.online and core.username is None


def test_nothing_is_sent_before_signing_in() -> None:
    core = fresh()
    with pytest.raises(SendRefused, match="not signed in"):
        core.send_text("too early", "general")
    with pytest.raises(SendRefused, match="not connected"):
        core.request(lambda ref: Who(room="general", ref=ref))
    assert core.frames_to_send() == [] and core.outbox == ()


def test_a_message_goes_out_and_its_echo_acknowledges_it() -> None:
    core = signed_in()
    outgoing = core.send_text("hello", "rust")
    [sent] = core.frames_to_send()
    assert sent == Send(room="rust", text="hello", nonce=outgoing.nonce, ref=outgoing.ref)
    assert core.outbox == (outgoing,) and not outgoing.queued
    echo = message(7, "hello", nonce=outgoing.nonce, sender="alice")
    core.receive(echo, now=1.0)
    assert core.outbox == () and core.events_received() == [echo] and core.last_id == 7


def test_a_direct_message_is_checked_and_acknowledged_the_same_way() -> None:
    core = signed_in()
    with pytest.raises(ProtocolError) as caught:
        core.send_direct("hi", "no such name!")
    assert caught.value.code == ErrorCode.INVALID_USERNAME
    outgoing = core.send_direct("psst", "bob")
    sent = SendDirect(to="bob", text="psst", nonce=outgoing.nonce, ref=outgoing.ref)
    assert core.frames_to_send() == [sent]
    echo = Direct(id=3, sender="alice", to="bob", text="psst", ts=TS, nonce=outgoing.nonce)
    core.receive(echo, now=0.0)
    assert core.outbox == () and core.last_id == 3


def test_a_refused_message_leaves_the_outbox_as_send_failed() -> None:
    core = signed_in()
    outgoing = core.send_text("spam", "general")
    refusal = Error(code=ErrorCode.MUTED, message="muted", ref=outgoing.ref)
    core.receive(refusal, now=0.0)
    assert core.events_received() == [SendFailed(outgoing, refusal)] and core.outbox == ()
    other = Error(code=ErrorCode.NO_SUCH_ROOM, message="no", ref=12345)
    core.receive(other, now=0.0)
    assert core.events_received() == [other]  # not about a message: passed on


def test_the_server_s_limits_are_checked_locally() -> None:
    core = signed_in()
    core.receive(Welcome(server="test", version=1, max_frame=200, max_text=10), now=0.0)
    assert core.max_text == 10
    with pytest.raises(ProtocolError) as caught:
        core.send_text("x" * 11, "general")
    assert caught.value.code == ErrorCode.TEXT_TOO_LONG
    core.receive(Welcome(server="test", version=1, max_frame=100, max_text=4000), now=0.0)
    with pytest.raises(ProtocolError, match="larger than the server's limit of 100 bytes"):
        core.send_text("y" * 80, "general")
    with pytest.raises(ProtocolError):
        core.send_text("   ", "general")
    assert core.outbox == () and core.frames_to_send() == []


def test_the_outbox_is_bounded() -> None:
    core = signed_in(max_outbox=2)
    core.send_text("one", "general")
    core.send_text("two", "general")
    with pytest.raises(SendRefused, match="2 messages are already waiting"):
        core.send_text("three", "general")


def test_what_was_not_acknowledged_is_sent_again_after_resuming() -> None:
    core = signed_in()
    lost = core.send_text("on the wire when the link died", "general")
    core.receive(message(41), now=0.0)
    core.frames_to_send()
    core.link_lost()
    assert not core.online and lost.queued
    waiting = core.send_direct("typed while down", "bob")
    assert waiting.queued and core.frames_to_send() == []  # kept for later
    with pytest.raises(SendRefused, match="not connected"):
        core.request(lambda ref: Who(room="general", ref=ref))
    resume = core.resume()
    assert isinstance(resume, Resume) and resume.token == "token-alice" and resume.last_id == 41
    core.receive(WELCOME, now=0.0)
    core.receive(AuthOk(username="alice", token="", ref=resume.ref), now=0.0)  # a resume keeps the token
    assert core.online and core.token == "token-alice"
    # Same nonces, in order, one at a time: the next when the previous was acknowledged.
    assert core.frames_to_send() == [lost.frame()]
    assert not lost.queued and waiting.queued
    core.receive(message(42, nonce=lost.nonce), now=0.0)
    assert core.frames_to_send() == [waiting.frame()] and not waiting.queued


def test_messages_go_one_at_a_time_and_a_rate_refusal_is_waited_out_and_sent_again() -> None:
    core = signed_in()
    core.frames_to_send()
    first, second, third = (core.send_text(f"line {n}", "general") for n in (1, 2, 3))
    assert core.frames_to_send() == [first.frame()]  # the others wait for its answer
    core.receive(message(50, nonce=first.nonce), now=10.0)
    core.events_received()
    assert core.frames_to_send() == [second.frame()]
    refusal = Error(code=ErrorCode.RATE_LIMITED, message="slow", ref=second.ref, retry_after=2.5)
    core.receive(refusal, now=10.0)
    # Not dropped, not reported: held at the head, nothing else goes before the wait is over.
    assert core.events_received() == [] and core.outbox == (second, third)
    assert core.hold_until == 12.5 and core.frames_to_send() == []
    core.receive(message(51), now=11.0)  # someone else's message: no change
    core.release(12.4)
    assert core.frames_to_send() == []
    core.release(12.5)
    assert core.hold_until is None and core.frames_to_send() == [second.frame()]  # the same nonce
    core.receive(message(52, nonce=second.nonce), now=12.6)
    assert core.frames_to_send() == [third.frame()]
    # Any other refusal drops that message only, and the next goes.
    fourth = core.send_text("line 4", "general")
    core.receive(Error(code=ErrorCode.NOT_IN_ROOM, message="no", ref=third.ref), now=13.0)
    failed = core.events_received()[-1]
    assert isinstance(failed, SendFailed) and failed.outgoing is third
    assert core.frames_to_send() == [fourth.frame()]


def test_a_resume_needs_a_session() -> None:
    with pytest.raises(SendRefused):
        fresh().resume()


def test_a_message_seen_twice_is_passed_on_once() -> None:
    core = signed_in()
    for frame in (message(5, "one"), message(5, "one"), message(6, "two")):
        core.receive(frame, now=0.0)
    assert [event.id for event in core.events_received() if isinstance(event, Message)] == [5, 6]


def test_synced_moves_last_id_and_history_pages_do_not() -> None:
    core = signed_in()
    core.receive(Synced(last_id=40), now=0.0)
    page = HistoryPage(messages=[message(90, "old?")], has_more=False, room="general")
    core.receive(page, now=0.0)
    assert core.last_id == 40
    assert core.events_received() == [Synced(last_id=40), page]
    core.receive(Synced(last_id=30), now=0.0)
    assert core.last_id == 40  # never backwards


def test_pings_are_answered_and_measured() -> None:
    core = signed_in()
    core.receive(Ping(ref="srv-1"), now=0.0)
    assert core.frames_to_send() == [Pong(ref="srv-1")] and core.events_received() == []
    ref = core.ping(now=10.0)
    assert core.frames_to_send() == [Ping(ref=ref)]
    core.receive(Pong(ref=ref), now=10.25)
    assert core.latency == 0.25
    core.receive(Pong(ref=ref), now=99.0)  # answered already: measures nothing
    assert core.latency == 0.25


def test_refs_are_never_reused() -> None:
    core = signed_in()
    refs = [
        core.send_text("a", "general").ref,
        core.request(lambda ref: Who(room="general", ref=ref)),
        core.ping(now=0.0),
        core.send_direct("b", "bob").ref,
        core.next_ref(),
    ]
    assert len(set(refs)) == len(refs)


def test_everything_else_is_passed_on_in_order() -> None:
    core = signed_in()
    frames = [Presence(event="join", room="general", username="bob"), message(1), Synced(last_id=1)]
    for frame in frames:
        core.receive(frame, now=0.0)
    assert core.events_received() == frames and core.events_received() == []


def test_a_closed_session_takes_nothing_more() -> None:
    core = signed_in()
    core.close()
    with pytest.raises(SendRefused, match="over"):
        core.send_text("late", "general")
    with pytest.raises(SendRefused, match="over"):
        core.request(lambda ref: Who(room="general", ref=ref))


@given(st.lists(st.lists(st.integers(min_value=1, max_value=60), max_size=20), max_size=10))
def test_each_id_is_passed_on_once_and_last_id_is_the_highest(deliveries: list[list[int]]) -> None:
    core = signed_in()
    passed: list[int] = []
    for burst in deliveries:  # replays overlapping live messages, in any order
        for message_id in burst:
            core.receive(message(message_id), now=0.0)
        passed += [event.id for event in core.events_received() if isinstance(event, Message)]
    seen = [message_id for burst in deliveries for message_id in burst]
    assert sorted(passed) == sorted(set(seen))
    assert core.last_id == (max(seen) if seen else None)
