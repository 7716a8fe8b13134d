"""Value rules: each refusal carries the error code a peer would see."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatapp.protocol import DEFAULT_ROOM, MAX_TEXT_CHARS, ErrorCode, ProtocolError
from chatapp.protocol.limits import (
    AWAY_MAX,
    HISTORY_PAGE_DEFAULT,
    HISTORY_PAGE_MAX,
    JOIN_CONTEXT,
    NONCE_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    ROOM_MAX,
    TOPIC_MAX,
    USERNAME_MAX,
    USERNAME_MIN,
)
from chatapp.protocol.rules import (
    check_away,
    check_history_limit,
    check_nonce,
    check_password,
    check_room,
    check_text,
    check_topic,
    check_username,
    username_key,
)

FAST = settings(max_examples=200, deadline=None, database=None)
# Rules that are a single length or range check need fewer examples.
QUICK = settings(FAST, max_examples=60)

USERNAME_CHARS = string.ascii_letters + string.digits + "_.-"
ROOM_CHARS = string.ascii_lowercase + string.digits + "_-"


def code_of(check: object, *args: object) -> ErrorCode | None:
    assert callable(check)
    try:
        check(*args)
    except ProtocolError as exc:
        assert exc.message
        assert exc.retry_after is None
        assert exc.ref is None
        return exc.code
    return None


def test_limits_are_sane() -> None:
    assert (USERNAME_MIN, USERNAME_MAX) == (3, 32)
    assert (PASSWORD_MIN, PASSWORD_MAX) == (8, 1024)
    check_room(DEFAULT_ROOM)
    assert 1 <= HISTORY_PAGE_DEFAULT <= HISTORY_PAGE_MAX
    assert 1 <= JOIN_CONTEXT <= HISTORY_PAGE_MAX
    assert 0 < TOPIC_MAX <= MAX_TEXT_CHARS
    assert 0 < AWAY_MAX <= MAX_TEXT_CHARS


# -- usernames --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "bob",
        "Alice",
        "a.b",
        "a-b",
        "a_b",
        "___",
        "...",
        "---",
        "007",
        "x" * USERNAME_MAX,
        "x" * USERNAME_MIN,
        USERNAME_CHARS[:USERNAME_MAX],
        USERNAME_CHARS[-USERNAME_MAX:],
    ],
)
def test_valid_usernames(name: str) -> None:
    check_username(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "a",
        "ab",
        "x" * (USERNAME_MAX + 1),
        "x" * 1000,
        "bob smith",
        " bob",
        "bob ",
        "bob\n",
        "bob\r\n",
        "\nbob",
        "bob\x00",
        "bo\tb",
        "bob!",
        "bob@example.com",
        "bob/../x",
        "ab\u200b",  # zero-width space
        "\u202ebob",  # right-to-left override
        "bøb",
        "josé",
        "Ünal",
        "ааа",  # Cyrillic a, looks like "aaa"
        "ＡＢＣ",  # fullwidth letters
        "١٢٣",  # Arabic-Indic digits: unicode \\d, but not 0-9
        "ⅰⅱⅲ",  # roman numerals
        "𝐚𝐛𝐜",  # mathematical bold
        "abc\ufeff",
        "😀😀😀",
        "a\u0301bc",  # combining accent
        "K" * 2 + "\u212a",  # Kelvin sign: lowercases to ASCII "k"
        "ı" * 3,  # dotless i
    ],
)
def test_invalid_usernames(name: str) -> None:
    assert code_of(check_username, name) is ErrorCode.INVALID_USERNAME


@FAST
@given(st.text(max_size=40))
def test_username_rule_is_exactly_the_documented_one(name: str) -> None:
    valid = USERNAME_MIN <= len(name) <= USERNAME_MAX and all(c in USERNAME_CHARS for c in name)
    assert (code_of(check_username, name) is None) == valid
    if not valid:
        assert code_of(check_username, name) is ErrorCode.INVALID_USERNAME


@FAST
@given(st.text(alphabet=USERNAME_CHARS, min_size=USERNAME_MIN, max_size=USERNAME_MAX))
def test_any_name_of_allowed_characters_is_valid(name: str) -> None:
    check_username(name)


def test_username_key_folds_case() -> None:
    assert username_key("Alice") == username_key("alice") == username_key("ALICE") == "alice"
    assert username_key("a.B-c_D") == "a.b-c_d"
    assert username_key("bob") != username_key("bob_")


# -- passwords ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "p" * PASSWORD_MIN,
        "p" * PASSWORD_MAX,
        "correct horse battery staple",
        "        ",  # spaces count
        "пароль-пароль",
        "😀" * PASSWORD_MIN,  # characters, not bytes
        "alicealice",  # contains the username: allowed
        "alice123",
    ],
)
def test_valid_passwords(password: str) -> None:
    check_password("alice", password)


@pytest.mark.parametrize(
    "password",
    ["", "p", "p" * (PASSWORD_MIN - 1), "p" * (PASSWORD_MAX + 1), "p" * 100_000, "😀" * (PASSWORD_MIN - 1)],
    ids=lambda p: f"len{len(p)}",
)
def test_password_length(password: str) -> None:
    assert code_of(check_password, "alice", password) is ErrorCode.WEAK_PASSWORD


@pytest.mark.parametrize("password", ["alicebob", "ALICEBOB", "AliceBob", "aLiCeBoB"])
def test_password_equal_to_username_ignoring_case(password: str) -> None:
    assert code_of(check_password, "AliceBob", password) is ErrorCode.WEAK_PASSWORD
    assert code_of(check_password, "alicebob", password) is ErrorCode.WEAK_PASSWORD


def test_password_that_differs_from_username_only_slightly_is_allowed() -> None:
    check_password("alicebob", "alicebob ")
    check_password("alicebob", " alicebob")
    check_password("alicebob", "alicebob1")
    check_password("alice.bob", "alice_bob")


def test_short_password_equal_to_username_is_weak_either_way() -> None:
    assert code_of(check_password, "abc", "abc") is ErrorCode.WEAK_PASSWORD


@FAST
@given(
    username=st.text(alphabet=USERNAME_CHARS, min_size=USERNAME_MIN, max_size=USERNAME_MAX),
    password=st.text(max_size=40),
)
def test_password_rule(username: str, password: str) -> None:
    weak = not PASSWORD_MIN <= len(password) <= PASSWORD_MAX or password.lower() == username.lower()
    assert code_of(check_password, username, password) is (ErrorCode.WEAK_PASSWORD if weak else None)


@FAST
@given(
    st.text(alphabet=USERNAME_CHARS, min_size=PASSWORD_MIN, max_size=USERNAME_MAX), st.integers(min_value=0)
)
def test_username_as_password_in_any_case_is_weak(username: str, flips: int) -> None:
    password = "".join(c.swapcase() if flips >> i & 1 else c for i, c in enumerate(username))
    assert code_of(check_password, username, password) is ErrorCode.WEAK_PASSWORD


# -- rooms ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "room",
    ["general", "a", "0", "x" * ROOM_MAX, "dev-ops", "dev_ops", "2024", "a-", "a_", "a--__--b"],
)
def test_valid_rooms(room: str) -> None:
    check_room(room)


@pytest.mark.parametrize(
    "room",
    [
        "",
        "x" * (ROOM_MAX + 1),
        "General",
        "GENERAL",
        "-general",
        "_general",
        ".general",
        "dev.ops",
        "dev ops",
        "#general",
        "general\n",
        "gen\x00",
        "général",
        "ｇｅｎｅｒａｌ",
        "١",
        "room/..",
        "\u202egeneral",
    ],
)
def test_invalid_rooms(room: str) -> None:
    assert code_of(check_room, room) is ErrorCode.INVALID_ROOM


@FAST
@given(st.text(alphabet=ROOM_CHARS + "A.Z é\n", max_size=ROOM_MAX + 3))
def test_room_rule_is_exactly_the_documented_one(room: str) -> None:
    valid = (
        1 <= len(room) <= ROOM_MAX
        and room[0] in string.ascii_lowercase + string.digits
        and all(c in ROOM_CHARS for c in room)
    )
    assert code_of(check_room, room) is (None if valid else ErrorCode.INVALID_ROOM)


# -- message text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["x", "hello", " x ", "\nx\n", "x" * MAX_TEXT_CHARS, "😀" * MAX_TEXT_CHARS, "\x01", "\u200b", "\u202e"],
    ids=lambda t: repr(t[:10]) + f"*{len(t)}",
)
def test_valid_text(text: str) -> None:
    check_text(text)


@pytest.mark.parametrize(
    "text",
    ["", " ", "\n", "\r\n", "\t \t", " " * (MAX_TEXT_CHARS + 10), "\u3000", "\xa0", "\u2028", "\x1c"],
    ids=repr,
)
def test_empty_or_whitespace_text_is_bad_frame(text: str) -> None:
    assert code_of(check_text, text) is ErrorCode.BAD_FRAME


@pytest.mark.parametrize("text", ["x" * (MAX_TEXT_CHARS + 1), "😀" * (MAX_TEXT_CHARS + 1), "x" * 100_000])
def test_long_text_is_refused_not_truncated(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        check_text(text)
    assert info.value.code is ErrorCode.TEXT_TOO_LONG
    assert str(len(text)) in info.value.message
    assert str(MAX_TEXT_CHARS) in info.value.message


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (check_text, "\x00"),
        (check_text, "a\x00b"),
        (check_nonce, "n\x00"),
        (check_topic, "\x00"),
        (check_away, "\x00"),
    ],
    ids=["text", "text inside", "nonce", "topic", "away"],
)
def test_nul_is_refused_in_every_stored_text(check: Any, value: str) -> None:
    # PostgreSQL cannot store U+0000; the same rule holds on every database.
    with pytest.raises(ProtocolError) as info:
        check(value)
    assert info.value.code is ErrorCode.BAD_FRAME
    assert "NUL" in info.value.message


def test_text_limit_is_configurable() -> None:
    check_text("x" * 10, max_chars=10)
    assert code_of(check_text, "x" * 11, 10) is ErrorCode.TEXT_TOO_LONG
    check_text("x" * (MAX_TEXT_CHARS + 1), max_chars=MAX_TEXT_CHARS + 1)
    assert code_of(check_text, " ", 10) is ErrorCode.BAD_FRAME


@FAST
@given(st.text(max_size=30), st.integers(min_value=1, max_value=25))
def test_text_rule(text: str, max_chars: int) -> None:
    expected = None
    if not text.strip() or "\x00" in text:
        expected = ErrorCode.BAD_FRAME
    elif len(text) > max_chars:
        expected = ErrorCode.TEXT_TOO_LONG
    assert code_of(check_text, text, max_chars) is expected


# -- nonces ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nonce", [None, "n", "x" * NONCE_MAX, "😀" * NONCE_MAX, " ", "550e8400-e29b-41d4-a716"]
)
def test_valid_nonces(nonce: str | None) -> None:
    check_nonce(nonce)


@pytest.mark.parametrize("nonce", ["", "x" * (NONCE_MAX + 1), "x" * 10_000])
def test_invalid_nonces(nonce: str) -> None:
    assert code_of(check_nonce, nonce) is ErrorCode.BAD_FRAME


# -- topics -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "topic",
    ["", " ", "builds and bugs", "x" * TOPIC_MAX, "😀" * TOPIC_MAX, "line\nbreak", "\u202e"],
    ids=lambda t: repr(t[:10]) + f"*{len(t)}",
)
def test_valid_topics(topic: str) -> None:
    """Any text up to the limit, counted in characters; empty clears the topic."""
    check_topic(topic)


@pytest.mark.parametrize("topic", ["x" * (TOPIC_MAX + 1), "😀" * (TOPIC_MAX + 1), "x" * 100_000])
def test_long_topic_is_text_too_long(topic: str) -> None:
    with pytest.raises(ProtocolError) as info:
        check_topic(topic)
    assert info.value.code is ErrorCode.TEXT_TOO_LONG
    assert str(TOPIC_MAX) in info.value.message


@QUICK
@given(
    st.text(max_size=20)
    | st.integers(min_value=TOPIC_MAX - 2, max_value=TOPIC_MAX + 2).flatmap(
        lambda n: st.text(min_size=n, max_size=n)
    )
)
def test_topic_rule(topic: str) -> None:
    expected = None if len(topic) <= TOPIC_MAX else ErrorCode.TEXT_TOO_LONG
    if expected is None and "\x00" in topic:
        expected = ErrorCode.BAD_FRAME
    assert code_of(check_topic, topic) is expected


# -- away messages -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [None, "", " ", "lunch", "x" * AWAY_MAX, "😀" * AWAY_MAX, "back\nsoon"],
    ids=lambda t: "None" if t is None else repr(t[:10]) + f"*{len(t)}",
)
def test_valid_away_messages(text: str | None) -> None:
    """Absent or empty means back; otherwise any text up to the limit."""
    check_away(text)


@pytest.mark.parametrize("text", ["x" * (AWAY_MAX + 1), "😀" * (AWAY_MAX + 1), "x" * 100_000])
def test_long_away_message_is_text_too_long(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        check_away(text)
    assert info.value.code is ErrorCode.TEXT_TOO_LONG
    assert str(AWAY_MAX) in info.value.message


@QUICK
@given(st.none() | st.integers(min_value=0, max_value=AWAY_MAX + 3).map(lambda n: "a" * n))
def test_away_rule(text: str | None) -> None:
    valid = text is None or len(text) <= AWAY_MAX
    assert code_of(check_away, text) is (None if valid else ErrorCode.TEXT_TOO_LONG)


# -- history page size ---------------------------------------------------------------------------


def test_history_limit_defaults_when_absent() -> None:
    assert check_history_limit(None) == HISTORY_PAGE_DEFAULT


@pytest.mark.parametrize("limit", [1, 2, HISTORY_PAGE_DEFAULT, HISTORY_PAGE_MAX - 1, HISTORY_PAGE_MAX])
def test_valid_history_limits_are_used_as_given(limit: int) -> None:
    assert check_history_limit(limit) == limit


@pytest.mark.parametrize("limit", [0, -1, -(2**63), HISTORY_PAGE_MAX + 1, 2**63, 10**100])
def test_history_limit_out_of_range_is_bad_frame(limit: int) -> None:
    with pytest.raises(ProtocolError) as info:
        check_history_limit(limit)
    assert info.value.code is ErrorCode.BAD_FRAME
    assert str(HISTORY_PAGE_MAX) in info.value.message
    assert code_of(check_history_limit, limit) is ErrorCode.BAD_FRAME


@QUICK
@given(st.none() | st.integers(min_value=-5, max_value=HISTORY_PAGE_MAX + 5) | st.integers())
def test_history_limit_rule(limit: int | None) -> None:
    if limit is None:
        assert check_history_limit(limit) == HISTORY_PAGE_DEFAULT
    elif 1 <= limit <= HISTORY_PAGE_MAX:
        assert check_history_limit(limit) == limit
    else:
        assert code_of(check_history_limit, limit) is ErrorCode.BAD_FRAME
