"""The web port's two parsers: HTTP request heads and origins. Sans-I/O, with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatapp.server.transport.http_request import (
    MAX_HEAD,
    BadRequest,
    RequestHead,
    head_end,
    parse_head,
)
from chatapp.server.web_origin import OriginPolicy, parse_origin


def test_a_request_head_is_parsed() -> None:
    head = b"GET /app.js?v=1 HTTP/1.1\r\nHost: example.com:8080\r\nIf-None-Match:  \"x\" \r\n\r\n"
    request = parse_head(head)
    assert isinstance(request, RequestHead)
    assert (request.method, request.path, request.query) == ("GET", "/app.js", "v=1")
    assert request.header("host") == "example.com:8080"
    assert request.header("if-none-match") == '"x"'
    assert request.header("origin") is None


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / SPDY\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 70 + b"Host: a\r\n\r\n", 431),
    ],
)
def test_bad_heads_are_refused_with_their_status(head: bytes, status: int) -> None:
    refused = parse_head(head)
    assert isinstance(refused, BadRequest) and refused.status == status


def test_an_http_1_0_request_needs_no_host() -> None:
    assert isinstance(parse_head(b"HEAD / HTTP/1.0\r\n\r\n"), RequestHead)


@given(st.binary(max_size=MAX_HEAD + 100))
def test_any_bytes_give_a_request_or_a_refusal(data: bytes) -> None:
    result = parse_head(data)
    assert isinstance(result, RequestHead | BadRequest)
    if isinstance(result, RequestHead):
        assert result.target.startswith("/")
        assert all(0x21 <= ord(c) <= 0x7E for c in result.target)
        assert all(name == name.lower() for name, _ in result.headers)


_TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
_VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
_FRAMING = ("host", "content-length", "transfer-encoding")


@given(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
    st.lists(st.tuples(_TOKEN, _VALUE), max_size=10),
)
def test_well_formed_heads_round_trip(target: str, fields: list[tuple[str, str]]) -> None:
    fields = [(name, value) for name, value in fields if name not in _FRAMING]
    head = f"GET /{target} HTTP/1.1\r\nHost: h\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields) + "\r\n"
    data = head.encode()
    assert head_end(data + b"trailing") == len(data)
    request = parse_head(data)
    assert isinstance(request, RequestHead)
    assert request.target == "/" + target
    assert request.headers[1:] == tuple((n, v.strip(" \t")) for n, v in fields)


# -- origins ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("HTTPS://Chat.Example.COM:443", "https://chat.example.com"),
        ("http://chat.example.com:80", "http://chat.example.com"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("null", None),
        ("file://", None),
        ("ftp://example.com", None),
        ("http://example.com/", None),
        ("http://user@example.com", None),
        ("http://example.com:0", None),
        ("http://example.com:99999", None),
        ("http://example.com:", None),
        ("http://exa mple.com", None),
        ("http://.example.com", None),
        ("http://a..b", None),
        ("http://[zz]", None),
        ("http://é.example", None),
        ("", None),
    ],
)
def test_origins_in_normal_form(text: str, normal: str | None) -> None:
    assert parse_origin(text) == normal


@given(st.text(max_size=400))
def test_any_text_is_an_origin_in_normal_form_or_none(text: str) -> None:
    parsed = parse_origin(text)
    if parsed is not None:
        assert parse_origin(parsed) == parsed  # the normal form is a fixed point
        assert parsed == parsed.lower()


@given(
    st.sampled_from(["http", "https"]),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z0-9]{1,8}){0,3}", fullmatch=True),
    st.one_of(st.none(), st.integers(1, 65535)),
)
def test_generated_origins_parse(scheme: str, host: str, port: int | None) -> None:
    text = f"{scheme}://{host}" + (f":{port}" if port is not None else "")
    parsed = parse_origin(text.upper())
    default = {"http": 80, "https": 443}[scheme]
    assert parsed == (f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}")


def test_the_default_policy_is_the_requests_own_origin() -> None:
    policy = OriginPolicy.of(())
    assert policy.allows("http://127.0.0.1:8080", scheme="http", host="127.0.0.1:8080")
    assert policy.allows("https://chat.example.com", scheme="https", host="chat.example.com:443")
    assert not policy.allows("http://evil.example", scheme="http", host="127.0.0.1:8080")
    assert not policy.allows("https://127.0.0.1:8080", scheme="http", host="127.0.0.1:8080")
    assert not policy.allows("null", scheme="http", host="127.0.0.1:8080")
    assert not policy.allows("http://127.0.0.1:8080", scheme="http", host=None)
    assert policy.allows(None, scheme="http", host="127.0.0.1:8080")  # a program, not a page


def test_given_origins_replace_the_default() -> None:
    policy = OriginPolicy.of(("https://chat.example.com", "HTTP://LOCALHOST:8080"))
    assert policy.allows("https://chat.example.com:443", scheme="http", host="127.0.0.1:8080")
    assert policy.allows("http://localhost:8080", scheme="http", host="127.0.0.1:8080")
    assert not policy.allows("http://127.0.0.1:8080", scheme="http", host="127.0.0.1:8080")
    with pytest.raises(ValueError):
        OriginPolicy.of(("chat.example.com",))
