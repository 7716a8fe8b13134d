"""The frame records, error codes and exported names of the protocol package."""

from __future__ import annotations

import msgspec
import pytest

import chatapp.protocol as protocol
from chatapp.protocol import (
    AuthOk,
    Bye,
    Error,
    ErrorCode,
    Login,
    Message,
    Ping,
    Pong,
    Presence,
    ProtocolError,
    Quit,
    Register,
    Resume,
    Send,
    Welcome,
)
from chatapp.protocol.frames import CLIENT_FRAME_TYPES, SERVER_FRAME_TYPES

SECRET = "s3cr3t-Pa55word-XYZ"

ALL_FRAMES = [
    Register(username="alice", password=SECRET, ref=1),
    Login(username="alice", password=SECRET, ref="r"),
    Resume(token=SECRET),
    Send(room="general", text="hi", nonce="n1", ref=2),
    Quit(),
    Ping(ref="p"),
    Pong(),
    Welcome(server="chatapp", version=1, max_frame=65536, max_text=4000),
    AuthOk(username="alice", token=SECRET, ref=3),
    Message(id=1, room="general", sender="alice", text="hi", ts="2024-01-01T00:00:00Z", nonce="n1"),
    Presence(event="join", room="general", username="alice"),
    Error(code="bad_frame", message="no", ref=4, retry_after=1.5),
    Bye(reason="quit"),
]


def test_frame_type_sets() -> None:
    assert CLIENT_FRAME_TYPES == {"register", "login", "resume", "send", "quit", "ping", "pong"}
    assert SERVER_FRAME_TYPES == {"welcome", "auth_ok", "message", "presence", "error", "bye", "ping", "pong"}
    assert CLIENT_FRAME_TYPES & SERVER_FRAME_TYPES == {"ping", "pong"}


@pytest.mark.parametrize("frame", ALL_FRAMES, ids=lambda f: type(f).__name__)
def test_frames_are_immutable_and_hashable(frame: msgspec.Struct) -> None:
    field = frame.__struct_fields__[0]
    with pytest.raises(AttributeError):
        setattr(frame, field, "changed")
    assert hash(frame) == hash(msgspec.structs.replace(frame))
    assert frame == msgspec.structs.replace(frame)


@pytest.mark.parametrize("frame", ALL_FRAMES, ids=lambda f: type(f).__name__)
def test_frame_config(frame: msgspec.Struct) -> None:
    config = frame.__struct_config__
    assert config.frozen
    assert config.omit_defaults
    assert config.tag_field == "type"
    assert not config.forbid_unknown_fields
    assert isinstance(config.tag, str)


def test_defaults() -> None:
    assert Ping().ref is None
    assert Send(room="r", text="t").nonce is None
    assert Send(room="r", text="t").ref is None
    err = Error(code="x", message="m")
    assert err.ref is None and err.retry_after is None
    assert Message(id=1, room="r", sender="a", text="t", ts="now").nonce is None


def test_ping_and_pong_are_different_frames() -> None:
    ping: object = Ping()
    assert ping != Pong()
    assert Ping(ref=1) != Ping(ref=2)
    assert Ping(ref=1) != Ping(ref="1")


@pytest.mark.parametrize(
    "frame",
    [
        Register(username="alice", password=SECRET, ref="r1"),
        Login(username="alice", password=SECRET, ref="r1"),
        Resume(token=SECRET, ref="r1"),
        AuthOk(username="alice", token=SECRET, ref="r1"),
    ],
    ids=lambda f: type(f).__name__,
)
def test_secrets_hidden_from_repr(frame: object) -> None:
    for text in (repr(frame), str(frame), f"{frame}", f"{frame!r}", repr([frame]), repr({"f": frame})):
        assert SECRET not in text
        assert "<hidden>" in text
    # The rest is still there, for logs.
    assert "r1" in repr(frame)
    if not isinstance(frame, Resume):
        assert "alice" in repr(frame)


def test_repr_of_other_frames_is_informative() -> None:
    assert "hello" in repr(Send(room="general", text="hello"))
    assert "bad_frame" in repr(Error(code="bad_frame", message="m"))


def test_error_codes_are_stable_strings() -> None:
    assert {code.value for code in ErrorCode} == {
        "bad_frame",
        "frame_too_large",
        "unknown_type",
        "not_authenticated",
        "already_authenticated",
        "invalid_username",
        "weak_password",
        "username_taken",
        "auth_failed",
        "already_logged_in",
        "invalid_token",
        "rate_limited",
        "text_too_long",
        "invalid_room",
        "not_in_room",
        "server_error",
    }
    for code in ErrorCode:
        assert code == code.value
        assert str(code) == code.value
        assert ErrorCode(code.value) is code


def test_protocol_error() -> None:
    exc = ProtocolError(ErrorCode.RATE_LIMITED, "slow down", retry_after=2.5, ref="abc")
    assert isinstance(exc, Exception)
    assert exc.code is ErrorCode.RATE_LIMITED
    assert exc.message == "slow down"
    assert str(exc) == "slow down"
    assert exc.retry_after == 2.5
    assert exc.ref == "abc"
    assert repr(exc) == "ProtocolError('rate_limited', 'slow down')"

    plain = ProtocolError(ErrorCode.BAD_FRAME, "bad")
    assert plain.retry_after is None
    assert plain.ref is None


def test_public_names() -> None:
    for name in protocol.__all__:
        assert hasattr(protocol, name), name
    assert len(set(protocol.__all__)) == len(protocol.__all__)
