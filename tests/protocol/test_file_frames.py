"""File sharing's frames: chunk data survives the round trip, every bound is enforced by the decoder."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatapp.protocol import ErrorCode, ProtocolError, decode_client_frame, decode_server_frame, encode
from chatapp.protocol.file_frames import FileChunk, FileInfo, FileRead, UploadChunk, UploadStart
from chatapp.protocol.limits import FILE_CHUNK_MAX, FILE_NAME_MAX, MAX_FRAME_BYTES
from chatapp.protocol.rules import check_caption, check_file_name, check_upload_target

FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
UPLOAD = "Wm9vX2F0X3RoZV9ib3R0b20"
FILE = "ZmlsZV9udW1iZXJfb25l"


def line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def chunk_wire(data: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "type": "upload_chunk",
        "upload": UPLOAD,
        "offset": 0,
        "data": base64.b64encode(data).decode(),
        "sha256": hashlib.sha256(data).hexdigest(),
        **extra,
    }


def refused_code(data: bytes, decode: Any = decode_client_frame) -> ErrorCode:
    with pytest.raises(ProtocolError) as info:
        decode(data)
    return info.value.code


@FAST
@given(st.binary(min_size=0, max_size=FILE_CHUNK_MAX), st.integers(min_value=0, max_value=2**53))
def test_upload_chunk_round_trip(data: bytes, offset: int) -> None:
    frame = decode_client_frame(line(chunk_wire(data, offset=offset)))
    assert isinstance(frame, UploadChunk)
    assert frame.data == data and frame.offset == offset
    assert decode_client_frame(encode(frame).rstrip(b"\n")) == frame


@FAST
@given(st.binary(min_size=0, max_size=FILE_CHUNK_MAX), st.booleans())
def test_file_chunk_round_trip(data: bytes, eof: bool) -> None:
    frame = FileChunk(file=FILE, offset=7, data=data, eof=eof, ref="r")
    encoded = encode(frame)
    assert decode_server_frame(encoded.rstrip(b"\n")) == frame


def test_largest_chunk_frames_fit_the_frame_limit() -> None:
    data = b"\xff" * FILE_CHUNK_MAX
    chunk = UploadChunk(upload="U" * 32, offset=2**53, data=data, sha256="0" * 64, ref="r" * 128)
    read = FileChunk(file="F" * 32, offset=2**53, data=data, eof=True, ref="r" * 128)
    for frame in (chunk, read):
        assert len(encode(frame)) - 1 < MAX_FRAME_BYTES - 16 * 1024


def test_chunk_over_the_limit_is_bad_frame() -> None:
    assert refused_code(line(chunk_wire(b"x" * (FILE_CHUNK_MAX + 1)))) is ErrorCode.BAD_FRAME


@pytest.mark.parametrize(
    "bad",
    [
        {"data": "not base64!"},
        {"sha256": "0" * 63},
        {"sha256": "A" * 64},
        {"upload": "short"},
        {"upload": "x" * 33},
        {"upload": "has space in it!!"},
        {"offset": -1},
        {"offset": 2**53 + 1},
        {"offset": 1.5},
    ],
    ids=repr,
)
def test_upload_chunk_bounds(bad: dict[str, Any]) -> None:
    assert refused_code(line({**chunk_wire(b"abc"), **bad})) is ErrorCode.BAD_FRAME


START = {"type": "upload_start", "name": "a.txt", "size": 3, "sha256": "0" * 64, "room": "general"}


@pytest.mark.parametrize(
    "bad",
    [
        {"name": ""},
        {"name": "n" * (FILE_NAME_MAX + 1)},
        {"size": -1},
        {"size": 2**53 + 1},
        {"mime": "Text/Plain"},
        {"mime": "text/plain; charset=utf-8"},
        {"mime": "text"},
        {"mime": "a/" + "b" * 130},
        {"encrypted": "yes"},
        {"room": "r" * 33},
        {"to": "u" * 33},
    ],
    ids=repr,
)
def test_upload_start_bounds(bad: dict[str, Any]) -> None:
    assert refused_code(line({**START, **bad})) is ErrorCode.BAD_FRAME


@pytest.mark.parametrize(("length", "ok"), [(1, True), (FILE_CHUNK_MAX, True), (0, False),
                                            (FILE_CHUNK_MAX + 1, False)])
def test_file_read_length_bounds(length: int, ok: bool) -> None:
    wire = line({"type": "file_read", "file": FILE, "offset": 0, "length": length})
    if ok:
        assert decode_client_frame(wire) == FileRead(file=FILE, offset=0, length=length)
    else:
        assert refused_code(wire) is ErrorCode.BAD_FRAME


@FAST
@given(st.text(min_size=1, max_size=FILE_NAME_MAX))
def test_any_file_name_without_nul_decodes(name: str) -> None:
    """Names are the receiving client's to make safe: the decoder keeps them exactly."""
    frame = decode_client_frame(line({**START, "name": name}))
    assert isinstance(frame, UploadStart) and frame.name == name
    if "\x00" in name:
        with pytest.raises(ProtocolError):
            check_file_name(name)
    else:
        check_file_name(name)


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["upload", "offset", "data", "sha256", "file", "length", "name", "size", "room", "to",
                         "mime", "encrypted"]),
        st.none() | st.booleans() | st.integers() | st.text(max_size=40) | st.lists(st.integers()),
        max_size=8,
    ),
    st.sampled_from(["upload_start", "upload_chunk", "upload_cancel", "file_read", "file_link"]),
)
def test_junk_file_frames_are_refused_cleanly(fields: dict[str, Any], kind: str) -> None:
    """Whatever the fields hold, decoding gives a frame or a bad_frame: never another exception."""
    try:
        decode_client_frame(line({"type": kind, **fields}))
    except ProtocolError as error:
        assert error.code is ErrorCode.BAD_FRAME


def test_message_file_info_round_trip() -> None:
    info = FileInfo(id=FILE, name="r\u00e9sum\u00e9.pdf", size=10, sha256="f" * 64, mime="application/pdf",
                    encrypted=True)
    wire = {"type": "message", "id": 1, "room": "general", "from": "bob", "text": "", "ts": "t",
            "file": msgspec.to_builtins(info)}
    frame = decode_server_frame(line(wire))
    assert frame.file == info


def test_caption_may_be_empty_and_target_is_one_of_two() -> None:
    check_caption("")
    check_caption("   ")
    with pytest.raises(ProtocolError):
        check_caption("x" * 5000)
    check_upload_target("general", None)
    check_upload_target(None, "bob")
    for room, to in ((None, None), ("general", "bob")):
        with pytest.raises(ProtocolError) as info:
            check_upload_target(room, to)
        assert info.value.code is ErrorCode.BAD_FRAME
