"""LineSplitter: a byte stream in, bounded lines (or LINE_TOO_LONG markers) out."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatapp.protocol import (
    LINE_TOO_LONG,
    MAX_FRAME_BYTES,
    LineSplitter,
    Message,
    Ping,
    Send,
    decode_client_frame,
    decode_server_frame,
    encode,
)

FAST = settings(max_examples=200, deadline=None, database=None)

Out = list[bytes | object]


def feed_all(splitter: LineSplitter, chunks: Iterable[bytes], max_line: int | None = None) -> Out:
    out: Out = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
        if max_line is not None:
            assert splitter.buffered <= max_line + 1
    return out


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def reference(data: bytes, max_line: int) -> Out:
    """What LineSplitter must produce for ``data``, however it is chunked."""
    *complete, rest = data.split(b"\n")
    out: Out = []
    for segment in complete:
        if segment.endswith(b"\r"):
            segment = segment[:-1]
        if len(segment) > max_line:
            out.append(LINE_TOO_LONG)
        elif segment:
            out.append(segment)
    # An unfinished line is reported as soon as it cannot fit any more (one byte
    # is allowed beyond the bound, for the '\r' of a CRLF).
    if len(rest) > max_line + 1:
        out.append(LINE_TOO_LONG)
    return out


def test_splits_lines() -> None:
    s = LineSplitter(100)
    assert s.feed(b"one\ntwo\nthree\n") == [b"one", b"two", b"three"]
    assert s.buffered == 0


def test_lines_are_bytes() -> None:
    s = LineSplitter(100)
    out = s.feed(b"ab") + s.feed(b"cd\nef\n")
    assert out == [b"abcd", b"ef"]
    assert all(type(x) is bytes for x in out)


def test_partial_line_is_kept_until_its_newline() -> None:
    s = LineSplitter(100)
    assert s.feed(b"hel") == []
    assert s.buffered == 3
    assert s.feed(b"lo") == []
    assert s.buffered == 5
    assert s.feed(b", world\nnext") == [b"hello, world"]
    assert s.buffered == 4
    assert s.feed(b"\n") == [b"next"]
    assert s.buffered == 0


def test_empty_feed() -> None:
    s = LineSplitter(10)
    assert s.feed(b"") == []
    s.feed(b"abc")
    assert s.feed(b"") == []
    assert s.buffered == 3


def test_crlf() -> None:
    s = LineSplitter(100)
    assert s.feed(b"one\r\ntwo\r\n") == [b"one", b"two"]
    # The '\r' and the '\n' may arrive apart.
    assert s.feed(b"three\r") == []
    assert s.feed(b"\nfour\r") == [b"three"]
    assert s.feed(b"\n") == [b"four"]


def test_only_one_trailing_cr_is_removed_and_inner_cr_kept() -> None:
    s = LineSplitter(100)
    assert s.feed(b"a\r\r\n") == [b"a\r"]
    assert s.feed(b"a\rb\n") == [b"a\rb"]
    assert s.feed(b"\ra\n") == [b"\ra"]


def test_blank_lines_are_skipped() -> None:
    s = LineSplitter(100)
    assert s.feed(b"\n\n\r\n\n") == []
    assert s.feed(b"\na\n\n\r\nb\n\n") == [b"a", b"b"]
    assert s.buffered == 0


def test_whitespace_lines_are_not_blank() -> None:
    # Only empty lines are skipped; the codec refuses anything else it cannot read.
    s = LineSplitter(100)
    assert s.feed(b" \n\t\n") == [b" ", b"\t"]


CHUNKINGS = [1, 2, 3, 7, 15, 16, 17, 1000]


@pytest.mark.parametrize("size", CHUNKINGS)
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_line_of_exactly_max_bytes_is_kept(size: int, newline: bytes) -> None:
    max_line = 16
    data = b"x" * max_line + newline + b"after" + newline
    s = LineSplitter(max_line)
    assert feed_all(s, chunked(data, size), max_line) == [b"x" * max_line, b"after"]


@pytest.mark.parametrize("size", CHUNKINGS)
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
@pytest.mark.parametrize("excess", [1, 2, 3, 100])
def test_over_long_line_reported_once_then_stream_goes_on(size: int, newline: bytes, excess: int) -> None:
    max_line = 16
    data = (
        b"ok"
        + newline
        + b"y" * (max_line + excess)
        + newline
        + b"after"
        + newline
        + b"x" * max_line
        + newline
    )
    s = LineSplitter(max_line)
    out = feed_all(s, chunked(data, size), max_line)
    assert out == [b"ok", LINE_TOO_LONG, b"after", b"x" * max_line]
    assert out.count(LINE_TOO_LONG) == 1
    assert s.buffered == 0


def test_max_plus_one_with_split_exactly_at_the_bound() -> None:
    s = LineSplitter(4)
    assert s.feed(b"abcd") == []
    assert s.feed(b"e") == []  # max+1 bytes: could still be "abcd\r"
    assert s.buffered == 5
    assert s.feed(b"\nnext\n") == [LINE_TOO_LONG, b"next"]
    assert s.feed(b"abcd") == []
    assert s.feed(b"\r") == []
    assert s.feed(b"\n") == [b"abcd"]


def test_over_long_unfinished_line_is_reported_at_once_and_dropped() -> None:
    s = LineSplitter(8)
    assert s.feed(b"a" * 20) == [LINE_TOO_LONG]
    assert s.buffered == 0
    for _ in range(100):  # the rest of it, however long, is dropped silently
        assert s.feed(b"b" * 50) == []
        assert s.buffered == 0
    assert s.feed(b"c\r\nfine\n") == [b"fine"]


def test_over_long_line_dribbled_one_byte_at_a_time() -> None:
    max_line = 32
    s = LineSplitter(max_line)
    out: Out = []
    high = 0
    for byte in b"z" * (10 * max_line):
        out.extend(s.feed(bytes([byte])))
        high = max(high, s.buffered)
        assert s.buffered <= max_line + 1
    assert high == max_line + 1
    assert out == [LINE_TOO_LONG]
    assert s.feed(b"\n") == []
    assert s.feed(b"x\n") == [b"x"]


def test_over_long_line_then_more_in_the_same_chunk() -> None:
    s = LineSplitter(4)
    assert s.feed(b"toolongline\nok\nalsotoolong\n\nfine") == [LINE_TOO_LONG, b"ok", LINE_TOO_LONG]
    assert s.feed(b"\n") == [b"fine"]


def test_over_long_line_across_a_buffered_start() -> None:
    s = LineSplitter(4)
    assert s.feed(b"abc") == []
    assert s.feed(b"defgh\nij\n") == [LINE_TOO_LONG, b"ij"]


def test_discarding_ends_at_the_first_newline_of_a_later_chunk() -> None:
    s = LineSplitter(4)
    assert s.feed(b"abcdefgh") == [LINE_TOO_LONG]
    assert s.feed(b"ijk\nl") == []
    assert s.buffered == 1
    assert s.feed(b"mn\n") == [b"lmn"]


def test_large_bound() -> None:
    s = LineSplitter(MAX_FRAME_BYTES)
    big = b"a" * MAX_FRAME_BYTES
    assert s.feed(big[:1000]) == []
    assert s.feed(big[1000:] + b"\n") == [big]
    assert s.feed(big + b"a\n") == [LINE_TOO_LONG]


# -- properties ---------------------------------------------------------------------------

# Lines made of a few bytes, the interesting ones among them.
SEGMENTS = st.lists(st.sampled_from([b"a", b"b", b"\r", b"\n", b"\r\n", b"{}", b"\xff"]), max_size=60)


@st.composite
def stream_and_cuts(draw: st.DrawFn) -> tuple[bytes, list[bytes], int]:
    max_line = draw(st.integers(min_value=0, max_value=10))
    data = b"".join(draw(SEGMENTS))
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(data)), max_size=20)))
    bounds = [0, *cuts, len(data)]
    chunks = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    return data, chunks, max_line


@FAST
@given(stream_and_cuts())
def test_chunking_does_not_matter(case: tuple[bytes, list[bytes], int]) -> None:
    data, chunks, max_line = case
    assert b"".join(chunks) == data
    whole = LineSplitter(max_line).feed(data)
    assert whole == reference(data, max_line)
    assert feed_all(LineSplitter(max_line), chunks, max_line) == whole


@FAST
@given(
    lines=st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=12),
    crlf=st.lists(st.booleans(), min_size=12, max_size=12),
    max_line=st.integers(min_value=1, max_value=10),
    size=st.integers(min_value=1, max_value=20),
)
def test_lines_come_out_as_they_went_in(
    lines: list[bytes], crlf: list[bool], max_line: int, size: int
) -> None:
    data = b"".join(line + (b"\r\n" if cr else b"\n") for line, cr in zip(lines, crlf, strict=False))
    expected: Out = []
    for line, cr in zip(lines, crlf, strict=False):
        if not cr and line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > max_line:
            expected.append(LINE_TOO_LONG)
        elif line:
            expected.append(line)
    out = feed_all(LineSplitter(max_line), chunked(data, size), max_line)
    assert out == expected
    assert LineSplitter(max_line).feed(data) == expected


@FAST
@given(
    texts=st.lists(st.text(max_size=40), min_size=1, max_size=8),
    size=st.integers(min_value=1, max_value=64),
)
def test_encoded_frames_survive_any_chunking(texts: list[str], size: int) -> None:
    texts = [t for t in texts if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)]
    client = [Send(room="general", text=t, nonce=t or None, ref=t) for t in texts] + [Ping(ref=1)]
    server = [Message(id=i, room="general", sender="a", text=t, ts="now") for i, t in enumerate(texts)]
    for frames, decode in ((client, decode_client_frame), (server, decode_server_frame)):
        data = b"".join(encode(f) for f in frames)
        s = LineSplitter(MAX_FRAME_BYTES)
        lines = feed_all(s, chunked(data, size))
        assert s.buffered == 0
        assert [decode(line) for line in lines if isinstance(line, bytes)] == frames
        assert len(lines) == len(frames)


def test_line_too_long_marker() -> None:
    assert repr(LINE_TOO_LONG) == "LINE_TOO_LONG"
    assert not isinstance(LINE_TOO_LONG, bytes | bytearray)
    # Callers test with "is"; every report is the one marker object.
    out = LineSplitter(1).feed(b"long\nlonger\nlongest")
    assert len(out) == 3
    assert all(x is LINE_TOO_LONG for x in out)
