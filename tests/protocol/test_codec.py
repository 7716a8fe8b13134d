"""Encoding frames to lines and decoding lines to frames: bytes in, frames out."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatapp.protocol import (
    MAX_FRAME_BYTES,
    MAX_TEXT_CHARS,
    AuthOk,
    Away,
    Bye,
    ClaimedKey,
    ClaimKey,
    DeleteDevice,
    DeviceDeleted,
    DeviceInfo,
    DeviceList,
    Direct,
    EndSession,
    Envelope,
    Error,
    ErrorCode,
    Frame,
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
    decode_client_frame,
    decode_server_frame,
    encode,
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
from chatapp.protocol.frames import CLIENT_FRAME_TYPES, SERVER_FRAME_TYPES, PresenceEvent
from chatapp.protocol.limits import AWAY_MAX, NONCE_MAX, REF_MAX, ROOM_MAX, TOPIC_MAX, USERNAME_MAX
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

FAST = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Recursive JSON strategies are slow to draw from; fewer examples keep the suite quick.
FAST_JSON = settings(FAST, max_examples=150)

Decoder = Callable[[bytes], Any]
DECODERS: list[Decoder] = [decode_client_frame, decode_server_frame]

SECRET = "s3cr3t-Pa55word-XYZ"


def line(obj: object) -> bytes:
    """``obj`` as compact JSON bytes, the way a peer would send it (without the newline)."""
    return json.dumps(obj, separators=(",", ":"), default=msgspec.to_builtins).encode()


def refused(decode: Decoder, data: bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decode(data)
    return info.value


def attr(cls: Any, wire_name: str) -> str:
    """The Python name of the field that is ``wire_name`` on the wire ("with" is ``with_``)."""
    for field in msgspec.structs.fields(cls):
        if field.encode_name == wire_name:
            return field.name
    raise AssertionError(f"{cls.__name__} has no field {wire_name!r}")


def is_required(field: msgspec.structs.FieldInfo) -> bool:
    return field.default is msgspec.NODEFAULT and field.default_factory is msgspec.NODEFAULT


def default_of(field: msgspec.structs.FieldInfo) -> Any:
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return field.default


# -- valid frames ----------------------------------------------------------------

# (fields on the wire without "type" and "ref", the frame expected without ref)
CURVE_KEY = "C" * 43
EDWARDS_KEY = "E" * 43
SIGNATURE = "S" * 86
KEYS_WIRE = IdentityKeys(curve25519=CURVE_KEY, ed25519=EDWARDS_KEY)
"""A nested value as its struct (``line`` writes it as JSON), so that ``cls(**fields)`` builds the frame."""
ENVELOPE_WIRE = {
    "v": 1,
    "device": "DEVICEA1",
    "key": CURVE_KEY,
    "ciphertexts": {"DEVICEB1": {"type": 0, "body": "AAEC"}},
}
ENVELOPE = msgspec.convert(ENVELOPE_WIRE, Envelope)
DEVICE_WIRE = {"device": "DEVICEB1", "keys": KEYS_WIRE, "signature": SIGNATURE, "added": "t1"}

DIGEST = "0123456789abcdef" * 4
FILE_ID = "ZmlsZV9udW1iZXJfb25l"
UPLOAD_ID = "Wm9vX2F0X3RoZV9ib3R0b20"
FILE_INFO = FileInfo(id=FILE_ID, name="notes.txt", size=40000, sha256=DIGEST)

CLIENT_CASES: dict[str, tuple[dict[str, Any], Callable[..., Any]]] = {
    "register": ({"username": "alice", "password": "correct horse"}, Register),
    "login": ({"username": "alice", "password": "correct horse"}, Login),
    "resume": ({"token": "tok-123"}, Resume),
    "send": ({"room": "general", "text": "hello"}, Send),
    "quit": ({}, Quit),
    "ping": ({}, Ping),
    "pong": ({}, Pong),
    "join": ({"room": "general"}, Join),
    "leave": ({"room": "general"}, Leave),
    "rooms": ({}, ListRooms),
    "topic": ({"room": "general", "text": "all things chat"}, SetTopic),
    "who": ({"room": "general"}, Who),
    "whois": ({"username": "bob"}, Whois),
    "away": ({}, Away),
    "dm": ({"to": "bob"}, SendDirect),
    "history": ({}, History),
    "sessions": ({}, ListSessions),
    "end_session": ({"id": 3}, EndSession),
    "moderate": ({"room": "dev", "action": "kick", "user": "bob"}, Moderate),
    "room_mode": ({"room": "dev", "private": True}, RoomMode),
    "delete_room": ({"room": "dev"}, DeleteRoom),
    "delete_message": ({"id": 7}, DeleteMessage),
    "sanctions": ({"room": "dev"}, ListSanctions),
    "profile": ({}, SetProfile),
    "passwd": ({"old": "correct horse", "new": "battery staple"}, ChangePassword),
    "admin": ({"action": "suspend"}, Admin),
    "user_sessions": ({"user": "bob"}, UserSessions),
    "users": ({}, ListUsers),
    "address_bans": ({}, ListAddressBans),
    "audit": ({}, ReadAudit),
    "publish_keys": ({"device": "DEVICEA1", "keys": KEYS_WIRE, "signature": SIGNATURE}, PublishKeys),
    "devices": ({"username": "bob"}, ListDevices),
    "claim_key": ({"username": "bob", "device": "DEVICEB1"}, ClaimKey),
    "delete_device": ({"device": "DEVICEA1"}, DeleteDevice),
    "upload_start": ({"name": "notes.txt", "size": 40000, "sha256": DIGEST}, UploadStart),
    "upload_chunk": (
        {"upload": UPLOAD_ID, "offset": 0, "data": b"\x00\xffdata", "sha256": DIGEST}, UploadChunk
    ),
    "upload_cancel": ({"upload": UPLOAD_ID}, UploadCancel),
    "file_read": ({"file": FILE_ID, "offset": 32768}, FileRead),
    "file_link": ({"file": FILE_ID}, FileLink),
}

MESSAGE_WIRE = {"type": "message", "id": 7, "room": "general", "from": "bob", "text": "hi", "ts": "t1"}
DIRECT_WIRE = {"type": "direct", "id": 8, "from": "bob", "to": "alice", "text": "psst", "ts": "t2"}
ROOM_INFO_WIRE = {"name": "general", "topic": "all things chat", "members": 3, "online": 2, "joined": False}
SESSION_INFO_WIRE = {"id": 3, "address": "10.0.0.1:5000", "created": "t1", "last_seen": "t2"}

SERVER_CASES: dict[str, tuple[dict[str, Any], Frame]] = {
    "welcome": (
        {"server": "chatapp 1.0", "version": 1, "max_frame": 65536, "max_text": 4000},
        Welcome(server="chatapp 1.0", version=1, max_frame=65536, max_text=4000),
    ),
    "auth_ok": ({"username": "alice", "token": "tok"}, AuthOk(username="alice", token="tok")),
    "message": (
        {"id": 7, "room": "general", "from": "bob", "text": "hi", "ts": "2024-05-01T12:00:00Z"},
        Message(id=7, room="general", sender="bob", text="hi", ts="2024-05-01T12:00:00Z"),
    ),
    "presence": (
        {"event": "join", "room": "general", "username": "bob"},
        Presence(event="join", room="general", username="bob"),
    ),
    "error": ({"code": "bad_frame", "message": "no"}, Error(code="bad_frame", message="no")),
    "bye": ({"reason": "quit"}, Bye(reason="quit")),
    "ping": ({}, Ping()),
    "pong": ({}, Pong()),
    "direct": (
        {"id": 8, "from": "bob", "to": "alice", "text": "psst", "ts": "2024-05-01T12:00:00Z"},
        Direct(id=8, sender="bob", to="alice", text="psst", ts="2024-05-01T12:00:00Z"),
    ),
    "joined": ({"room": "dev", "topic": "builds"}, Joined(room="dev", topic="builds")),
    "left": ({"room": "dev"}, Left(room="dev")),
    "room_list": (
        {"rooms": [ROOM_INFO_WIRE]},
        RoomList(
            rooms=[RoomInfo(name="general", topic="all things chat", members=3, online=2, joined=False)]
        ),
    ),
    "topic_changed": (
        {"room": "dev", "text": "builds", "by": "alice"},
        TopicChanged(room="dev", text="builds", by="alice"),
    ),
    "who_list": (
        {"room": "dev", "users": [{"username": "bob"}, {"username": "carol", "away": "lunch"}]},
        WhoList(room="dev", users=[OnlineUser(username="bob"), OnlineUser(username="carol", away="lunch")]),
    ),
    "user_info": (
        {"username": "bob", "online": True, "member_since": "2024-01-01"},
        UserInfo(username="bob", online=True, member_since="2024-01-01"),
    ),
    "history_page": (
        {"messages": [MESSAGE_WIRE, DIRECT_WIRE], "has_more": True},
        HistoryPage(
            messages=[
                Message(id=7, room="general", sender="bob", text="hi", ts="t1"),
                Direct(id=8, sender="bob", to="alice", text="psst", ts="t2"),
            ],
            has_more=True,
        ),
    ),
    "synced": ({"last_id": 41}, Synced(last_id=41)),
    "session_list": (
        {"sessions": [SESSION_INFO_WIRE, {**SESSION_INFO_WIRE, "id": 4, "current": True, "connected": True}]},
        SessionList(
            sessions=[
                SessionInfo(id=3, address="10.0.0.1:5000", created="t1", last_seen="t2"),
                SessionInfo(
                    id=4, address="10.0.0.1:5000", created="t1", last_seen="t2", current=True, connected=True
                ),
            ]
        ),
    ),
    "session_closed": ({"id": 3}, SessionClosed(id=3)),
    "room_event": (
        {"room": "dev", "action": "kick", "by": "alice"},
        RoomEvent(room="dev", action="kick", by="alice"),
    ),
    "room_deleted": ({"room": "dev", "by": "alice"}, RoomDeleted(room="dev", by="alice")),
    "message_removed": ({"id": 7, "by": "alice"}, MessageRemoved(id=7, by="alice")),
    "sanction_list": (
        {"room": "dev", "sanctions": [{"user": "bob", "kind": "ban", "since": "t1"}]},
        SanctionList(room="dev", sanctions=[SanctionInfo(user="bob", kind="ban", since="t1")]),
    ),
    "password_changed": ({"sessions_ended": 2}, PasswordChanged(sessions_ended=2)),
    "admin_done": ({"action": "suspend"}, AdminDone(action="suspend")),
    "user_list": (
        {"users": [{"username": "bob", "role": "user", "created": "t1"}], "has_more": False},
        UserList(users=[UserSummary(username="bob", role="user", created="t1")], has_more=False),
    ),
    "address_ban_list": (
        {"bans": [{"address": "10.0.0.0/8", "since": "t1"}]},
        AddressBanList(bans=[AddressBanInfo(address="10.0.0.0/8", since="t1")]),
    ),
    "audit_page": (
        {"events": [{"id": 1, "at": "t1", "actor": "alice", "action": "kick"}], "has_more": True},
        AuditPage(events=[AuditEntry(id=1, at="t1", actor="alice", action="kick")], has_more=True),
    ),
    "keys_published": (
        {"device": "DEVICEA1", "one_time_keys": 50},
        KeysPublished(device="DEVICEA1", one_time_keys=50),
    ),
    "device_list": (
        {"username": "bob", "devices": [DEVICE_WIRE]},
        DeviceList(username="bob", devices=[msgspec.convert(DEVICE_WIRE, DeviceInfo)]),
    ),
    "claimed_key": (
        {"username": "bob", "device": "DEVICEB1", "key": {"key_id": "AAAAAAAAAAA", "key": CURVE_KEY}},
        ClaimedKey(username="bob", device="DEVICEB1", key=OneTimeKey(key_id="AAAAAAAAAAA", key=CURVE_KEY)),
    ),
    "device_deleted": ({"device": "DEVICEA1"}, DeviceDeleted(device="DEVICEA1")),
    "upload_ready": ({"upload": UPLOAD_ID, "offset": 0}, UploadReady(upload=UPLOAD_ID, offset=0)),
    "upload_ack": ({"upload": UPLOAD_ID, "offset": 32768}, UploadAck(upload=UPLOAD_ID, offset=32768)),
    "upload_done": ({"upload": UPLOAD_ID, "file": FILE_INFO}, UploadDone(upload=UPLOAD_ID, file=FILE_INFO)),
    "upload_cancelled": ({"upload": UPLOAD_ID}, UploadCancelled(upload=UPLOAD_ID)),
    "file_chunk": (
        {"file": FILE_ID, "offset": 0, "data": b"\x00\x01"},
        FileChunk(file=FILE_ID, offset=0, data=b"\x00\x01"),
    ),
    "file_url": (
        {"file": FILE_ID, "url": "/files/x?ticket=y", "expires": "t1"},
        FileUrl(file=FILE_ID, url="/files/x?ticket=y", expires="t1"),
    ),
}

# Optional fields other than ref, with a valid value each (wire names).
CLIENT_OPTIONAL: dict[str, dict[str, Any]] = {
    "login": {"takeover": True},
    "resume": {"last_id": 41},
    "send": {"nonce": "n-1", "action": True, "file": FILE_ID},
    "join": {"last_id": 0},
    "away": {"text": "lunch"},
    "dm": {"text": "psst", "nonce": "n-2", "e2e": ENVELOPE, "action": True, "file": FILE_ID},
    "upload_start": {"room": "general", "to": "bob", "mime": "text/plain", "encrypted": True},
    "file_read": {"length": 1024},
    "publish_keys": {
        "one_time_keys": [OneTimeKey(key_id="AAAAAAAAAAA", key=CURVE_KEY)],
        "fallback_key": OneTimeKey(key_id="AAAAAAAAAAB", key=CURVE_KEY),
        "name": "laptop",
    },
    "history": {"room": "general", "with": "bob", "before": 100, "after": 5, "limit": 20},
    "moderate": {"reason": "spam", "duration": 60},
    "delete_room": {"reason": "done"},
    "profile": {"display_name": "Bob B.", "bio": "hi"},
    "admin": {
        "user": "bob",
        "address": "10.0.0.1",
        "role": "moderator",
        "session": 3,
        "reason": "spam",
        "duration": 60,
    },
    "users": {"query": "bo", "after": "alice", "limit": 10},
    "audit": {"before": 100, "limit": 10},
}

SERVER_OPTIONAL: dict[str, dict[str, Any]] = {
    "message": {"nonce": "n-1", "replayed": True, "removed_by": "alice", "action": True, "file": FILE_INFO},
    "direct": {
        "nonce": "n-2", "replayed": True, "removed_by": "alice", "e2e": ENVELOPE, "action": True,
        "file": FILE_INFO,
    },
    "file_chunk": {"eof": True},
    "claimed_key": {"fallback": True},
    "presence": {"text": "lunch"},
    "error": {
        "retry_after": 1.5, "until": "2030-01-01T00:00:00+00:00", "limit": 100, "over": 5, "offset": 64
    },
    "bye": {"message": "suspended by alice: spam"},
    "joined": {"created": True, "private": True, "role": "owner"},
    "user_info": {
        "last_seen": "2024-06-01",
        "away": "lunch",
        "rooms_in_common": ["general", "dev"],
        "display_name": "Bob B.",
        "bio": "hi",
        "role": "moderator",
    },
    "session_list": {"user": "bob"},
    "room_event": {"user": "bob", "reason": "spam", "until": "t2"},
    "room_deleted": {"reason": "done"},
    "message_removed": {"room": "dev"},
    "admin_done": {"user": "bob", "address": "10.0.0.1/32", "until": "t2", "count": 1, "password": "pw"},
    "history_page": {"room": "general", "with": "bob"},
    "synced": {"has_more": True},
}
CLIENT_OPTIONAL_FIELDS = [(k, f) for k, fields in sorted(CLIENT_OPTIONAL.items()) for f in fields]
SERVER_OPTIONAL_FIELDS = [(k, f) for k, fields in sorted(SERVER_OPTIONAL.items()) for f in fields]

REFS: list[Any] = ["abc", "", "0", "r" * REF_MAX, 0, 42, -7, 2**63 - 1, -(2**63)]
UNBOUNDED_REFS: list[Any] = ["r" * (REF_MAX + 1), 2**63, -(2**63) - 1, 2**64, 10**100]


def frame_class(decoder_types: frozenset[str], kind: str) -> Any:
    union = typing.get_args(Frame)
    classes = [cls for cls in union if cls.__struct_config__.tag == kind]
    assert len(classes) == 1 and kind in decoder_types
    return classes[0]


def test_cases_cover_every_frame_type() -> None:
    assert set(CLIENT_CASES) == CLIENT_FRAME_TYPES
    assert set(SERVER_CASES) == SERVER_FRAME_TYPES


@pytest.mark.parametrize(
    ("kind", "cases", "optional", "types"),
    [
        *[(k, CLIENT_CASES, CLIENT_OPTIONAL, CLIENT_FRAME_TYPES) for k in sorted(CLIENT_CASES)],
        *[(k, SERVER_CASES, SERVER_OPTIONAL, SERVER_FRAME_TYPES) for k in sorted(SERVER_CASES)],
    ],
)
def test_cases_name_every_field(
    kind: str, cases: dict[str, Any], optional: dict[str, Any], types: Any
) -> None:
    """The required fields of a case are exactly the frame's; every optional one has a sample."""
    cls = frame_class(types, kind)
    fields = msgspec.structs.fields(cls)
    assert set(cases[kind][0]) == {f.encode_name for f in fields if is_required(f)}
    assert set(optional.get(kind, {})) | {"ref"} >= {f.encode_name for f in fields if not is_required(f)}


@pytest.mark.parametrize("kind", sorted(CLIENT_CASES))
def test_client_frame_without_ref(kind: str) -> None:
    fields, cls = CLIENT_CASES[kind]
    frame = decode_client_frame(line({"type": kind, **fields}))
    assert frame == cls(**fields)
    assert type(frame) is cls
    assert frame.ref is None


@pytest.mark.parametrize("ref", REFS, ids=repr)
@pytest.mark.parametrize("kind", sorted(CLIENT_CASES))
def test_client_frame_with_ref(kind: str, ref: Any) -> None:
    fields, cls = CLIENT_CASES[kind]
    frame = decode_client_frame(line({"type": kind, **fields, "ref": ref}))
    assert frame == cls(**fields, ref=ref)
    assert frame.ref == ref
    assert type(frame.ref) is type(ref)


@pytest.mark.parametrize("kind", sorted(CLIENT_CASES))
def test_client_frame_null_ref_is_no_ref(kind: str) -> None:
    fields, cls = CLIENT_CASES[kind]
    assert decode_client_frame(line({"type": kind, **fields, "ref": None})) == cls(**fields)


def test_send_with_nonce() -> None:
    frame = decode_client_frame(line({"type": "send", "room": "r", "text": "t", "nonce": "n-1", "ref": 3}))
    assert frame == Send(room="r", text="t", nonce="n-1", ref=3)
    assert decode_client_frame(line({"type": "send", "room": "r", "text": "t", "nonce": None})) == Send(
        room="r", text="t"
    )


@pytest.mark.parametrize(("kind", "name"), CLIENT_OPTIONAL_FIELDS)
def test_client_optional_field(kind: str, name: str) -> None:
    fields, cls = CLIENT_CASES[kind]
    value = CLIENT_OPTIONAL[kind][name]
    frame = decode_client_frame(line({"type": kind, **fields, name: value, "ref": "o"}))
    assert frame == cls(**fields, **{attr(cls, name): value}, ref="o")
    assert getattr(frame, attr(cls, name)) == value


@pytest.mark.parametrize(("kind", "name"), CLIENT_OPTIONAL_FIELDS)
def test_client_optional_field_null_is_absent(kind: str, name: str) -> None:
    fields, cls = CLIENT_CASES[kind]
    assert decode_client_frame(line({"type": kind, **fields, name: None})) == cls(**fields)


@pytest.mark.parametrize("kind", sorted(CLIENT_OPTIONAL))
def test_client_frame_with_every_optional_field(kind: str) -> None:
    fields, cls = CLIENT_CASES[kind]
    optional = CLIENT_OPTIONAL[kind]
    wire = {"type": kind, **fields, **optional, "ref": 12}
    frame = decode_client_frame(line(wire))
    assert frame == cls(**fields, **{attr(cls, k): v for k, v in optional.items()}, ref=12)
    assert json.loads(encode(frame)) == json.loads(line(wire))


@pytest.mark.parametrize(("kind", "name"), SERVER_OPTIONAL_FIELDS)
def test_server_optional_field(kind: str, name: str) -> None:
    fields, expected = SERVER_CASES[kind]
    value = SERVER_OPTIONAL[kind][name]
    frame = decode_server_frame(line({"type": kind, **fields, name: value}))
    assert frame == msgspec.structs.replace(expected, **{attr(type(expected), name): value})
    assert getattr(frame, attr(type(expected), name)) == value


@pytest.mark.parametrize("kind", sorted(SERVER_OPTIONAL))
def test_server_frame_with_every_optional_field(kind: str) -> None:
    fields, expected = SERVER_CASES[kind]
    optional = SERVER_OPTIONAL[kind]
    wire = {"type": kind, **fields, **optional}
    if "ref" in expected.__struct_fields__:
        wire["ref"] = "all"
    frame = decode_server_frame(line(wire))
    assert json.loads(encode(frame)) == json.loads(line(wire))
    for name, value in optional.items():
        assert getattr(frame, attr(type(expected), name)) == value


@pytest.mark.parametrize("event", ["join", "leave", "online", "offline", "away", "back"])
def test_every_presence_event(event: PresenceEvent) -> None:
    wire = {"type": "presence", "event": event, "room": "general", "username": "bob"}
    assert decode_server_frame(line(wire)) == Presence(event=event, room="general", username="bob")
    away = decode_server_frame(line({**wire, "text": "gone fishing"}))
    assert isinstance(away, Presence)
    assert away.text == "gone fishing"


def test_codec_does_not_check_values() -> None:
    """Structure only: values are for the rules, which answer with their own codes."""
    assert decode_client_frame(line({"type": "history", "limit": 0})) == History(limit=0)
    assert decode_client_frame(line({"type": "history", "limit": 10**6})) == History(limit=10**6)
    assert decode_client_frame(line({"type": "join", "room": "Not A Room!"})) == Join(room="Not A Room!")
    assert decode_client_frame(line({"type": "topic", "room": "r", "text": ""})) == SetTopic(
        room="r", text=""
    )
    assert decode_client_frame(line({"type": "away", "text": ""})) == Away(text="")
    assert decode_client_frame(line({"type": "whois", "username": ""})) == Whois(username="")


MESSAGE_IDS = st.integers(min_value=0, max_value=2**63 - 1)
INT_REFS = st.integers(min_value=-(2**63), max_value=2**63 - 1)

MESSAGE_ID_FIELDS = [
    ({"type": "history", "room": "r"}, "before"),
    ({"type": "history", "room": "r"}, "after"),
    ({"type": "join", "room": "r"}, "last_id"),
    ({"type": "resume", "token": "t"}, "last_id"),
]


@pytest.mark.parametrize(("fields", "name"), MESSAGE_ID_FIELDS, ids=lambda v: str(v))
@pytest.mark.parametrize("value", [-1, 2**63, -(2**63) - 1, 10**30])
def test_message_id_out_of_range_is_bad_frame(fields: dict[str, Any], name: str, value: int) -> None:
    """Ids are 64-bit in every database: a bigger one is refused here, never handed to a query."""
    error = refused(decode_client_frame, line({**fields, name: value, "ref": 5}))
    assert error.code is ErrorCode.BAD_FRAME
    assert error.ref == 5


@pytest.mark.parametrize(("fields", "name"), MESSAGE_ID_FIELDS, ids=lambda v: str(v))
@pytest.mark.parametrize("value", [0, 1, 2**63 - 1])
def test_message_id_in_range_decodes(fields: dict[str, Any], name: str, value: int) -> None:
    frame = decode_client_frame(line({**fields, name: value}))
    assert getattr(frame, name) == value


@pytest.mark.parametrize("kind", sorted(SERVER_CASES))
def test_server_frame(kind: str) -> None:
    fields, expected = SERVER_CASES[kind]
    assert decode_server_frame(line({"type": kind, **fields})) == expected


def test_server_frames_with_optional_fields() -> None:
    assert decode_server_frame(
        line({"type": "error", "code": "rate_limited", "message": "m", "ref": "x", "retry_after": 1.5})
    ) == Error(code="rate_limited", message="m", ref="x", retry_after=1.5)
    # An integer is a valid JSON number for a float field.
    assert decode_server_frame(
        line({"type": "error", "code": "c", "message": "m", "retry_after": 2})
    ) == Error(code="c", message="m", retry_after=2.0)
    assert decode_server_frame(line({"type": "auth_ok", "username": "a", "token": "t", "ref": 9})) == AuthOk(
        username="a", token="t", ref=9
    )
    msg = {"type": "message", "id": 1, "room": "r", "from": "a", "text": "t", "ts": "now", "nonce": "n"}
    assert decode_server_frame(line(msg)) == Message(
        id=1, room="r", sender="a", text="t", ts="now", nonce="n"
    )
    assert decode_server_frame(
        line({"type": "presence", "event": "leave", "room": "r", "username": "u"})
    ) == Presence(event="leave", room="r", username="u")


@pytest.mark.parametrize("decode", DECODERS)
def test_unknown_extra_fields_are_ignored(decode: Decoder) -> None:
    extra = {
        "future": 1,
        "nested": {"a": [1, 2, {"b": None}], "c": "d"},
        "big": 10**50,
        "huge_float": 1e308,
        "flag": True,
        "list": [],
        "null": None,
        "TYPE": "register",
        "Ref": "other",
    }
    assert decode(line({"type": "ping", **extra, "ref": "r"})) == Ping(ref="r")
    # Order of fields does not matter, nor does whitespace around the object.
    assert decode(b' \t{ "ref" : 5 , "zz": [ ] , "type" : "pong" } \r') == Pong(ref=5)


def test_extra_fields_on_every_frame_are_ignored() -> None:
    for kind, (fields, cls) in CLIENT_CASES.items():
        assert decode_client_frame(line({"extra": [1], "type": kind, **fields, "x": {}})) == cls(**fields)
    for kind, (fields, expected) in SERVER_CASES.items():
        assert decode_server_frame(line({"extra": [1], "type": kind, **fields, "x": {}})) == expected


def test_message_sender_is_from_on_the_wire() -> None:
    wire = {"type": "message", "id": 1, "room": "r", "sender": "a", "text": "t", "ts": "now"}
    err = refused(decode_server_frame, line(wire))
    assert err.code is ErrorCode.BAD_FRAME
    assert "from" in err.message
    wire = {"type": "direct", "id": 1, "sender": "a", "to": "b", "text": "t", "ts": "now"}
    err = refused(decode_server_frame, line(wire))
    assert err.code is ErrorCode.BAD_FRAME
    assert "from" in err.message
    nested = {**MESSAGE_WIRE, "sender": "a"}
    del nested["from"]
    err = refused(
        decode_server_frame, line({"type": "history_page", "messages": [nested], "has_more": False})
    )
    assert err.code is ErrorCode.BAD_FRAME
    assert "from" in err.message


def test_history_with_is_named_with_on_the_wire() -> None:
    assert decode_client_frame(line({"type": "history", "with": "bob"})) == History(with_="bob")
    # "with_" is only the Python name: on the wire it is an unknown field, ignored.
    assert decode_client_frame(line({"type": "history", "with_": "bob"})) == History()
    page = {"type": "history_page", "messages": [], "has_more": False}
    assert decode_server_frame(line({**page, "with": "bob"})) == HistoryPage(
        messages=[], has_more=False, with_="bob"
    )
    assert decode_server_frame(line({**page, "with_": "bob"})) == HistoryPage(messages=[], has_more=False)
    err = refused(decode_client_frame, line({"type": "history", "with": 5, "ref": "w"}))
    assert err.code is ErrorCode.BAD_FRAME
    assert err.ref == "w"
    assert "with" in err.message


# -- refused frames ----------------------------------------------------------------

CLIENT_REQUIRED = [(k, f) for k, (fields, _) in sorted(CLIENT_CASES.items()) for f in fields]
SERVER_REQUIRED = [(k, f) for k, (fields, _) in sorted(SERVER_CASES.items()) for f in fields]


@pytest.mark.parametrize("ref", ["r-1", 0, 99], ids=repr)
@pytest.mark.parametrize(("kind", "missing"), CLIENT_REQUIRED)
def test_client_missing_field_is_bad_frame_with_ref(kind: str, missing: str, ref: Any) -> None:
    fields = dict(CLIENT_CASES[kind][0])
    del fields[missing]
    err = refused(decode_client_frame, line({"type": kind, **fields, "ref": ref}))
    assert err.code is ErrorCode.BAD_FRAME
    assert err.ref == ref
    assert type(err.ref) is type(ref)
    assert missing in err.message
    assert kind in err.message


@pytest.mark.parametrize(("kind", "missing"), SERVER_REQUIRED)
def test_server_missing_field_is_bad_frame(kind: str, missing: str) -> None:
    fields = dict(SERVER_CASES[kind][0])
    del fields[missing]
    err = refused(decode_server_frame, line({"type": kind, **fields, "ref": "s"}))
    assert err.code is ErrorCode.BAD_FRAME
    assert err.ref == "s"


WRONG_FOR_STR: list[Any] = [5, 1.5, None, True, [], {}, ["x"]]
WRONG_FOR_INT: list[Any] = ["1", 1.0, 1.5, None, True, [], {}]
WRONG_FOR_BOOL: list[Any] = [0, 1, "true", "false", None, [], {}]
WRONG_FOR_FLOAT: list[Any] = ["1", None, True, [], {}]
WRONG_FOR_LIST: list[Any] = ["x", 1, None, True, {}, [1], [None]]


def wrong_values(value: Any, nullable: bool = False) -> list[Any]:
    if isinstance(value, bool):
        wrong = WRONG_FOR_BOOL
    elif isinstance(value, int):
        wrong = WRONG_FOR_INT
    elif isinstance(value, float):
        wrong = WRONG_FOR_FLOAT
    elif isinstance(value, list):
        wrong = WRONG_FOR_LIST
    else:
        wrong = WRONG_FOR_STR
    return [w for w in wrong if not (nullable and w is None)]


def nullable(cls: Any, wire_name: str) -> bool:
    """Whether null is a valid value of the field: those that default to None."""
    (field,) = [f for f in msgspec.structs.fields(cls) if f.encode_name == wire_name]
    return field.default is None


@pytest.mark.parametrize(("kind", "field"), CLIENT_REQUIRED)
def test_client_mistyped_field_is_bad_frame_with_ref(kind: str, field: str) -> None:
    fields = CLIENT_CASES[kind][0]
    for wrong in wrong_values(fields[field]):
        err = refused(decode_client_frame, line({"type": kind, **fields, field: wrong, "ref": "m"}))
        assert err.code is ErrorCode.BAD_FRAME, wrong
        assert err.ref == "m"
        assert field in err.message


@pytest.mark.parametrize(("kind", "field"), SERVER_REQUIRED)
def test_server_mistyped_field_is_bad_frame(kind: str, field: str) -> None:
    fields = SERVER_CASES[kind][0]
    for wrong in wrong_values(fields[field]):
        err = refused(decode_server_frame, line({"type": kind, **fields, field: wrong, "ref": 1}))
        assert err.code is ErrorCode.BAD_FRAME, wrong
        assert err.ref == 1


@pytest.mark.parametrize(("kind", "name"), CLIENT_OPTIONAL_FIELDS)
def test_client_mistyped_optional_field_is_bad_frame_with_ref(kind: str, name: str) -> None:
    fields, cls = CLIENT_CASES[kind]
    wrongs = wrong_values(CLIENT_OPTIONAL[kind][name], nullable(cls, name))
    assert wrongs
    for wrong in wrongs:
        err = refused(decode_client_frame, line({"type": kind, **fields, name: wrong, "ref": "m"}))
        assert err.code is ErrorCode.BAD_FRAME, wrong
        assert err.ref == "m"
        assert name in err.message
        assert kind in err.message


@pytest.mark.parametrize(("kind", "name"), SERVER_OPTIONAL_FIELDS)
def test_server_mistyped_optional_field_is_bad_frame(kind: str, name: str) -> None:
    fields, expected = SERVER_CASES[kind]
    for wrong in wrong_values(SERVER_OPTIONAL[kind][name], nullable(type(expected), name)):
        err = refused(decode_server_frame, line({"type": kind, **fields, name: wrong, "ref": 2}))
        assert err.code is ErrorCode.BAD_FRAME, wrong
        assert err.ref == 2
        assert name in err.message


def test_bool_fields_are_not_nullable() -> None:
    """``replayed``, ``created``, ``has_more`` default to false; null is not false."""
    for kind, name in [
        ("message", "replayed"),
        ("direct", "replayed"),
        ("joined", "created"),
        ("synced", "has_more"),
    ]:
        fields = SERVER_CASES[kind][0]
        err = refused(decode_server_frame, line({"type": kind, **fields, name: None}))
        assert err.code is ErrorCode.BAD_FRAME


NESTED_BAD: list[tuple[str, dict[str, Any]]] = [
    ("room_list", {"rooms": [{**ROOM_INFO_WIRE, "members": "3"}]}),
    ("room_list", {"rooms": [{**ROOM_INFO_WIRE, "online": True}]}),
    ("room_list", {"rooms": [{**ROOM_INFO_WIRE, "joined": "yes"}]}),
    ("room_list", {"rooms": [{k: v for k, v in ROOM_INFO_WIRE.items() if k != "topic"}]}),
    ("room_list", {"rooms": [ROOM_INFO_WIRE, "general"]}),
    ("who_list", {"room": "r", "users": [{"away": "lunch"}]}),
    ("who_list", {"room": "r", "users": [{"username": 5}]}),
    ("who_list", {"room": "r", "users": [{"username": "bob", "away": 5}]}),
    ("who_list", {"room": "r", "users": ["bob"]}),
    ("user_info", {"username": "bob", "online": True, "member_since": "t", "rooms_in_common": [1]}),
    ("user_info", {"username": "bob", "online": True, "member_since": "t", "rooms_in_common": "dev"}),
    (
        "history_page",
        {
            "has_more": False,
            "messages": [{"type": "presence", "event": "join", "room": "r", "username": "u"}],
        },
    ),
    ("history_page", {"has_more": False, "messages": [{"type": "nope"}]}),
    (
        "history_page",
        {"has_more": False, "messages": [{k: v for k, v in MESSAGE_WIRE.items() if k != "type"}]},
    ),
    (
        "history_page",
        {"has_more": False, "messages": [{k: v for k, v in MESSAGE_WIRE.items() if k != "room"}]},
    ),
    ("history_page", {"has_more": False, "messages": [{k: v for k, v in DIRECT_WIRE.items() if k != "to"}]}),
    ("history_page", {"has_more": False, "messages": [{**DIRECT_WIRE, "replayed": "yes"}]}),
    ("history_page", {"has_more": False, "messages": [{**MESSAGE_WIRE, "id": "7"}]}),
    ("history_page", {"has_more": False, "messages": [MESSAGE_WIRE, None]}),
    ("session_list", {"sessions": [{**SESSION_INFO_WIRE, "id": "3"}]}),
    ("session_list", {"sessions": [{**SESSION_INFO_WIRE, "current": "yes"}]}),
    ("session_list", {"sessions": [{k: v for k, v in SESSION_INFO_WIRE.items() if k != "address"}]}),
    ("session_list", {"sessions": [3]}),
]


@pytest.mark.parametrize(("kind", "fields"), NESTED_BAD, ids=repr)
def test_nested_values_are_checked(kind: str, fields: dict[str, Any]) -> None:
    """A bad record inside a known frame is bad_frame (not unknown_type), ref echoed."""
    err = refused(decode_server_frame, line({"type": kind, **fields, "ref": "n"}))
    assert err.code is ErrorCode.BAD_FRAME
    assert err.ref == "n"
    assert kind in err.message


def test_nested_records_ignore_unknown_fields() -> None:
    rooms = {"type": "room_list", "rooms": [{**ROOM_INFO_WIRE, "future": [1]}]}
    assert decode_server_frame(line(rooms)) == SERVER_CASES["room_list"][1]
    page = {"type": "history_page", "messages": [{**MESSAGE_WIRE, "x": {}}], "has_more": False, "y": 1}
    frame = decode_server_frame(line(page))
    assert isinstance(frame, HistoryPage)
    assert frame.messages == [Message(id=7, room="general", sender="bob", text="hi", ts="t1")]


@pytest.mark.parametrize("wrong", [5, True, [], {}], ids=repr)
def test_mistyped_optional_fields(wrong: Any) -> None:
    err = refused(
        decode_client_frame, line({"type": "send", "room": "r", "text": "t", "nonce": wrong, "ref": "z"})
    )
    assert err.code is ErrorCode.BAD_FRAME
    assert err.ref == "z"
    err = refused(
        decode_server_frame, line({"type": "error", "code": "c", "message": "m", "retry_after": "1"})
    )
    assert err.code is ErrorCode.BAD_FRAME


@pytest.mark.parametrize("event", ["JOIN", "joined", "", "kick", "Away", "idle", "offline ", 1, None, True])
def test_presence_event_must_be_known(event: Any) -> None:
    wire = {"type": "presence", "event": event, "room": "r", "username": "u"}
    assert refused(decode_server_frame, line(wire)).code is ErrorCode.BAD_FRAME


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize(
    "bad_ref", [True, False, 1.0, 1.5, -0.0, 1e3, 1e-3, [], ["r"], {}, {"r": 1}], ids=repr
)
def test_ref_of_wrong_json_type_is_bad_frame(decode: Decoder, bad_ref: Any) -> None:
    err = refused(decode, line({"type": "ping", "ref": bad_ref}))
    assert err.code is ErrorCode.BAD_FRAME
    assert err.ref is None  # an unusable ref is never echoed
    # Also as written literally (1E2 is a float in JSON even if integral).
    assert refused(decode, b'{"type":"ping","ref":1E2}').code is ErrorCode.BAD_FRAME


@pytest.mark.parametrize("bad_ref", [True, 2.5, [1], {"a": "b"}], ids=repr)
def test_unusable_ref_is_not_echoed_on_other_errors(bad_ref: Any) -> None:
    err = refused(decode_client_frame, line({"type": "nope", "ref": bad_ref}))
    assert err.code is ErrorCode.UNKNOWN_TYPE
    assert err.ref is None
    err = refused(decode_client_frame, line({"type": "send", "ref": bad_ref}))
    assert err.code is ErrorCode.BAD_FRAME
    assert err.ref is None


@pytest.mark.parametrize("ref", ["r", "", 0, -1, 2**63 - 1], ids=repr)
def test_unknown_type_echoes_ref(ref: Any) -> None:
    err = refused(decode_client_frame, line({"type": "teleport", "ref": ref}))
    assert err.code is ErrorCode.UNKNOWN_TYPE
    assert err.ref == ref
    assert type(err.ref) is type(ref)
    assert "teleport" in err.message


@pytest.mark.parametrize("kind", sorted(SERVER_FRAME_TYPES - CLIENT_FRAME_TYPES))
def test_server_only_types_are_unknown_to_the_server(kind: str) -> None:
    fields = SERVER_CASES[kind][0]
    err = refused(decode_client_frame, line({"type": kind, **fields, "ref": "q"}))
    assert err.code is ErrorCode.UNKNOWN_TYPE
    assert err.ref == "q"


@pytest.mark.parametrize("kind", sorted(CLIENT_FRAME_TYPES - SERVER_FRAME_TYPES))
def test_client_only_types_are_unknown_to_the_client(kind: str) -> None:
    fields = CLIENT_CASES[kind][0]
    err = refused(decode_server_frame, line({"type": kind, **fields, "ref": 5}))
    assert err.code is ErrorCode.UNKNOWN_TYPE
    assert err.ref == 5


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("kind", ["", "PING", "Ping", " ping", "ping ", "pingx", "x" * 10_000], ids=repr)
def test_unknown_type_names(decode: Decoder, kind: str) -> None:
    err = refused(decode, line({"type": kind}))
    assert err.code is ErrorCode.UNKNOWN_TYPE
    assert len(err.message) < 100  # the type name is quoted only in part


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("kind", [5, 1.5, True, [], ["ping"], {"a": 1}], ids=repr)
def test_non_string_type_is_unknown_type(decode: Decoder, kind: Any) -> None:
    err = refused(decode, line({"type": kind, "ref": "t"}))
    assert err.code is ErrorCode.UNKNOWN_TYPE
    assert err.ref == "t"


@pytest.mark.parametrize("decode", DECODERS)
def test_missing_or_null_type_is_bad_frame_with_ref(decode: Decoder) -> None:
    for wire in ({"ref": "r"}, {"type": None, "ref": "r"}, {"username": "a", "password": "b", "ref": "r"}):
        err = refused(decode, line(wire))
        assert err.code is ErrorCode.BAD_FRAME
        assert err.ref == "r"
        assert "type" in err.message
    assert refused(decode, b"{}").code is ErrorCode.BAD_FRAME


NOT_OBJECTS = [b"[]", b"[1,2]", b'[{"type":"ping"}]', b"1", b"-1.5", b'"ping"', b"null", b"true", b"false"]


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("data", NOT_OBJECTS, ids=repr)
def test_json_that_is_not_an_object_is_bad_frame(decode: Decoder, data: bytes) -> None:
    err = refused(decode, data)
    assert err.code is ErrorCode.BAD_FRAME
    assert err.ref is None


INVALID_JSON = [
    b"",
    b" ",
    b"\r",
    b"{",
    b"}",
    b"{type:ping}",
    b"{'type':'ping'}",
    b'{"type":"ping",}',
    b'{"type":"ping" "ref":1}',
    b'{"type":"ping","ref":01}',
    b'{"type":"ping","ref":NaN}',
    b'{"type":"ping","ref":Infinity}',
    b'{"type":"ping","ref":"\\x41"}',
    b'{"type":"ping","ref":"a\tb"}',  # raw control character in a string
    b'{"type":"ping","ref":"a\nb"}',
    b'{"type":"ping","ref":"\x00"}',
    b"hello",
    b"GET / HTTP/1.1",
    b"\x00",
]

TRUNCATED = [
    b'{"type":"send","room":"general","text":"hel',
    b'{"type":"send","room":"general","text":"hello"',
    b'{"type":"send","room":"general","text":',
    b'{"type":"ping","ref":"\\u00',
    b'{"type":"ping","ref":"\\',
    b'{"type":"ping","ref":12',
    b'{"type":"ping","ref":tru',
    b'{"type":"pi',
    b'{"type"',
]

TRAILING_GARBAGE = [
    b'{"type":"ping"}x',
    b'{"type":"ping"} x',
    b'{"type":"ping"}}',
    b'{"type":"ping"},',
    b'{"type":"ping"}{"type":"ping"}',
    b'{"type":"ping"}\n{"type":"ping"}',
    b'{"type":"ping"}\x00',
    b'{"type":"ping"}1',
]

INVALID_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xef\xbb\xbf" + b'{"type":"ping"}',  # a UTF-8 byte order mark is not JSON whitespace
    b'{"type":"ping","ref":"\xff"}',
    b'{"type":"ping","ref":"\xc3"}',  # truncated two-byte sequence
    b'{"type":"ping","ref":"\xc0\xaf"}',  # overlong encoding of '/'
    b'{"type":"ping","ref":"\xe0\x80\xaf"}',  # overlong, three bytes
    b'{"type":"ping","ref":"\xed\xa0\x80"}',  # a UTF-16 surrogate encoded as UTF-8 (CESU-8)
    b'{"type":"ping","ref":"\xf4\x90\x80\x80"}',  # beyond U+10FFFF
    b'{"type":"ping","ref":"\x80"}',  # lone continuation byte
    b'{"type":"send","room":"general","text":"caf\xe9"}',  # Latin-1, not UTF-8
    b'{"type":"ping","x\xff":1}',  # in an ignored key
    b'{"type":"ping","x":"\xff"}',  # in an ignored value
    '{"type":"ping"}'.encode("utf-16"),
]

BAD_BYTES = INVALID_JSON + TRUNCATED + TRAILING_GARBAGE + INVALID_UTF8


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("data", BAD_BYTES, ids=repr)
def test_malformed_line_is_bad_frame(decode: Decoder, data: bytes) -> None:
    err = refused(decode, data)
    assert err.code is ErrorCode.BAD_FRAME
    assert err.ref is None
    # No msgspec internals chained onto the error (tracebacks in server logs stay short).
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__


def test_utf8_text_is_decoded() -> None:
    data = '{"type":"send","room":"général","text":"héllo wörld ☃ 😀 \u202e"}'.encode()
    assert decode_client_frame(data) == Send(room="général", text="héllo wörld ☃ 😀 \u202e")


# -- surrogates and other awkward characters ------------------------------------------

LONE_SURROGATE_LINES = [
    b'{"type":"send","room":"general","text":"\\ud800"}',
    b'{"type":"send","room":"general","text":"\\udfff"}',
    b'{"type":"send","room":"general","text":"a\\ud83d"}',  # high surrogate at the end
    b'{"type":"send","room":"general","text":"\\ude00a"}',  # low surrogate first
    b'{"type":"send","room":"general","text":"\\ude00\\ud83d"}',  # a pair in the wrong order
    b'{"type":"send","room":"general","text":"\\ud83d\\ud83d"}',  # two high surrogates
    b'{"type":"send","room":"general","text":"\\ud83dx\\ude00"}',  # split by a character
    b'{"type":"send","room":"\\ud800","text":"hi"}',
    b'{"type":"send","room":"general","text":"hi","nonce":"\\udc00"}',
    b'{"type":"register","username":"\\ud800","password":"password1"}',
    b'{"type":"register","username":"alice","password":"\\ud800\\ud800\\ud800\\ud800"}',
    b'{"type":"resume","token":"\\udbff"}',
    b'{"type":"dm","to":"bob","text":"\\ud800"}',
    b'{"type":"topic","room":"general","text":"\\udfff"}',
    b'{"type":"history","with":"\\ud800"}',
    b'{"type":"away","text":"x\\ud83d"}',
    b'{"type":"whois","username":"\\ude00"}',
    b'{"type":"ping","ref":"\\ud800"}',
    b'{"type":"ping","x":"\\ud800"}',
    b'{"type":"ping","\\ud800":1}',
    b'{"type":"\\ud800"}',
    b'{"type":"nope","ref":"\\ud800"}',
]


@pytest.mark.parametrize("data", LONE_SURROGATE_LINES, ids=repr)
def test_lone_surrogate_escapes_are_bad_frame(data: bytes) -> None:
    # A str holding a lone surrogate could not be encoded again (not even into an
    # error frame echoing it), so such a frame must be refused when decoded.
    for decode in DECODERS:
        assert refused(decode, data).code is ErrorCode.BAD_FRAME


def test_lone_surrogate_in_server_frame_is_bad_frame() -> None:
    data = b'{"type":"message","id":1,"room":"r","from":"a","text":"\\ud800","ts":"now"}'
    assert refused(decode_server_frame, data).code is ErrorCode.BAD_FRAME
    for data in (
        b'{"type":"direct","id":1,"from":"a","to":"b","text":"\\ud800","ts":"now"}',
        b'{"type":"history_page","has_more":false,"messages":[{"type":"message","id":1,"room":"r",'
        b'"from":"a","text":"\\ud800","ts":"now"}]}',
        b'{"type":"room_list","rooms":[{"name":"r","topic":"\\udc00","members":1,"online":1}]}',
        b'{"type":"who_list","room":"r","users":[{"username":"u","away":"\\ud800"}]}',
    ):
        assert refused(decode_server_frame, data).code is ErrorCode.BAD_FRAME


def test_surrogate_pair_escape_is_one_character() -> None:
    frame = decode_client_frame(b'{"type":"send","room":"general","text":"\\ud83d\\ude00 \\uD83D\\uDE00"}')
    assert frame == Send(room="general", text="\U0001f600 \U0001f600")
    assert encode(frame) == '{"type":"send","room":"general","text":"\U0001f600 \U0001f600"}\n'.encode()


def test_escaped_control_and_bidi_characters_survive() -> None:
    text = "\x00\x01\x1f\x7f\t\r\n\u2028\u2029\u202e\u2066\u2069\u200f\ufeff\ufffe\uffff"
    data = line({"type": "send", "room": "general", "text": text})
    frame = decode_client_frame(data)
    assert isinstance(frame, Send)
    assert frame.text == text
    assert decode_client_frame(encode(frame)) == frame


# -- nesting and numbers a decoder cannot represent ----------------------------------------


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"ping","x":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"type":"ping","ref":"r","x":' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}",
        b'{"type":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"type":"nope","ref":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"type":"ping","ref":' + b"[" * 5000 + b"]" * 5000 + b"}",
        b"[" * 30000 + b"]" * 30000,
        b'{"a":' * 10000 + b"1" + b"}" * 10000,
    ],
    ids=["ignored-array", "ignored-object", "type", "ref-unknown-type", "ref", "top-array", "top-object"],
)
def test_deep_nesting_is_bad_frame(decode: Decoder, data: bytes) -> None:
    # Regression: msgspec raises RecursionError for these; it used to escape the codec.
    assert len(data) <= MAX_FRAME_BYTES
    assert refused(decode, data).code is ErrorCode.BAD_FRAME


@pytest.mark.parametrize("decode", DECODERS)
def test_moderate_nesting_in_ignored_field_is_fine(decode: Decoder) -> None:
    assert decode(b'{"type":"ping","x":' + b"[" * 100 + b"]" * 100 + b',"ref":1}') == Ping(ref=1)


def test_unreadable_ref_does_not_hide_the_type() -> None:
    # Regression: one value the probe could not read (a number out of range) used
    # to make the whole probe fail, so the type was reported missing.
    err = refused(decode_client_frame, b'{"type":"nope","ref":1e400}')
    assert err.code is ErrorCode.UNKNOWN_TYPE
    assert err.ref is None
    err = refused(decode_client_frame, b'{"type":"ping","ref":1e400}')
    assert err.code is ErrorCode.BAD_FRAME
    assert "'ping'" in err.message


def test_unreadable_type_does_not_hide_the_ref() -> None:
    err = refused(decode_client_frame, b'{"type":1e400,"ref":"r"}')
    assert err.code is ErrorCode.BAD_FRAME
    assert err.ref == "r"


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("digits", [19, 20, 39, 100, 1000, 4300, 4301, 20_000])
def test_big_integer_ref_decodes_or_is_refused(decode: Decoder, digits: int) -> None:
    for sign in (b"", b"-"):
        data = b'{"type":"ping","ref":' + sign + b"9" * digits + b"}"
        try:
            frame = decode(data)
        except ProtocolError as exc:
            assert exc.code is ErrorCode.BAD_FRAME
        else:
            assert isinstance(frame.ref, int)
            assert decode(encode(frame)) == frame


def test_64_bit_integer_refs_round_trip() -> None:
    for ref in (2**63 - 1, -(2**63), 2**53 + 1):
        frame = decode_client_frame(line({"type": "ping", "ref": ref}))
        assert frame == Ping(ref=ref)
        assert decode_client_frame(encode(frame)) == frame


@pytest.mark.parametrize("ref", UNBOUNDED_REFS, ids=lambda r: repr(r)[:20])
@pytest.mark.parametrize("kind", sorted(CLIENT_CASES))
def test_ref_past_its_bounds_is_bad_frame_and_not_echoed(kind: str, ref: Any) -> None:
    """A reply echoes the ref, and every reply must fit in a frame: refs are bounded."""
    fields, _ = CLIENT_CASES[kind]
    error = refused(decode_client_frame, line({"type": kind, **fields, "ref": ref}))
    assert error.code is ErrorCode.BAD_FRAME
    assert error.ref is None


def test_secrets_not_in_error_messages() -> None:
    for wire in (
        {"type": "register", "password": SECRET, "ref": 1},
        {"type": "login", "username": 5, "password": SECRET},
        {"type": "login", "username": "alice", "password": SECRET, "extra": 1, "ref": []},
        {"type": "resume", "token": SECRET, "ref": 1.5},
        {"type": "resume", "tok": SECRET},
        {"type": "resume", "token": SECRET, "last_id": "1"},
        {"type": "resume", "token": SECRET, "last_id": SECRET},
    ):
        err = refused(decode_client_frame, line(wire))
        assert SECRET not in err.message
        assert SECRET not in str(err)
        assert SECRET not in repr(err)
    err = refused(decode_server_frame, line({"type": "auth_ok", "token": SECRET}))
    assert SECRET not in err.message


# -- encoding -----------------------------------------------------------------------------

SERVER_FRAMES: list[Frame] = [
    Welcome(server="chatapp 1.0", version=1, max_frame=MAX_FRAME_BYTES, max_text=MAX_TEXT_CHARS),
    AuthOk(username="alice", token="tok"),
    AuthOk(username="alice", token="tok", ref="r"),
    Message(id=1, room="general", sender="bob", text="hi", ts="2024-05-01T12:00:00.123456+00:00"),
    Message(id=2**40, room="general", sender="bob", text="a\nb\r\nc", ts="t", nonce="n"),
    Presence(event="join", room="general", username="bob"),
    Presence(event="leave", room="general", username="bob"),
    Error(code="bad_frame", message="bad"),
    Error(code="rate_limited", message="slow", ref=7, retry_after=0.25),
    Error(code="rate_limited", message="slow", ref="x", retry_after=0.0),
    Bye(reason="server shutting down"),
    Ping(),
    Ping(ref=0),
    Pong(ref="p"),
    Message(id=3, room="general", sender="bob", text="missed", ts="t", replayed=True),
    Presence(event="online", room="general", username="bob"),
    Presence(event="offline", room="general", username="bob"),
    Presence(event="away", room="general", username="bob", text="lunch\nbreak"),
    Presence(event="back", room="general", username="bob"),
    Direct(id=4, sender="alice", to="bob", text="psst", ts="t"),
    Direct(id=2**40, sender="alice", to="bob", text="a\nb", ts="t", nonce="n", replayed=True),
    Joined(room="dev", topic=""),
    Joined(room="dev", topic="builds", created=True, ref=1),
    Left(room="dev"),
    Left(room="dev", ref="l"),
    RoomList(rooms=[]),
    RoomList(
        rooms=[
            RoomInfo(name="general", topic="", members=0, online=0, joined=False),
            RoomInfo(name="dev", topic="builds", members=5, online=2, joined=True),
        ],
        ref=2,
    ),
    TopicChanged(room="dev", text="", by="alice"),
    TopicChanged(room="dev", text="builds\nand bugs", by="alice"),
    WhoList(room="dev", users=[]),
    WhoList(
        room="dev", users=[OnlineUser(username="bob"), OnlineUser(username="carol", away="lunch")], ref="w"
    ),
    UserInfo(username="bob", online=True, member_since="2024-01-01"),
    UserInfo(
        username="bob",
        online=False,
        member_since="2024-01-01",
        last_seen="2024-06-01",
        away="gone",
        rooms_in_common=["general", "dev"],
        ref=3,
    ),
    HistoryPage(messages=[], has_more=False),
    HistoryPage(
        messages=[
            Message(id=1, room="dev", sender="bob", text="hi", ts="t"),
            Message(id=2, room="dev", sender="alice", text="yo", ts="t", nonce="n", replayed=True),
        ],
        has_more=True,
        room="dev",
        ref=4,
    ),
    HistoryPage(
        messages=[
            Direct(id=5, sender="bob", to="alice", text="psst", ts="t"),
            Direct(id=6, sender="alice", to="bob", text="what", ts="t", nonce="m", replayed=True),
        ],
        has_more=False,
        with_="bob",
    ),
    # Messages and directs may be mixed; each keeps its own type.
    HistoryPage(
        messages=[
            Message(id=1, room="dev", sender="bob", text="hi", ts="t"),
            Direct(id=2, sender="bob", to="alice", text="hi", ts="t"),
        ],
        has_more=False,
    ),
    Synced(last_id=0),
    Synced(last_id=2**40, has_more=True),
    SessionList(sessions=[], ref=5),
    SessionList(
        sessions=[
            SessionInfo(id=1, address="[::1]:5000", created="t", last_seen="t", current=True, connected=True),
            SessionInfo(id=2, address="10.0.0.1:7", created="t", last_seen="u"),
        ]
    ),
    SessionClosed(id=2, ref="e"),
    RoomEvent(room="dev", action="ban", by="alice", user="bob", reason="spam", until="t", ref=1),
    RoomEvent(room="dev", action="private", by="alice"),
    RoomDeleted(room="dev", by="alice", reason="done"),
    MessageRemoved(id=3, by="alice", room="dev", ref="d"),
    Message(id=3, room="dev", sender="bob", text="", ts="t", removed_by="alice"),
    SanctionList(
        room="dev",
        sanctions=[SanctionInfo(user="bob", kind="mute", since="t", by="alice", reason="r", until="u")],
    ),
    PasswordChanged(sessions_ended=0, ref=1),
    AdminDone(action="reset_password", user="bob", password="new-pass"),
    UserList(users=[UserSummary(username="bob", role="admin", created="t", online=True)], has_more=True),
    AddressBanList(bans=[AddressBanInfo(address="2001:db8::/32", since="t", by="alice")]),
    AuditPage(
        events=[AuditEntry(id=2, at="t", actor="alice", action="ban", target="bob", room="dev")],
        has_more=False,
    ),
    Error(code="suspended", message="suspended", until="t"),
    Bye(reason="account suspended", message="by alice: spam"),
    KeysPublished(device="DEVICEA1", one_time_keys=0),
    DeviceList(username="bob", devices=[]),
    ClaimedKey(username="bob", device="DEVICEB1", key=OneTimeKey(key_id="AA", key=CURVE_KEY), fallback=True),
    DeviceDeleted(device="DEVICEA1", ref="x"),
    UploadReady(upload=UPLOAD_ID, offset=32768, ref=1),
    UploadAck(upload=UPLOAD_ID, offset=65536),
    UploadDone(upload=UPLOAD_ID, file=FileInfo(id=FILE_ID, name="a\nb\u202e.txt", size=3, sha256=DIGEST,
                                                mime="text/plain", encrypted=True)),
    UploadCancelled(upload=UPLOAD_ID, ref="c"),
    FileChunk(file=FILE_ID, offset=0, data=bytes(range(256)) * 128, eof=True, ref="r"),
    FileUrl(file=FILE_ID, url="/files/x?ticket=y", expires="t1"),
    Message(id=9, room="dev", sender="bob", text="", ts="t", file=FILE_INFO),
    Direct(id=2, sender="a", to="b", text="", ts="x", e2e=ENVELOPE),
]

CLIENT_FRAMES: list[Frame] = [
    Register(username="alice", password="pa\nss\"word'"),
    Login(username="alice", password="password", ref=1),
    Resume(token="tok", ref="r"),
    Send(room="general", text="multi\nline\ntext\n"),
    Send(room="general", text="x", nonce="n", ref=-1),
    Quit(),
    Quit(ref=""),
    Ping(ref="\n"),
    Pong(ref=2**63 - 1),
    Resume(token="tok", last_id=0),
    Resume(token="tok", last_id=2**40, ref=5),
    Join(room="dev"),
    Join(room="dev", last_id=7, ref=1),
    Leave(room="dev", ref="l"),
    ListRooms(),
    ListRooms(ref=3),
    SetTopic(room="dev", text=""),
    SetTopic(room="dev", text="builds\nand bugs", ref="t"),
    Who(room="dev"),
    Whois(username="bob", ref=4),
    Away(),
    Away(text=""),
    Away(text="lunch", ref="a"),
    SendDirect(to="bob", text="psst"),
    SendDirect(to="bob", text="multi\nline", nonce="n", ref=-2),
    History(),
    History(room="dev", before=10, limit=5),
    History(with_="bob", after=3, ref="h"),
    History(room="dev", with_="bob", before=9, after=1, limit=200, ref=0),
    Login(username="alice", password="password", takeover=True, ref=2),
    ListSessions(),
    EndSession(id=2, ref="e"),
    Moderate(room="dev", action="ban", user="bob", reason="spam", duration=3600, ref=1),
    RoomMode(room="dev", private=False),
    DeleteRoom(room="dev", reason="done"),
    DeleteMessage(id=2**40),
    ListSanctions(room="dev"),
    SetProfile(display_name="", bio="about me"),
    ChangePassword(old="a", new="b"),
    Admin(action="ban_address", address="10.0.0.0/8", reason="spam", duration=60),
    Admin(action="promote", user="bob", role="admin"),
    UserSessions(user="bob"),
    ListUsers(query="b", limit=5),
    ListAddressBans(),
    ReadAudit(before=10, limit=5),
    PublishKeys(device="DEVICEA1", keys=KEYS_WIRE, signature=SIGNATURE, name="laptop \u202e"),
    ListDevices(username="bob"),
    ClaimKey(username="bob", device="DEVICEB1", ref=3),
    DeleteDevice(device="DEVICEA1"),
    SendDirect(to="bob", e2e=ENVELOPE, nonce="n"),
    UploadStart(name="../../etc/passwd", size=0, sha256=DIGEST, to="bob", encrypted=True),
    UploadChunk(upload=UPLOAD_ID, offset=2**40, data=b"\n\r\x00" * 10000, sha256=DIGEST, ref=2),
    UploadCancel(upload=UPLOAD_ID),
    FileRead(file=FILE_ID, offset=5, length=32768),
    FileLink(file=FILE_ID, ref="l"),
    Send(room="dev", text="", file=FILE_ID),
]


def test_frame_lists_cover_every_type() -> None:
    tags = {f.__struct_config__.tag for f in SERVER_FRAMES}
    assert tags == SERVER_FRAME_TYPES
    assert {f.__struct_config__.tag for f in CLIENT_FRAMES} == CLIENT_FRAME_TYPES


def check_one_line(data: bytes) -> None:
    assert data.endswith(b"\n")
    assert not data.endswith(b"\n\n")
    assert data.count(b"\n") == 1
    assert b"\r" not in data
    assert data[:1] == b"{"


@pytest.mark.parametrize("frame", SERVER_FRAMES, ids=repr)
def test_server_frame_round_trip(frame: Frame) -> None:
    data = encode(frame)
    check_one_line(data)
    assert decode_server_frame(data) == frame
    assert decode_server_frame(data[:-1]) == frame
    assert json.loads(data)["type"] == frame.__struct_config__.tag


@pytest.mark.parametrize("frame", CLIENT_FRAMES, ids=repr)
def test_client_frame_round_trip(frame: Frame) -> None:
    data = encode(frame)
    check_one_line(data)
    assert decode_client_frame(data) == frame
    assert json.loads(data)["type"] == frame.__struct_config__.tag


@pytest.mark.parametrize(
    "text", ["\n", "\r\n", "\r", "a\nb", "\n" * 100, "\u2028\u2029", "\x85", "\x00", "\x1b[31mred"], ids=repr
)
def test_newlines_in_text_are_escaped(text: str) -> None:
    client: list[Frame] = [
        Send(room="general", text=text),
        SendDirect(to="bob", text=text, nonce=text),
        SetTopic(room="general", text=text),
        Away(text=text),
        History(with_=text),
    ]
    server: list[Frame] = [
        Message(id=1, room="general", sender="a", text=text, ts="t"),
        Error(code="c", message=text, ref=text),
        Direct(id=1, sender="a", to="b", text=text, ts="t"),
        TopicChanged(room="general", text=text, by="a"),
        Presence(event="away", room="general", username="a", text=text),
        HistoryPage(messages=[Message(id=1, room="r", sender="a", text=text, ts="t")], has_more=False),
        WhoList(room="r", users=[OnlineUser(username="a", away=text)]),
    ]
    for frames, decode in ((client, decode_client_frame), (server, decode_server_frame)):
        for frame in frames:
            data = encode(frame)
            check_one_line(data)
            assert decode(data) == frame


def test_exact_wire_form() -> None:
    assert encode(Ping()) == b'{"type":"ping"}\n'
    assert encode(Pong(ref=0)) == b'{"type":"pong","ref":0}\n'
    assert encode(Quit(ref="")) == b'{"type":"quit","ref":""}\n'
    assert encode(Send(room="general", text="hi")) == b'{"type":"send","room":"general","text":"hi"}\n'
    assert (
        encode(Message(id=3, room="general", sender="bob", text="hi", ts="t"))
        == b'{"type":"message","id":3,"room":"general","from":"bob","text":"hi","ts":"t"}\n'
    )
    assert encode(ListRooms()) == b'{"type":"rooms"}\n'
    assert encode(Join(room="dev")) == b'{"type":"join","room":"dev"}\n'
    assert encode(SendDirect(to="bob", text="hi")) == b'{"type":"dm","to":"bob","text":"hi"}\n'
    assert encode(Away()) == b'{"type":"away"}\n'
    assert (
        encode(History(room="dev", with_="bob", before=9, after=1, limit=5, ref=2))
        == b'{"type":"history","room":"dev","with":"bob","before":9,"after":1,"limit":5,"ref":2}\n'
    )
    assert (
        encode(Direct(id=4, sender="alice", to="bob", text="hi", ts="t"))
        == b'{"type":"direct","id":4,"from":"alice","to":"bob","text":"hi","ts":"t"}\n'
    )
    assert encode(Synced(last_id=5)) == b'{"type":"synced","last_id":5}\n'
    assert encode(Joined(room="dev", topic="")) == b'{"type":"joined","room":"dev","topic":""}\n'
    assert (
        encode(RoomList(rooms=[RoomInfo(name="dev", topic="t", members=2, online=1, joined=False)]))
        == b'{"type":"room_list","rooms":[{"name":"dev","topic":"t","members":2,"online":1,'
        b'"joined":false}]}\n'
    )
    assert (
        encode(WhoList(room="dev", users=[OnlineUser(username="bob"), OnlineUser(username="eve", away="x")]))
        == b'{"type":"who_list","room":"dev","users":[{"username":"bob"},{"username":"eve","away":"x"}]}\n'
    )
    page = HistoryPage(
        messages=[
            Message(id=1, room="dev", sender="bob", text="hi", ts="t"),
            Direct(id=2, sender="bob", to="eve", text="yo", ts="t", replayed=True),
        ],
        has_more=False,
        with_="eve",
    )
    assert encode(page) == (
        b'{"type":"history_page","messages":['
        b'{"type":"message","id":1,"room":"dev","from":"bob","text":"hi","ts":"t"},'
        b'{"type":"direct","id":2,"from":"bob","to":"eve","text":"yo","ts":"t","replayed":true}'
        b'],"has_more":false,"with":"eve"}\n'
    )


def test_sender_is_named_from_on_the_wire() -> None:
    wire = json.loads(encode(Message(id=1, room="r", sender="carol", text="t", ts="now")))
    assert wire["from"] == "carol"
    assert "sender" not in wire
    wire = json.loads(encode(Direct(id=1, sender="carol", to="dave", text="t", ts="now")))
    assert wire["from"] == "carol"
    assert "sender" not in wire
    page = HistoryPage(messages=[Direct(id=1, sender="carol", to="dave", text="t", ts="now")], has_more=False)
    (nested,) = json.loads(encode(page))["messages"]
    assert nested["from"] == "carol"
    assert "sender" not in nested


def test_with_is_named_with_on_the_wire() -> None:
    for frame in (History(with_="bob"), HistoryPage(messages=[], has_more=False, with_="bob")):
        wire = json.loads(encode(frame))
        assert wire["with"] == "bob"
        assert "with_" not in wire


def test_omit_defaults() -> None:
    assert json.loads(encode(Error(code="c", message="m"))) == {"type": "error", "code": "c", "message": "m"}
    assert json.loads(encode(Error(code="c", message="m", ref=0, retry_after=0.0))) == {
        "type": "error",
        "code": "c",
        "message": "m",
        "ref": 0,
        "retry_after": 0.0,
    }
    assert set(json.loads(encode(Send(room="r", text="t")))) == {"type", "room", "text"}
    assert set(json.loads(encode(Send(room="r", text="t", nonce="n", ref="x")))) == {
        "type",
        "room",
        "text",
        "nonce",
        "ref",
    }
    assert "nonce" not in json.loads(encode(Message(id=1, room="r", sender="a", text="t", ts="now")))
    for frame in CLIENT_FRAMES + SERVER_FRAMES:
        wire = json.loads(encode(frame))
        assert None not in wire.values(), frame
        for name in ("ref", "nonce", "retry_after"):
            if getattr(frame, name, None) is None:
                assert name not in wire
            else:
                assert name in wire


def test_omit_defaults_of_new_fields() -> None:
    message = Message(id=1, room="r", sender="a", text="t", ts="now")
    assert "replayed" not in json.loads(encode(message))
    assert json.loads(encode(msgspec.structs.replace(message, replayed=True)))["replayed"] is True
    direct = Direct(id=1, sender="a", to="b", text="t", ts="now")
    assert set(json.loads(encode(direct))) == {"type", "id", "from", "to", "text", "ts"}
    assert json.loads(encode(msgspec.structs.replace(direct, replayed=True)))["replayed"] is True
    assert "created" not in json.loads(encode(Joined(room="r", topic="")))
    assert json.loads(encode(Joined(room="r", topic="", created=True)))["created"] is True
    assert "has_more" not in json.loads(encode(Synced(last_id=1)))
    assert json.loads(encode(Synced(last_id=1, has_more=True)))["has_more"] is True
    # Required booleans are always there, false included.
    assert json.loads(encode(HistoryPage(messages=[], has_more=False)))["has_more"] is False
    assert json.loads(encode(UserInfo(username="u", online=False, member_since="t")))["online"] is False
    assert set(json.loads(encode(UserInfo(username="u", online=False, member_since="t")))) == {
        "type",
        "username",
        "online",
        "member_since",
    }
    assert json.loads(encode(Resume(token="t", last_id=0)))["last_id"] == 0
    assert set(json.loads(encode(History()))) == {"type"}
    assert set(json.loads(encode(Away(text="")))) == {"type", "text"}
    # In nested records too.
    # ...except ``joined``, which is always there (a client must not have to guess what absent means).
    rooms = json.loads(
        encode(RoomList(rooms=[RoomInfo(name="r", topic="", members=0, online=0, joined=False)]))
    )["rooms"]
    assert rooms == [{"name": "r", "topic": "", "members": 0, "online": 0, "joined": False}]
    users = json.loads(encode(WhoList(room="r", users=[OnlineUser(username="u")])))["users"]
    assert users == [{"username": "u"}]
    page = HistoryPage(messages=[message, direct], has_more=False)
    assert all("replayed" not in m and "nonce" not in m for m in json.loads(encode(page))["messages"])


def check_only_non_defaults_on_wire(record: msgspec.Struct, wire: dict[str, Any]) -> None:
    names = set()
    for field in msgspec.structs.fields(record):
        value = getattr(record, field.name)
        if is_required(field) or value != default_of(field):
            assert field.encode_name in wire, (record, field.name)
            names.add(field.encode_name)
            items = wire[field.encode_name]
            if isinstance(value, list):
                for item, item_wire in zip(value, items, strict=True):
                    if isinstance(item, msgspec.Struct):
                        check_only_non_defaults_on_wire(item, item_wire)
        else:
            assert field.encode_name not in wire, (record, field.name)
    tag_field = record.__struct_config__.tag_field
    if tag_field is not None:
        assert wire[tag_field] == record.__struct_config__.tag
        names.add(tag_field)
    assert set(wire) == names


@pytest.mark.parametrize("frame", CLIENT_FRAMES + SERVER_FRAMES, ids=repr)
def test_exactly_the_fields_not_at_their_default_are_on_the_wire(frame: Frame) -> None:
    check_only_non_defaults_on_wire(frame, json.loads(encode(frame)))


def test_largest_legal_frames_fit_in_a_line() -> None:
    """Text at the limit, of the characters that take most room in JSON, fits the frame bound."""
    for worst in ("\x01", "\U0001f600", '"', "\u2028"):
        text = worst * MAX_TEXT_CHARS
        room = "r" * ROOM_MAX
        nonce = "\x01" * NONCE_MAX
        user = "u" * USERNAME_MAX
        topic = worst * TOPIC_MAX
        away = worst * AWAY_MAX
        ref = "\x01" * 64
        frames: list[Frame] = [
            Send(room=room, text=text, nonce=nonce, ref=ref),
            Message(id=2**63 - 1, room=room, sender=user, text=text, ts="x" * 40, nonce=nonce, replayed=True),
            SendDirect(to=user, text=text, nonce=nonce, ref=ref),
            Direct(id=2**63 - 1, sender=user, to=user, text=text, ts="x" * 40, nonce=nonce, replayed=True),
            SetTopic(room=room, text=topic, ref=ref),
            TopicChanged(room=room, text=topic, by=user),
            Joined(room=room, topic=topic, created=True, ref=ref),
            Away(text=away, ref=ref),
            Presence(event="away", room=room, username=user, text=away),
            HistoryPage(
                messages=[Message(id=2**63 - 1, room=room, sender=user, text=text, ts="x" * 40, nonce=nonce)],
                has_more=True,
                room=room,
                ref=ref,
            ),
        ]
        for frame in frames:
            assert len(encode(frame)) - 1 <= MAX_FRAME_BYTES


# -- properties ------------------------------------------------------------------------------


def decodes_or_refuses(decode: Decoder, data: bytes) -> Any:
    """Decode ``data``; the only exception allowed is ProtocolError. Decoded frames re-encode."""
    try:
        frame = decode(data)
    except ProtocolError as exc:
        assert isinstance(exc.code, ErrorCode)
        assert exc.code in (ErrorCode.BAD_FRAME, ErrorCode.UNKNOWN_TYPE)
        assert exc.ref is None or (isinstance(exc.ref, str | int) and not isinstance(exc.ref, bool))
        if exc.ref is not None:
            encode(Error(code=exc.code, message=exc.message, ref=exc.ref))  # can be echoed
        return exc
    again = encode(frame)
    check_one_line(again)
    assert decode(again) == frame
    return frame


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_protocol_error(data: bytes) -> None:
    for decode in DECODERS:
        decodes_or_refuses(decode, data)


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)

ALL_TYPES = sorted(CLIENT_FRAME_TYPES | SERVER_FRAME_TYPES)
ALL_FIELDS = sorted({f.encode_name for cls in typing.get_args(Frame) for f in msgspec.structs.fields(cls)})


def frame_like_values(name: str) -> st.SearchStrategy[Any]:
    """Mostly plausible values for a field, sometimes anything."""
    plausible: dict[str, st.SearchStrategy[Any]] = {
        "event": st.sampled_from(["join", "leave", "online", "offline", "away", "back"]),
        "id": st.integers(),
        "last_id": MESSAGE_IDS,
        "before": MESSAGE_IDS,
        "after": MESSAGE_IDS,
        "limit": st.integers(),
        "online": st.booleans(),
        "has_more": st.booleans(),
        "created": st.booleans(),
        "replayed": st.booleans(),
        "rooms_in_common": st.lists(st.text(max_size=5), max_size=2),
        # Nested records without fields at their default, so that they re-encode as sent.
        "rooms": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.text(max_size=5),
                    "topic": st.text(max_size=5),
                    "members": st.integers(),
                    "online": st.integers(),
                    "joined": st.booleans(),
                },
            ),
            max_size=2,
        ),
        "users": st.lists(
            st.fixed_dictionaries({"username": st.text(max_size=5)}, optional={"away": st.text(max_size=5)}),
            max_size=2,
        ),
        "messages": st.lists(st.sampled_from([MESSAGE_WIRE, DIRECT_WIRE]), max_size=2),
        "version": st.integers(),
        "max_frame": st.integers(),
        "max_text": st.integers(),
        "retry_after": st.floats(allow_nan=False, allow_infinity=False) | st.integers(),
        "ref": st.text(max_size=10) | INT_REFS,
    }
    return plausible.get(name, st.text(max_size=10)) | JSON_SCALARS | JSON_VALUES


TEMPLATES: dict[str, dict[str, Any]] = {
    **{kind: fields for kind, (fields, _) in SERVER_CASES.items()},
    **{kind: fields for kind, (fields, _) in CLIENT_CASES.items()},
}


@st.composite
def frame_like_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A valid frame of any type, or none, with a few fields dropped, added or changed."""
    type_choice = draw(st.sampled_from(["known", "known", "absent", "other"]))
    if type_choice == "known":
        kind = draw(st.sampled_from(ALL_TYPES))
        wire: dict[str, Any] = {"type": kind, **TEMPLATES[kind]}
    else:
        wire = dict(TEMPLATES[draw(st.sampled_from(ALL_TYPES))])
        if type_choice == "other":
            wire["type"] = draw(JSON_SCALARS | JSON_VALUES)
    for name in draw(st.lists(st.sampled_from(ALL_FIELDS), unique=True, max_size=3)):
        if name in wire and draw(st.booleans()):
            del wire[name]
        else:
            wire[name] = draw(frame_like_values(name))
    extra = draw(st.dictionaries(st.text(max_size=6), JSON_SCALARS, max_size=2))
    wire.update({k: v for k, v in extra.items() if k not in wire})
    return wire


def has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(has_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(has_surrogate(k) or has_surrogate(v) for k, v in value.items())
    return False


@FAST_JSON
@given(st.dictionaries(st.text(max_size=8), JSON_SCALARS | JSON_VALUES, max_size=5))
def test_any_json_object_decodes_or_raises_protocol_error(wire: dict[str, Any]) -> None:
    data = line(wire)
    for decode in DECODERS:
        decodes_or_refuses(decode, data)


@FAST_JSON
@given(JSON_VALUES)
def test_any_json_value_decodes_or_raises_protocol_error(value: Any) -> None:
    data = line(value)
    for decode in DECODERS:
        decodes_or_refuses(decode, data)


@FAST_JSON
@given(frame_like_dicts())
def test_frame_like_objects(wire: dict[str, Any]) -> None:
    """A JSON object with a type and fields: either a frame, or exactly the refusal expected."""
    data = line(wire)
    valid_json = not has_surrogate(wire)
    for decode, known in (
        (decode_client_frame, CLIENT_FRAME_TYPES),
        (decode_server_frame, SERVER_FRAME_TYPES),
    ):
        result = decodes_or_refuses(decode, data)
        if isinstance(result, ProtocolError):
            if not valid_json:
                assert result.code is ErrorCode.BAD_FRAME
                continue
            kind = wire.get("type")
            if kind is None:
                assert result.code is ErrorCode.BAD_FRAME
            elif not isinstance(kind, str) or kind not in known:
                assert result.code is ErrorCode.UNKNOWN_TYPE
            else:
                assert result.code is ErrorCode.BAD_FRAME
            ref = wire.get("ref")
            if (isinstance(ref, str) and len(ref) <= REF_MAX) or (
                isinstance(ref, int) and not isinstance(ref, bool) and -(2**63) <= ref < 2**63
            ):
                assert result.ref == ref
                assert type(result.ref) is type(ref)
            else:
                assert result.ref is None
        else:
            assert valid_json
            assert result.__struct_config__.tag == wire["type"]
            assert wire["type"] in known
            # Every field of the frame is the value that was sent.
            for name, value in json.loads(encode(result)).items():
                assert json.loads(data)[name] == value, name
            if "ref" in result.__struct_fields__:
                assert result.ref == wire.get("ref")


# Characters that are easy to get wrong: lone and paired surrogates, controls, bidi
# controls, line and paragraph separators, noncharacters, BOM, astral characters.
AWKWARD = st.sampled_from(
    [chr(c) for c in range(0x20)]
    + ["\x7f", "\x85", "\xa0", "\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff", "\U0010ffff", "\U0001f600"]
    + ["\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068"]
    + ["\u2069", "\u061c", '"', "\\", "/", "\u0301", "a", " "]
    + ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d", "\ude00"]
)
AWKWARD_TEXT = st.text(alphabet=AWKWARD | st.characters(codec=None), max_size=30)


def utf16_normalised(text: str) -> str | None:
    """What a JSON decoder should make of ``text`` sent with \\u escapes: surrogate code
    points that form pairs become one character; None if any is left unpaired."""
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return None


STRING_FIELDS = [
    ("send", "text"),
    ("send", "room"),
    ("send", "nonce"),
    ("send", "ref"),
    ("register", "username"),
    ("register", "password"),
    ("login", "password"),
    ("resume", "token"),
    ("dm", "to"),
    ("dm", "text"),
    ("dm", "nonce"),
    ("topic", "text"),
    ("whois", "username"),
    ("away", "text"),
    ("history", "with"),
    ("join", "room"),
]


@FAST
@given(field=st.sampled_from(STRING_FIELDS), text=AWKWARD_TEXT, ascii_only=st.booleans())
def test_awkward_text_in_client_frames(field: tuple[str, str], text: str, ascii_only: bool) -> None:
    kind, name = field
    wire: dict[str, Any] = {"type": kind, **CLIENT_CASES[kind][0], name: text}
    if ascii_only:  # everything beyond ASCII as \\u escapes, surrogates included
        data = json.dumps(wire, ensure_ascii=True).encode("ascii")
        expected = utf16_normalised(text)
    else:  # raw UTF-8; a surrogate can only be sent as (invalid) CESU-8 bytes
        data = json.dumps(wire, ensure_ascii=False).encode("utf-8", "surrogatepass")
        expected = None if has_surrogate(text) else text
    result = decodes_or_refuses(decode_client_frame, data)
    if expected is None:
        assert isinstance(result, ProtocolError)
        assert result.code is ErrorCode.BAD_FRAME
    else:
        assert not isinstance(result, ProtocolError), result
        assert getattr(result, attr(type(result), name)) == expected


@FAST
@given(
    text=AWKWARD_TEXT.filter(lambda t: not has_surrogate(t)),
    ref=st.none() | st.text(max_size=REF_MAX) | INT_REFS,
)
def test_server_frames_round_trip_any_text(text: str, ref: str | int | None) -> None:
    if isinstance(ref, str) and has_surrogate(ref):
        ref = None
    for frame in (
        Message(id=1, room=text, sender=text, text=text, ts=text, nonce=text or None),
        Error(code=text, message=text, ref=ref),
        Bye(reason=text),
        AuthOk(username=text, token=text, ref=ref),
        Presence(event="leave", room=text, username=text),
        Welcome(server=text, version=1, max_frame=2, max_text=3),
        Direct(id=1, sender=text, to=text, text=text, ts=text, nonce=text or None, replayed=True),
        Presence(event="away", room=text, username=text, text=text),
        Joined(room=text, topic=text, ref=ref),
        Left(room=text, ref=ref),
        TopicChanged(room=text, text=text, by=text),
        RoomList(rooms=[RoomInfo(name=text, topic=text, members=1, online=0, joined=True)], ref=ref),
        WhoList(room=text, users=[OnlineUser(username=text, away=text)], ref=ref),
        UserInfo(
            username=text,
            online=False,
            member_since=text,
            last_seen=text,
            away=text,
            rooms_in_common=[text],
            ref=ref,
        ),
        HistoryPage(
            messages=[
                Message(id=1, room=text, sender=text, text=text, ts=text),
                Direct(id=2, sender=text, to=text, text=text, ts=text, nonce=text or None),
            ],
            has_more=True,
            room=text,
            with_=text,
            ref=ref,
        ),
    ):
        data = encode(frame)
        check_one_line(data)
        assert decode_server_frame(data) == frame


@FAST_JSON
@given(
    text=AWKWARD_TEXT.filter(lambda t: not has_surrogate(t)),
    ref=st.none() | st.text(max_size=REF_MAX) | INT_REFS,
)
def test_client_frames_round_trip_any_text(text: str, ref: str | int | None) -> None:
    if isinstance(ref, str) and has_surrogate(ref):
        ref = None
    for frame in (
        Send(room=text, text=text, nonce=text or None, ref=ref),
        SendDirect(to=text, text=text, nonce=text or None, ref=ref),
        Join(room=text, ref=ref),
        Leave(room=text, ref=ref),
        SetTopic(room=text, text=text, ref=ref),
        Who(room=text, ref=ref),
        Whois(username=text, ref=ref),
        Away(text=text, ref=ref),
        History(room=text, with_=text, ref=ref),
        Resume(token=text, ref=ref),
    ):
        data = encode(frame)
        check_one_line(data)
        assert decode_client_frame(data) == frame


@FAST
@given(
    retry_after=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    ref=st.none() | INT_REFS | st.text(max_size=REF_MAX).filter(lambda t: not has_surrogate(t)),
    version=st.integers(min_value=-(2**63), max_value=2**64 - 1),
    message_id=MESSAGE_IDS,
)
def test_numbers_round_trip(
    retry_after: float | None, ref: str | int | None, version: int, message_id: int
) -> None:
    frames: list[Frame] = [
        Error(code="c", message="m", ref=ref, retry_after=retry_after),
        Welcome(server="s", version=version, max_frame=version, max_text=version),
        Message(id=version, room="r", sender="s", text="t", ts="now"),
        Direct(id=version, sender="s", to="t", text="t", ts="now"),
        Synced(last_id=version),
        RoomList(
            rooms=[RoomInfo(name="r", topic="", members=version, online=version, joined=False)], ref=ref
        ),
    ]
    for frame in frames:
        assert decode_server_frame(encode(frame)) == frame
    client: list[Frame] = [
        Resume(token="t", last_id=message_id, ref=ref),
        Join(room="r", last_id=message_id),
        History(before=message_id, after=message_id, limit=version, ref=ref),
    ]
    for frame in client:
        assert decode_client_frame(encode(frame)) == frame


def test_decoders_are_reusable_after_errors() -> None:
    for data in BAD_BYTES:
        with pytest.raises(ProtocolError):
            decode_client_frame(data)
        assert decode_client_frame(b'{"type":"ping"}') == Ping()


def test_msgspec_errors_never_escape() -> None:
    """The codec's contract: callers only ever need to catch ProtocolError."""
    for data in BAD_BYTES + LONE_SURROGATE_LINES + NOT_OBJECTS:
        for decode in DECODERS:
            try:
                decode(data)
            except ProtocolError:
                pass
            except msgspec.MsgspecError as exc:  # pragma: no cover - the failure being tested for
                pytest.fail(f"{type(exc).__name__} escaped for {data!r}")
