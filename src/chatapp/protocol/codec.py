"""Encoding frames to lines and decoding lines to frames.

Every frame that crosses the wire passes through :func:`encode` and one of the
``decode_*`` functions here, and nowhere else. Decoding failures become
:class:`ProtocolError` with ``bad_frame`` or ``unknown_type``; the caller
decides what to answer.
"""

from __future__ import annotations

from typing import TypeGuard, TypeVar

import msgspec

from .errors import ErrorCode, ProtocolError
from .frames import (
    CLIENT_FRAME_TYPES,
    SERVER_FRAME_TYPES,
    ClientFrame,
    Frame,
    ServerFrame,
)
from .limits import REF_MAX

_encoder = msgspec.json.Encoder()
# Annotated: a union is not a ``type[T]``, so msgspec's stubs would infer Any.
_client_decoder: msgspec.json.Decoder[ClientFrame] = msgspec.json.Decoder(ClientFrame)
_server_decoder: msgspec.json.Decoder[ServerFrame] = msgspec.json.Decoder(ServerFrame)


class _Probe(msgspec.Struct):
    """Just enough of a rejected frame to say which kind it was and echo its ref.

    The fields are kept raw and read one by one (:func:`_read`), so that a value
    that cannot be read (a number out of range, nesting too deep) spoils only
    itself and not the other field.
    """

    type: msgspec.Raw = msgspec.Raw()
    ref: msgspec.Raw = msgspec.Raw()


_probe_decoder = msgspec.json.Decoder(_Probe)

_F = TypeVar("_F")


def encode(frame: Frame) -> bytes:
    """The frame as one JSON line, newline included, ready to write."""
    return _encoder.encode(frame) + b"\n"


def decode_client_frame(line: bytes) -> ClientFrame:
    """Decode a line a client sent (what the server reads)."""
    return _decode(_client_decoder, CLIENT_FRAME_TYPES, line)


def decode_server_frame(line: bytes) -> ServerFrame:
    """Decode a line a server sent (what the client reads)."""
    return _decode(_server_decoder, SERVER_FRAME_TYPES, line)


_NOT_A_FRAME = "a frame is one JSON object in UTF-8 on one line"


def _decode(decoder: msgspec.json.Decoder[_F], known: frozenset[str], line: bytes) -> _F:
    if not line.isascii() and not _is_utf8(line):
        # msgspec checks UTF-8 only in the strings it decodes, not in ignored fields.
        raise ProtocolError(ErrorCode.BAD_FRAME, _NOT_A_FRAME)
    try:
        return decoder.decode(line)
    except msgspec.ValidationError as exc:
        probe = _probe(line)
        if probe is None:
            raise ProtocolError(ErrorCode.BAD_FRAME, _NOT_A_FRAME) from None
        kind, raw_ref = probe
        ref = raw_ref if _echoable(raw_ref) else None
        if kind is None:
            raise ProtocolError(
                ErrorCode.BAD_FRAME, "every frame needs a string field 'type'", ref=ref
            ) from None
        if not isinstance(kind, str) or kind not in known:
            raise ProtocolError(
                ErrorCode.UNKNOWN_TYPE, f"unknown frame type {str(kind)[:40]!r}", ref=ref
            ) from None
        raise ProtocolError(ErrorCode.BAD_FRAME, f"invalid {kind!r} frame: {exc}", ref=ref) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        # RecursionError: JSON nested deeper than msgspec will go (possible in an
        # ignored field of an otherwise valid frame); it must not escape as such.
        raise ProtocolError(ErrorCode.BAD_FRAME, _NOT_A_FRAME) from None


def _echoable(ref: object) -> TypeGuard[str | int]:
    """Whether a rejected frame's ``ref`` is one a valid frame could carry (and so fits a reply)."""
    if isinstance(ref, bool):
        return False
    if isinstance(ref, str):
        return len(ref) <= REF_MAX
    return isinstance(ref, int) and -(2**63) <= ref < 2**63


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_UNREADABLE = (msgspec.MsgspecError, UnicodeDecodeError, RecursionError)


def _probe(line: bytes) -> tuple[object, object] | None:
    """The ``type`` and ``ref`` of a rejected frame, each None where unreadable;
    None if the line is not even a JSON object."""
    try:
        probe = _probe_decoder.decode(line)
    except _UNREADABLE:
        return None
    return _read(probe.type), _read(probe.ref)


def _read(raw: msgspec.Raw) -> object:
    if not raw:  # field absent
        return None
    try:
        return msgspec.json.decode(raw)
    except _UNREADABLE:
        return None
