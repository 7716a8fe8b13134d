"""The frame records, error codes and exported names of the protocol package."""

from __future__ import annotations

import typing

import msgspec
import pytest

import chatapp.protocol as protocol
from chatapp.protocol import (
    AuthOk,
    Away,
    Bye,
    Ciphertext,
    ClaimedKey,
    ClaimKey,
    ClientFrame,
    DeleteDevice,
    DeviceDeleted,
    DeviceInfo,
    DeviceList,
    Direct,
    EndSession,
    Envelope,
    Error,
    ErrorCode,
    History,
    HistoryPage,
    IdentityKeys,
    Join,
    Joined,
    KeysPublished,
    Leave,
    Left,
    ListDevices,
    ListRooms,
    ListSessions,
    Login,
    Message,
    OneTimeKey,
    OnlineUser,
    Ping,
    Pong,
    Presence,
    ProtocolError,
    PublishKeys,
    Quit,
    Register,
    Resume,
    RoomInfo,
    RoomList,
    Send,
    SendDirect,
    ServerFrame,
    SessionClosed,
    SessionInfo,
    SessionList,
    SetTopic,
    Synced,
    TopicChanged,
    UserInfo,
    Welcome,
    Who,
    Whois,
    WhoList,
)
from chatapp.protocol.file_frames import (
    FileChunk,
    FileInfo,
    FileLink,
    FileRead,
    FileUrl,
    UploadAck,
    UploadCancel,
    UploadCancelled,
    UploadChunk,
    UploadDone,
    UploadReady,
    UploadStart,
)
from chatapp.protocol.frames import CLIENT_FRAME_TYPES, SERVER_FRAME_TYPES
from chatapp.protocol.moderation_frames import (
    AddressBanInfo,
    AddressBanList,
    Admin,
    AdminDone,
    AuditEntry,
    AuditPage,
    ChangePassword,
    DeleteMessage,
    DeleteRoom,
    ListAddressBans,
    ListSanctions,
    ListUsers,
    MessageRemoved,
    Moderate,
    PasswordChanged,
    ReadAudit,
    RoomDeleted,
    RoomEvent,
    RoomMode,
    SanctionInfo,
    SanctionList,
    SetProfile,
    UserList,
    UserSessions,
    UserSummary,
)

SECRET = "s3cr3t-Pa55word-XYZ"

KEYS = IdentityKeys(curve25519="C" * 43, ed25519="E" * 43)

ALL_FRAMES: list[msgspec.Struct] = [
    Register(username="alice", password=SECRET, ref=1),
    Login(username="alice", password=SECRET, ref="r"),
    Login(username="alice", password=SECRET, takeover=True),
    Resume(token=SECRET),
    Resume(token=SECRET, last_id=41, ref=5),
    Send(room="general", text="hi", nonce="n1", ref=2),
    Quit(),
    Ping(ref="p"),
    Pong(),
    Join(room="dev", last_id=3, ref=6),
    Leave(room="dev"),
    ListRooms(ref=7),
    SetTopic(room="dev", text="builds and bugs"),
    Who(room="dev"),
    Whois(username="bob"),
    Away(text="lunch"),
    SendDirect(to="bob", text="psst", nonce="n2", ref=8),
    History(room="dev", before=100, limit=20),
    Welcome(server="chatapp", version=1, max_frame=65536, max_text=4000),
    AuthOk(username="alice", token=SECRET, ref=3),
    Message(id=1, room="general", sender="alice", text="hi", ts="2024-01-01T00:00:00Z", nonce="n1"),
    Message(id=2, room="general", sender="bob", text="earlier", ts="2024-01-01T00:00:00Z", replayed=True),
    Presence(event="join", room="general", username="alice"),
    Presence(event="away", room="general", username="alice", text="lunch"),
    Error(code="bad_frame", message="no", ref=4, retry_after=1.5),
    Bye(reason="quit"),
    Direct(id=3, sender="alice", to="bob", text="psst", ts="2024-01-01T00:00:00Z", nonce="n2"),
    Joined(room="dev", topic="builds", created=True, ref=6),
    Left(room="dev"),
    TopicChanged(room="dev", text="builds and bugs", by="alice"),
    Synced(last_id=9, has_more=True),
    ListSessions(ref=10),
    EndSession(id=4, ref=11),
    SessionClosed(id=4, ref=11),
    Moderate(room="dev", action="mute", user="bob", duration=60),
    RoomMode(room="dev", private=True),
    DeleteRoom(room="dev"),
    DeleteMessage(id=3),
    ListSanctions(room="dev"),
    SetProfile(display_name="Bob"),
    ChangePassword(old=SECRET, new=SECRET),
    Admin(action="suspend", user="bob", reason="spam"),
    UserSessions(user="bob"),
    ListUsers(query="b"),
    ListAddressBans(),
    ReadAudit(limit=5),
    RoomEvent(room="dev", action="kick", by="alice", user="bob", reason="spam"),
    RoomDeleted(room="dev", by="alice"),
    MessageRemoved(id=3, by="alice", room="dev"),
    PasswordChanged(sessions_ended=1),
    AdminDone(action="reset_password", user="bob", password=SECRET),
    ListDevices(username="bob"),
    ClaimKey(username="bob", device="DEV123"),
    DeleteDevice(device="DEV123", ref=1),
    KeysPublished(device="DEV123", one_time_keys=50),
    ClaimedKey(username="bob", device="DEV123", key=OneTimeKey(key_id="A", key="K" * 43), fallback=True),
    DeviceDeleted(device="DEV123"),
    UploadStart(name="a.txt", size=3, sha256="0" * 64, room="dev"),
    UploadChunk(upload="U" * 16, offset=0, data=b"abc", sha256="0" * 64),
    UploadCancel(upload="U" * 16),
    FileRead(file="F" * 16, offset=0),
    FileLink(file="F" * 16),
    UploadReady(upload="U" * 16, offset=0),
    UploadAck(upload="U" * 16, offset=3),
    UploadDone(upload="U" * 16, file=FileInfo(id="F" * 16, name="a.txt", size=3, sha256="0" * 64)),
    UploadCancelled(upload="U" * 16),
    FileChunk(file="F" * 16, offset=0, data=b"abc", eof=True),
    FileUrl(file="F" * 16, url="/files/F?ticket=t", expires="t"),
]

# Frames holding lists: immutable (no field can be set) but, like a tuple of lists, not hashable.
LIST_FRAMES: list[msgspec.Struct] = [
    RoomList(rooms=[RoomInfo(name="dev", topic="t", members=2, online=1, joined=True)], ref=7),
    WhoList(room="dev", users=[OnlineUser(username="bob"), OnlineUser(username="carol", away="out")]),
    UserInfo(username="bob", online=False, member_since="2024", last_seen="2025", rooms_in_common=["dev"]),
    HistoryPage(
        messages=[
            Message(id=1, room="dev", sender="a", text="t", ts="x"),
            Direct(id=2, sender="a", to="b", text="t", ts="x"),
        ],
        has_more=True,
        room="dev",
    ),
    SessionList(sessions=[SessionInfo(id=4, address="a", created="c", last_seen="l", current=True)], ref=10),
    SanctionList(room="dev", sanctions=[SanctionInfo(user="bob", kind="ban", since="t")]),
    UserList(users=[UserSummary(username="bob", role="user", created="t")], has_more=False),
    AddressBanList(bans=[AddressBanInfo(address="10.0.0.0/8", since="t")]),
    AuditPage(events=[AuditEntry(id=1, at="t", actor="alice", action="kick")], has_more=False),
    DeviceList(
        username="bob",
        devices=[DeviceInfo(device="DEV123", keys=KEYS, signature="S" * 86, added="t", name="phone")],
    ),
    PublishKeys(
        device="DEV123", keys=KEYS, signature="S" * 86, one_time_keys=[OneTimeKey(key_id="A", key="K" * 43)]
    ),
    SendDirect(
        to="bob", e2e=Envelope(device="DEV123", key="K" * 43, ciphertexts={"DEV456": Ciphertext(0, "AA==")})
    ),
]

NESTED: list[msgspec.Struct] = [
    RoomInfo(name="dev", topic="t", members=2, online=1, joined=True),
    OnlineUser(username="bob", away="out"),
    SessionInfo(id=4, address="a", created="c", last_seen="l"),
]


def test_frame_type_sets() -> None:
    assert CLIENT_FRAME_TYPES == {
        "register",
        "login",
        "resume",
        "send",
        "quit",
        "ping",
        "pong",
        "join",
        "leave",
        "rooms",
        "topic",
        "who",
        "whois",
        "away",
        "dm",
        "history",
        "sessions",
        "end_session",
        "moderate",
        "room_mode",
        "delete_room",
        "delete_message",
        "sanctions",
        "profile",
        "passwd",
        "admin",
        "user_sessions",
        "users",
        "address_bans",
        "audit",
        "publish_keys",
        "devices",
        "claim_key",
        "delete_device",
        "upload_start",
        "upload_chunk",
        "upload_cancel",
        "file_read",
        "file_link",
    }
    assert SERVER_FRAME_TYPES == {
        "welcome",
        "auth_ok",
        "message",
        "presence",
        "error",
        "bye",
        "ping",
        "pong",
        "direct",
        "joined",
        "left",
        "room_list",
        "topic_changed",
        "who_list",
        "user_info",
        "history_page",
        "synced",
        "session_list",
        "session_closed",
        "room_event",
        "room_deleted",
        "message_removed",
        "sanction_list",
        "password_changed",
        "admin_done",
        "user_list",
        "address_ban_list",
        "audit_page",
        "keys_published",
        "device_list",
        "claimed_key",
        "device_deleted",
        "upload_ready",
        "upload_ack",
        "upload_done",
        "upload_cancelled",
        "file_chunk",
        "file_url",
    }
    assert CLIENT_FRAME_TYPES & SERVER_FRAME_TYPES == {"ping", "pong"}


def test_frame_type_sets_follow_the_unions() -> None:
    """The sets are derived from the unions; every member has its own tag."""
    for union, types in ((ClientFrame, CLIENT_FRAME_TYPES), (ServerFrame, SERVER_FRAME_TYPES)):
        members = typing.get_args(union)
        tags = [member.__struct_config__.tag for member in members]
        assert len(set(tags)) == len(tags) == len(members)
        assert set(tags) == types


def test_frame_lists_cover_every_type() -> None:
    tags = {f.__struct_config__.tag for f in ALL_FRAMES + LIST_FRAMES}
    assert tags == CLIENT_FRAME_TYPES | SERVER_FRAME_TYPES


@pytest.mark.parametrize("frame", ALL_FRAMES, ids=lambda f: type(f).__name__)
def test_frames_are_immutable_and_hashable(frame: msgspec.Struct) -> None:
    field = frame.__struct_fields__[0]
    with pytest.raises(AttributeError):
        setattr(frame, field, "changed")
    assert hash(frame) == hash(msgspec.structs.replace(frame))
    assert frame == msgspec.structs.replace(frame)


@pytest.mark.parametrize("frame", LIST_FRAMES + NESTED, ids=lambda f: type(f).__name__)
def test_frames_with_lists_are_immutable_and_comparable(frame: msgspec.Struct) -> None:
    for field in frame.__struct_fields__:
        with pytest.raises(AttributeError):
            setattr(frame, field, "changed")
    assert frame == msgspec.structs.replace(frame)
    assert frame != msgspec.structs.replace(frame, **{frame.__struct_fields__[0]: "other"})


@pytest.mark.parametrize("item", NESTED, ids=lambda f: type(f).__name__)
def test_nested_records_are_not_frames(item: msgspec.Struct) -> None:
    """RoomInfo and OnlineUser travel inside frames: no ``type`` of their own."""
    config = item.__struct_config__
    assert config.frozen
    assert config.omit_defaults
    assert config.tag is None
    assert config.tag_field is None
    assert not config.forbid_unknown_fields
    assert hash(item) == hash(msgspec.structs.replace(item))


@pytest.mark.parametrize("frame", ALL_FRAMES + LIST_FRAMES, ids=lambda f: type(f).__name__)
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
    assert Message(id=1, room="r", sender="a", text="t", ts="now").replayed is False
    direct = Direct(id=1, sender="a", to="b", text="t", ts="now")
    assert direct.nonce is None and direct.replayed is False
    assert Resume(token="t").last_id is None
    assert Join(room="r").last_id is None
    assert Away().text is None
    assert History() == History(room=None, with_=None, before=None, after=None, limit=None, ref=None)
    assert SendDirect(to="b", text="t").nonce is None
    assert Presence(event="online", room="r", username="u").text is None
    assert Joined(room="r", topic="").created is False
    assert Synced(last_id=0).has_more is False
    assert OnlineUser(username="u").away is None
    page = HistoryPage(messages=[], has_more=False)
    assert page.room is None and page.with_ is None and page.ref is None
    info = UserInfo(username="u", online=True, member_since="t")
    assert info.last_seen is None and info.away is None and info.ref is None
    assert info.rooms_in_common == []
    # A fresh list per frame, not one shared default.
    assert info.rooms_in_common is not UserInfo(username="v", online=True, member_since="t").rooms_in_common


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
        Resume(token=SECRET, last_id=12, ref="r1"),
        AuthOk(username="alice", token=SECRET, ref="r1"),
        ChangePassword(old=SECRET, new=SECRET, ref="r1"),
        AdminDone(action="reset_password", user="alice", password=SECRET, ref="r1"),
    ],
    ids=lambda f: type(f).__name__,
)
def test_secrets_hidden_from_repr(frame: object) -> None:
    for text in (repr(frame), str(frame), f"{frame}", f"{frame!r}", repr([frame]), repr({"f": frame})):
        assert SECRET not in text
        assert "<hidden>" in text
    # The rest is still there, for logs.
    assert "r1" in repr(frame)
    if not isinstance(frame, Resume | ChangePassword):
        assert "alice" in repr(frame)


def test_repr_of_other_frames_is_informative() -> None:
    assert "hello" in repr(Send(room="general", text="hello"))
    assert "bad_frame" in repr(Error(code="bad_frame", message="m"))
    assert "psst" in repr(SendDirect(to="bob", text="psst"))
    assert "psst" in repr(Direct(id=1, sender="alice", to="bob", text="psst", ts="t"))
    assert "bob" in repr(History(with_="bob"))
    assert "lunch" in repr(OnlineUser(username="bob", away="lunch"))


def test_chunk_frames_show_no_bytes_in_repr() -> None:
    """A log line about a chunk names the transfer and the size, never 32 KiB of data."""
    chunk = UploadChunk(upload="U" * 16, offset=64, data=b"secret-bytes" * 100, sha256="0" * 64)
    read = FileChunk(file="F" * 16, offset=64, data=b"secret-bytes" * 100)
    for frame in (chunk, read):
        assert "secret-bytes" not in repr(frame)
        assert "offset=64" in repr(frame) and "bytes=1200" in repr(frame)


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
        "no_such_room",
        "no_such_user",
        "forbidden",
        "too_many_rooms",
        "no_such_session",
        "server_error",
        "banned",
        "muted",
        "suspended",
        "filtered",
        "invite_only",
        "no_such_message",
        "invalid_address",
        "too_many_devices",
        "device_conflict",
        "bad_signature",
        "no_such_device",
        "no_keys",
        "file_too_large",
        "quota_exceeded",
        "storage_full",
        "too_many_uploads",
        "no_such_upload",
        "no_such_file",
        "wrong_offset",
        "bad_chunk",
        "digest_mismatch",
        "file_attached",
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
    # Every frame, and every record nested in one, is exported.
    nested = [RoomInfo, OnlineUser, SessionInfo, SanctionInfo, UserSummary, AddressBanInfo, AuditEntry]
    classes = [*typing.get_args(ClientFrame), *typing.get_args(ServerFrame), *nested]
    for cls in classes:
        assert cls.__name__ in protocol.__all__, cls.__name__
        assert getattr(protocol, cls.__name__) is cls
