"""Both halves of a connection in memory: bytes move between them by hand, no socket, no loop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatapp.protocol import (
    AuthOk,
    Bye,
    ByeReason,
    Error,
    ErrorCode,
    Join,
    Login,
    Message,
    Ping,
    Presence,
    Quit,
    Register,
    Send,
    Welcome,
    decode_server_frame,
    encode,
)
from chatapp.protocol.connection import (
    BadLine,
    ClientProtocol,
    CloseRequested,
    FrameReceived,
    FrameRefused,
    ServerFrameReceived,
    ServerProtocol,
)
from chatapp.protocol.errors import LocalProtocolError, ProtocolError
from chatapp.protocol.states import CLIENT_MAY_SEND, SIGN_IN, SIGNED_IN, State, refusal

WELCOME = Welcome(server="chatapp", version=1, max_frame=1024, max_text=100)


def server(**limits: int) -> ServerProtocol:
    settings = {"max_frame": 1024, "max_unauthenticated_frames": 20, "max_invalid_frames": 3, **limits}
    return ServerProtocol(**settings)


def events(protocol: ServerProtocol) -> list[object]:
    taken = []
    while (event := protocol.next_event()) is not None:
        taken.append(event)
    return taken


def greeted() -> tuple[ServerProtocol, ClientProtocol]:
    srv, cli = server(), ClientProtocol()
    data = srv.welcome(WELCOME)
    (event,) = cli.receive_data(data)
    assert event == ServerFrameReceived(WELCOME, len(data) - 1)
    return srv, cli


def test_the_welcome_opens_both_halves() -> None:
    srv, cli = greeted()
    assert srv.state is cli.state is State.GREETED
    assert cli.welcome_frame == WELCOME


def test_a_connection_the_transport_vouches_for_starts_signed_in_on_both_halves() -> None:
    """The control socket: no sign-in, the welcome opens a signed-in connection, and a frame that
    signs in is refused as it is for any signed-in client."""
    srv, cli = server(), ClientProtocol(authenticated=True)
    (event,) = cli.receive_data(srv.welcome(WELCOME, authenticated=True))
    assert isinstance(event, ServerFrameReceived) and event.frame == WELCOME
    assert srv.state is cli.state is State.AUTHENTICATED
    srv.receive_data(cli.send(Join(room="general", ref=1)))
    assert events(srv) == [FrameReceived(Join(room="general", ref=1))]
    with pytest.raises(LocalProtocolError):
        cli.send(Login(username="alice", password="secret pass"))
    srv.receive_data(encode(Login(username="alice", password="secret pass", ref=2)))
    (refused,) = events(srv)
    assert isinstance(refused, FrameRefused) and refused.error.code is ErrorCode.ALREADY_AUTHENTICATED


def test_a_sign_in_and_what_follows_it_in_the_same_packet_are_judged_in_turn() -> None:
    """``login`` then ``send`` in one packet: the send is allowed, because by the time it is taken
    the login was handled and the connection signed in."""
    srv, cli = greeted()
    login = Login(username="alice", password="secret pass", ref=1)
    srv.receive_data(cli.send(login) + encode(Send(room="general", text="hi", ref=2)))
    assert srv.next_event() == FrameReceived(login)
    answer = srv.signed_in(AuthOk(username="alice", token="t", ref=1))
    assert [e.frame for e in cli.receive_data(answer)] == [AuthOk(username="alice", token="t", ref=1)]  # type: ignore[union-attr]
    assert srv.next_event() == FrameReceived(Send(room="general", text="hi", ref=2))
    assert srv.state is cli.state is State.AUTHENTICATED


def test_a_frame_the_state_does_not_allow_is_refused_with_its_ref() -> None:
    srv, _ = greeted()
    probe = ClientProtocol(strict=False)
    srv.receive_data(probe.send(Send(room="general", text="hi", ref="s")))
    (event,) = events(srv)
    assert isinstance(event, FrameRefused)
    assert (event.error.code, event.error.ref) == (ErrorCode.NOT_AUTHENTICATED, "s")
    data, close = srv.refuse(event.error)
    assert close is None
    assert decode_server_frame(data).ref == "s"  # type: ignore[union-attr]


def test_signing_in_twice_is_refused() -> None:
    srv, _ = greeted()
    srv.signed_in(AuthOk(username="alice", token="t"))
    srv.receive_data(encode(Register(username="bob", password="secret pass", ref=4)))
    (event,) = events(srv)
    assert isinstance(event, FrameRefused) and event.error.code is ErrorCode.ALREADY_AUTHENTICATED


def test_a_strict_client_will_not_send_what_its_state_does_not_allow() -> None:
    cli = ClientProtocol()
    with pytest.raises(LocalProtocolError):
        cli.send(Ping())  # before the welcome
    cli.receive_data(encode(WELCOME))
    with pytest.raises(LocalProtocolError):
        cli.send(Join(room="rust"))
    assert cli.send(Ping(ref=1)) == encode(Ping(ref=1))


def test_the_server_will_not_send_what_its_state_does_not_allow() -> None:
    srv, _ = greeted()
    with pytest.raises(LocalProtocolError):
        srv.send(Message(id=1, room="general", sender="bob", text="x", ts="t"))
    with pytest.raises(LocalProtocolError):
        srv.welcome(WELCOME)


def test_frames_before_signing_in_are_budgeted() -> None:
    srv = server(max_unauthenticated_frames=3)
    srv.welcome(WELCOME)
    srv.receive_data(encode(Ping()) * 5)
    taken = events(srv)
    assert taken[:3] == [FrameReceived(Ping())] * 3
    assert taken[3] == CloseRequested(ByeReason.TOO_MANY_UNAUTHENTICATED)


def test_a_run_of_garbage_ends_the_connection_and_anything_good_breaks_the_run() -> None:
    srv, _ = greeted()
    srv.receive_data(b"nonsense\n" * 2 + encode(Ping()) + b"{}\n" * 3)
    closes = []
    for event in events(srv):
        if isinstance(event, FrameRefused):
            closes.append(srv.refuse(event.error)[1])
        else:
            srv.handled()
    assert closes == [None, None, None, None, ByeReason.TOO_MANY_INVALID]


def test_a_refusal_that_is_not_garbage_breaks_the_run_too() -> None:
    srv, _ = greeted()
    garbage = ProtocolError(ErrorCode.BAD_FRAME, "x")
    assert srv.refuse(garbage)[1] is None
    assert srv.refuse(garbage)[1] is None
    assert srv.refuse(ProtocolError(ErrorCode.RATE_LIMITED, "slow down"))[1] is None
    assert srv.refuse(garbage)[1] is None


def test_an_over_long_line_is_refused_and_the_connection_goes_on() -> None:
    srv, _ = greeted()
    srv.receive_data(b'{"type":"ping","ref":"' + b"x" * 2000 + b'"}\n' + encode(Ping(ref=7)))
    first, second = events(srv)
    assert isinstance(first, FrameRefused) and first.error.code is ErrorCode.FRAME_TOO_LARGE
    assert second == FrameReceived(Ping(ref=7))


def test_after_the_goodbye_nothing_more_is_taken_or_said() -> None:
    srv, cli = greeted()
    srv.receive_data(encode(Ping()) * 2)
    bye = srv.close(ByeReason.QUIT)
    assert srv.next_event() is None
    srv.receive_data(encode(Ping()))
    assert srv.next_event() is None
    assert srv.close(ByeReason.SHUTDOWN) == b""
    assert srv.refuse(ProtocolError(ErrorCode.BAD_FRAME, "x")) == (b"", None)
    with pytest.raises(LocalProtocolError):
        srv.send(Ping())
    (event,) = cli.receive_data(bye + encode(Ping()))
    assert cli.state is State.CLOSED and cli.bye_reason == "quit"
    assert isinstance(event, ServerFrameReceived)


def test_a_lost_link_closes_without_a_goodbye() -> None:
    srv, _ = greeted()
    srv.receive_data(encode(Ping()))
    srv.connection_lost()
    assert srv.state is State.CLOSED
    assert srv.next_event() is None
    assert srv.close(ByeReason.SHUTDOWN) == b""
    with pytest.raises(LocalProtocolError):
        srv.send(Ping())


def test_the_client_flags_what_the_server_may_not_send_in_its_state_and_goes_on() -> None:
    _, cli = greeted()
    presence = Presence(event="online", room="general", username="bob")
    taken = cli.receive_data(encode(presence) + b"garbage\n" + encode(Ping(ref=1)))
    assert [type(event) for event in taken] == [BadLine, BadLine, ServerFrameReceived]
    assert cli.state is State.GREETED


def test_a_refusal_at_accept_time_is_a_lone_goodbye() -> None:
    cli = ClientProtocol()
    srv = server()
    (event,) = cli.receive_data(srv.close(ByeReason.SERVER_FULL))
    assert isinstance(event, ServerFrameReceived)
    assert cli.state is State.CLOSED and cli.bye_reason == "server full"


def test_every_client_frame_type_is_in_exactly_one_group() -> None:
    for kind in SIGNED_IN | SIGN_IN:
        assert (kind in CLIENT_MAY_SEND[State.GREETED]) != (kind in CLIENT_MAY_SEND[State.AUTHENTICATED])
    for kind in (Ping, Quit):
        assert refusal(State.GREETED, kind) is None and refusal(State.AUTHENTICATED, kind) is None


FRAMES = st.sampled_from(
    [Ping(ref=1), Send(room="general", text="hé\nllo", nonce="n"), Join(room="rust", last_id=3), Quit()]
)


@given(st.lists(FRAMES, max_size=12), st.lists(st.integers(min_value=1, max_value=40), min_size=1))
def test_however_the_bytes_are_cut_the_server_takes_the_same_frames(
    frames: list[object], cuts: list[int]
) -> None:
    srv, _ = greeted()
    srv.signed_in(AuthOk(username="alice", token="t"))
    data = b"".join(encode(frame) for frame in frames)  # type: ignore[arg-type]
    taken: list[object] = []
    position, index = 0, 0
    while position < len(data):
        size = cuts[index % len(cuts)]
        srv.receive_data(data[position : position + size])
        position, index = position + size, index + 1
        taken.extend(events(srv))
    assert taken == [FrameReceived(frame) for frame in frames]  # type: ignore[arg-type]


def test_a_goodbye_may_carry_a_sentence_and_a_refusal_when_it_ends() -> None:
    srv, cli = greeted()
    data, close = srv.refuse(
        ProtocolError(ErrorCode.SUSPENDED, "this account is suspended", until="2026-12-05T13:00:00.000Z"), 4
    )
    assert close is None
    (refused,) = cli.receive_data(data)
    assert isinstance(refused, ServerFrameReceived)
    assert refused.frame == Error(
        code="suspended", message="this account is suspended", ref=4, until="2026-12-05T13:00:00.000Z"
    )
    (goodbye,) = cli.receive_data(srv.close(ByeReason.SUSPENDED, "suspended by alice until lifted: spam"))
    assert isinstance(goodbye, ServerFrameReceived)
    assert goodbye.frame == Bye(reason="account suspended", message="suspended by alice until lifted: spam")
    assert cli.bye_reason == "account suspended"


# -- one frame per message (the WebSocket transport) ------------------------------------------------


def test_each_message_is_exactly_one_frame() -> None:
    proto = server()
    proto.welcome(WELCOME)
    login = encode(Login(username="alice", password="pw", ref=1))
    proto.receive_message(login)  # with its newline
    proto.receive_message(login.rstrip(b"\n"))  # without
    proto.receive_message(b'{"type":"ping",\n"ref":2}')  # JSON whitespace inside: still one frame
    taken = events(proto)
    assert [type(event) for event in taken] == [FrameReceived, FrameReceived, FrameReceived]
    assert isinstance(taken[2], FrameReceived) and taken[2].frame == Ping(ref=2)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        (b"", ErrorCode.BAD_FRAME),
        (b"\n", ErrorCode.BAD_FRAME),
        (b'{"type":"ping"}\n{"type":"ping"}', ErrorCode.BAD_FRAME),
        (b"not json", ErrorCode.BAD_FRAME),
        (b'{"type":"ping","ref":"' + b"x" * 1100 + b'"}', ErrorCode.FRAME_TOO_LARGE),
    ],
)
def test_a_message_that_is_not_one_frame_is_refused_like_a_bad_line(message: bytes, code: ErrorCode) -> None:
    proto = server()
    proto.welcome(WELCOME)
    proto.receive_message(message)
    (event,) = events(proto)
    assert isinstance(event, FrameRefused) and event.error.code is code
    data, close = proto.refuse(event.error)
    assert b'"type":"error"' in data and close is None  # counted toward the invalid-frame budget


def test_nothing_is_taken_after_the_goodbye() -> None:
    proto = server()
    proto.welcome(WELCOME)
    proto.close(ByeReason.SHUTDOWN)
    proto.receive_message(encode(Ping(ref=1)))
    assert events(proto) == []
