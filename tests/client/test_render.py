from __future__ import annotations

import unicodedata
import zlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from prompt_toolkit.formatted_text import to_formatted_text

from chatapp.client.ui import lines, sentences, wrap
from chatapp.client.ui.sanitize import MAX_COMBINING, sanitize
from chatapp.protocol import (
    ByeReason,
    Direct,
    ErrorCode,
    Message,
    OnlineUser,
    Presence,
    RoomInfo,
    SessionInfo,
    UserInfo,
)

BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
TZ = timezone(timedelta(hours=2))


def is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"


def msg(sender: str, text: str, ts: str = "2026-11-26T01:02:03.456Z", nonce: str | None = None) -> Message:
    return Message(id=1, room="general", sender=sender, text=text, ts=ts, nonce=nonce)


# -- sanitize -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("hello", "hello"),
        ("caf\u00e9 \U0001f600", "caf\u00e9 \U0001f600"),
        ("\x1b[2J\x1b[H", "\u241b[2J\u241b[H"),  # clear screen, cursor home: inert
        ("\x1b]0;pwned\x07", "\u241b]0;pwned\u2407"),  # retitle the terminal
        ("\x1b]52;c;ZXZpbA==\x07", "\u241b]52;c;ZXZpbA==\u2407"),  # OSC 52 clipboard
        ("\x9b31m", "<9b>31m"),  # 8-bit CSI
        ("\x9d0;x\x9c", "<9d>0;x<9c>"),  # 8-bit OSC / ST
        ("real\rfake", "real\u240dfake"),  # bare CR cannot overwrite the line
        ("abc\b\b\bxyz", "abc\u2408\u2408\u2408xyz"),  # backspaces cannot erase
        ("a\tb", "a    b"),
        ("\x00\x7f", "\u2400\u2421"),
        ("\u202eevil\u202c", "evil"),  # right-to-left override removed
        ("\u2066x\u2069\u200f", "x"),  # isolates and marks removed
        ("a\u2028b\u2029c", "a b c"),
        ("tag\U000e0041\U000e0042", "tag"),  # invisible tag characters removed
        ("\U0001f468\u200d\U0001f469", "\U0001f468\u200d\U0001f469"),  # ZWJ kept for emoji
        ("\ud800x", "\ufffdx"),  # a lone surrogate
        ("<evil>&amp;", "<evil>&amp;"),  # markup means nothing here
    ],
)
def test_sanitize_examples(raw: str, shown: str) -> None:
    assert sanitize(raw) == shown


def test_combining_marks_are_capped() -> None:
    zalgo = "e" + "\u0301" * 50 + "x"
    assert sanitize(zalgo) == "e" + "\u0301" * MAX_COMBINING + "x"
    assert sanitize("e\u0301\u0302") == "e\u0301\u0302"


@given(st.text())
@example("\x1b\x9b\x07\x08\r\n\u202e\u2066")
def test_sanitized_text_has_no_controls(text: str) -> None:
    shown = sanitize(text)
    assert "\x1b" not in shown
    assert not any(is_control(char) for char in shown)
    assert not BIDI_CONTROLS & set(shown)
    assert not any(unicodedata.category(char) in ("Cs", "Zl", "Zp") for char in shown)
    assert all(unicodedata.category(char) != "Cf" or char in "\u200c\u200d" for char in shown)
    shown.encode("utf-8")  # always writable to a UTF-8 terminal


@given(st.text())
def test_sanitize_is_idempotent(text: str) -> None:
    once = sanitize(text)
    assert sanitize(once) == once


@given(st.text(alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"])))
def test_printable_text_is_unchanged(text: str) -> None:
    if all(unicodedata.category(char) != "Cf" for char in text):
        assert sanitize(text) == text


@given(st.text(), st.text())
def test_rendered_message_lines_are_inert(sender: str, text: str) -> None:
    shown = lines.message_lines(msg(sender or "x", text), "me", tz=UTC)
    for line in shown:
        for _style, fragment in line.fragments:
            assert not any(is_control(char) for char in fragment)
            assert not BIDI_CONTROLS & set(fragment)
    # one line per \n in the text (trailing blank lines dropped), never more
    assert 1 <= len(shown) <= text.count("\n") + 1


# -- message lines ----------------------------------------------------------------------


def test_message_line_shows_local_time_sender_and_text() -> None:
    [line] = lines.message_lines(msg("bob", "hi there"), "alice", tz=TZ)
    assert line.plain == "03:02 <bob> hi there"
    assert line.indent == len("03:02 <bob> ")
    styles = dict((text, style) for style, text in line.fragments)
    assert styles["bob"] == f"class:nick.{lines.nick_colour('bob')}"
    assert styles["hi there"] == "class:text"
    assert line.kind == "message"


def test_own_lines_are_styled_differently() -> None:
    [line] = lines.message_lines(msg("Alice", "mine"), "alice", tz=TZ)
    styles = dict((text, style) for style, text in line.fragments)
    assert styles["Alice"] == "class:nick.own"
    assert styles["mine"] == "class:text.own"
    assert line.kind == "own"


def test_mentions_are_highlighted() -> None:
    [line] = lines.message_lines(msg("bob", "hey alice, look"), "alice", tz=TZ)
    assert ("class:text.mention", "hey alice, look") in line.fragments
    [line] = lines.message_lines(msg("bob", "malice aforethought"), "alice", tz=TZ)
    assert ("class:text", "malice aforethought") in line.fragments


def test_multiline_text_becomes_indented_continuation_lines() -> None:
    shown = lines.message_lines(msg("bob", "first\n12:00 <alice> forged\r\nthird\n\n"), "alice", tz=TZ)
    assert [line.plain for line in shown] == [
        "03:02 <bob> first",
        "          \u2502 12:00 <alice> forged",
        "          \u2502 third",
    ]
    # continuation lines never start in the time column
    assert all(line.plain.startswith(" ") for line in shown[1:])


def test_a_name_that_looks_like_markup_is_just_text() -> None:
    [line] = lines.message_lines(msg("<evil", "</style><b>x"), None, tz=TZ)
    assert "<<evil> </style><b>x" in line.plain
    assert to_formatted_text(line.as_formatted())  # valid formatted text, no parsing involved


def test_unreadable_timestamp_falls_back_to_receive_time() -> None:
    received = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    [line] = lines.message_lines(msg("bob", "x", ts="yesterday"), None, tz=UTC, received=received)
    assert line.plain.startswith("03:04 ")


def test_nick_colour_is_stable_and_case_insensitive() -> None:
    assert lines.nick_colour("alice") == zlib.crc32(b"alice") % lines.NICK_COLOURS
    assert lines.nick_colour("ALICE") == lines.nick_colour("alice")
    assert len({lines.nick_colour(f"user{i}") for i in range(100)}) == lines.NICK_COLOURS


def test_pending_lines_are_marked() -> None:
    [line] = lines.pending_lines("on its way", "alice", queued=True)
    assert line.plain == "--:-- <alice> on its way  (queued: not connected)"
    [first, second] = lines.pending_lines("a\nb", "alice", queued=False)
    assert first.plain == "--:-- <alice> a"
    assert second.plain.endswith("b  (sending)")


def test_system_lines() -> None:
    when = datetime(2026, 11, 26, 1, 2, tzinfo=UTC)
    [line] = lines.system_lines("bob \x1b[31mjoined", when, tz=UTC, level="join")
    assert line.plain == "01:02 -!- bob \u241b[31mjoined"
    assert any("class:system.join" in style for style, _ in line.fragments)


def test_day_change_line() -> None:
    line = lines.day_change_line(datetime(2026, 11, 26, 12, tzinfo=UTC), UTC)
    assert line.plain == "-- Day changed to Thursday, 26 November 2026 --"


# -- sentences ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message", "retry_after", "sentence"),
    [
        (ErrorCode.AUTH_FAILED, "bad", None, "Wrong username or password."),
        (ErrorCode.USERNAME_TAKEN, "x", None, "That username is already taken; please choose another one."),
        (ErrorCode.WEAK_PASSWORD, "passwords are 8 to 1024 characters long", None,
         "That password is not accepted: passwords are 8 to 1024 characters long."),
        (ErrorCode.RATE_LIMITED, "slow down", 42.2, "Too many attempts; please try again in 43 seconds."),
        (ErrorCode.RATE_LIMITED, "slow down", 1, "Too many attempts; please try again in 1 second."),
        (ErrorCode.RATE_LIMITED, "slow down", 600, "Too many attempts; please try again in 10 minutes."),
        (ErrorCode.ALREADY_LOGGED_IN, "x", None,
         "This account is already signed in somewhere else; sign out there, or take that session over."),
        (ErrorCode.NO_SUCH_SESSION, "x", None,
         "You have no such session (or it is already over); /sessions lists them."),
        (ErrorCode.INVALID_TOKEN, "x", None, "Your session has expired; please sign in again."),
        ("brand_new", "some \x1b[2Jreason.", None,
         "The server refused that: some \u241b[2Jreason (brand_new)."),
    ],
)
def test_describe_error(code: str, message: str, retry_after: float | None, sentence: str) -> None:
    assert sentences.describe_error(code, message, retry_after) == sentence


def test_already_logged_in_says_where_and_since_when_in_local_time() -> None:
    message = (
        "this account is already signed in elsewhere from 203.0.113.9:41022 since 2026-11-26T09:15:02.123Z; "
        "quit there, or log in with takeover to end that session"
    )
    since = datetime(2026, 11, 26, 9, 15, 2, tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    assert sentences.describe_error(ErrorCode.ALREADY_LOGGED_IN, message) == (
        f"This account is already signed in somewhere else (from 203.0.113.9:41022 since {since}); "
        "sign out there, or take that session over."
    )
    hostile = message.replace("203.0.113.9", "\x1b]0;pwned\x07")
    assert "\x1b" not in sentences.describe_error(ErrorCode.ALREADY_LOGGED_IN, hostile)


def test_session_list_text() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    sessions = [
        SessionInfo(id=9, address="198.51.100.4:50312", created="2026-11-26T09:20:11.020Z",
                    last_seen="2026-11-26T09:20:11.020Z", current=True, connected=True),
        SessionInfo(id=12, address="198.51.100.4:50400", created="2026-11-26T10:00:00.000Z",
                    last_seen="2026-11-26T10:00:00.000Z", connected=True),
        SessionInfo(id=5, address="\x1b[2J198.51.100.4:49001", created="2026-11-25T18:02:40.513Z",
                    last_seen="not a time"),
    ]
    assert sentences.session_list_text(sessions, tz=UTC, now=now).splitlines() == [
        "Your sessions (3; /endsession ID signs one out):",
        "   9  198.51.100.4:50312, signed in today at 09:20; this one",
        "  12  198.51.100.4:50400, signed in today at 10:00; connected",
        "   5  \u241b[2J198.51.100.4:49001, signed in yesterday at 18:02; last seen not a time",
    ]
    assert sentences.session_list_text([], tz=UTC, now=now) == "You have no sessions that can still be used."


def test_describe_bye() -> None:
    assert sentences.describe_bye(ByeReason.SHUTDOWN) == "The server is shutting down."
    assert "/endsession" in sentences.describe_bye(ByeReason.SESSION_ENDED)
    assert "somewhere else" in sentences.describe_bye(ByeReason.REPLACED)
    assert "keep up" in sentences.describe_bye(ByeReason.SEND_QUEUE_EXCEEDED)
    assert sentences.describe_bye("gone\x07") == "The server closed the connection (gone\u2407)."
    assert sentences.describe_bye(ByeReason.SERVER_FULL) == "The server is full; try again later."
    assert "your network" in sentences.describe_bye(ByeReason.TOO_MANY_FROM_NETWORK)
    for reason in ByeReason:
        # Every reason has its own sentence, not the fallback that quotes it.
        sentence = sentences.describe_bye(reason)
        assert sentence.endswith(".") and sentence != f"The server closed the connection ({reason})."


# -- wrapping -----------------------------------------------------------------------------------


def row_texts(line: lines.Line, width: int) -> list[str]:
    return ["".join(text for _, text in row) for row in wrap.wrap(line, width)]


def test_wrap_breaks_between_words_and_indents() -> None:
    [line] = lines.message_lines(msg("bob", "the quick brown fox jumps over the lazy dog"), None, tz=TZ)
    assert row_texts(line, 30) == [
        "03:02 <bob> the quick brown",
        "          \u2502 fox jumps over the",
        "          \u2502 lazy dog",
    ]


def test_wrap_breaks_long_words_hard_and_keeps_styles() -> None:
    line = lines.Line((("class:a", "ab "), ("class:b", "x" * 10)), indent=3)
    rows = wrap.wrap(line, 6)
    texts = ["".join(t for _, t in row) for row in rows]
    assert texts == ["ab xxx", " \u2502 xxx", " \u2502 xxx", " \u2502 x"]
    assert rows[0] == [("class:a", "ab "), ("class:b", "xxx")]


def test_wrap_never_breaks_inside_the_time_and_name() -> None:
    [line] = lines.message_lines(msg("bob", "x" * 30), None, tz=TZ)
    rows = row_texts(line, 20)
    assert rows[0].startswith("03:02 <bob> x")


def test_wrap_on_a_tiny_terminal_does_not_indent() -> None:
    [line] = lines.message_lines(msg("bob", "hello"), None, tz=TZ)
    assert row_texts(line, 8) == ["03:02 <b", "ob>", "hello"]


@given(st.text(max_size=200), st.integers(min_value=1, max_value=60))
def test_wrap_keeps_every_character_and_fits(text: str, width: int) -> None:
    [line, *_] = lines.message_lines(msg("bob", text.replace("\n", " ")), None, tz=TZ)
    rows = wrap.wrap(line, width)
    from prompt_toolkit.utils import get_cwidth

    for row in rows:
        shown = "".join(t for _, t in row)
        assert get_cwidth(shown) <= max(width, 2)
    body = "".join("".join(t for s, t in row if s != "class:gutter") for row in rows)
    assert body.replace(" ", "") == line.plain.replace(" ", "")


@pytest.mark.parametrize(
    ("event", "text", "sentence", "level"),
    [
        ("join", None, "bob joined #general", "join"),
        ("leave", None, "bob left #general", "leave"),
        ("online", None, "bob is online", "join"),
        ("offline", None, "bob went offline", "leave"),
        ("away", "lunch \x1b[5m", "bob is away: lunch \u241b[5m", "leave"),
        ("back", None, "bob is back", "join"),
    ],
)
def test_presence_sentences(event: str, text: str | None, sentence: str, level: str) -> None:
    frame = Presence(event=event, room="general", username="bob", text=text)  # type: ignore[arg-type]
    assert sentences.presence_text(frame) == (sentence, level)


def test_messages_from_another_room_show_the_room() -> None:
    [line] = lines.message_lines(msg("bob", "hi"), None, tz=TZ, show_room=True)
    assert line.plain == "03:02 [#general] <bob> hi"
    assert line.indent == len("03:02 [#general] <bob> ")


# -- rooms, direct messages, profiles ---------------------------------------------------------


def test_direct_messages_render_like_messages_and_name_the_conversation() -> None:
    dm = Direct(id=4, sender="alice", to="bob", text="psst", ts="2026-11-26T01:02:03Z")
    [line] = lines.message_lines(dm, "alice", tz=TZ)
    assert line.plain == "03:02 <alice> psst" and line.kind == "own"
    [tagged] = lines.message_lines(dm, "alice", tz=TZ, show_room=True)
    assert tagged.plain == "03:02 [@bob] <alice> psst"
    assert lines.dm_peer(dm, "ALICE") == "bob" and lines.dm_peer(dm, "bob") == "alice"


@pytest.mark.parametrize(
    ("code", "options", "sentence"),
    [
        (ErrorCode.NOT_IN_ROOM, {"room": "rust"}, "You are not in #rust; /join rust first."),
        (ErrorCode.NOT_IN_ROOM, {}, "You are not in that room; /join it first."),
        (ErrorCode.NO_SUCH_ROOM, {"room": "nope"},
         "There is no room #nope; /rooms lists them, /join -create nope creates it."),
        (ErrorCode.NO_SUCH_USER, {"user": "zed\x1b"}, "There is no user named zed\u241b."),
        (ErrorCode.NO_SUCH_USER, {}, "There is no such user."),
        (ErrorCode.FORBIDDEN, {"action": "topic", "room": "ops"},
         "Only the owner and operators of #ops can set its topic."),
        (ErrorCode.FORBIDDEN, {}, "You are not allowed to do that: server says no."),
        (ErrorCode.TOO_MANY_ROOMS, {"action": "join", "room": "x"},
         "You are in too many rooms already; /leave one first."),
        (ErrorCode.INVALID_ROOM, {"action": "join"}, "That is not a room name: server says no."),
        (ErrorCode.RATE_LIMITED, {"action": "join", "room": "x"},
         "You have created many rooms lately; try again in 2 minutes."),
        (ErrorCode.RATE_LIMITED, {"action": "send"}, "You are sending too fast; try again in 2 minutes."),
        (ErrorCode.RATE_LIMITED, {"action": "dm"}, "You are sending too fast; try again in 2 minutes."),
        (ErrorCode.SERVER_ERROR, {"action": "who"},
         "The server could not handle that request; please try again."),
    ],
)
def test_refusals_are_sentences(code: str, options: dict[str, str], sentence: str) -> None:
    assert sentences.describe_refusal(code, "server says no.", 95.0, **options) == sentence


def test_local_time_of_a_last_seen() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert sentences.local_time(datetime(2026, 11, 26, 9, 5, tzinfo=UTC), TZ, now) == "today at 11:05"
    assert sentences.local_time(datetime(2026, 11, 25, 9, 5, tzinfo=UTC), TZ, now) == "yesterday at 11:05"
    assert sentences.local_time(datetime(2026, 11, 2, 22, 30, tzinfo=UTC), TZ, now) == "2026-11-03 00:30"


def test_user_info() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    online = UserInfo(username="bob", online=True, member_since="2026-01-02T03:04:05.000Z", away="lunch",
                      rooms_in_common=["general", "rust"])
    assert sentences.user_info_text(online, tz=TZ, now=now).splitlines() == [
        "bob is online, away: lunch.", "Member since 2026-01-02.", "Rooms in common: #general, #rust.",
    ]
    offline = UserInfo(username="bob", online=False, member_since="2026-01-02T03:04:05.000Z",
                       last_seen="2026-11-26T09:00:00.000Z")
    assert sentences.user_info_text(offline, tz=TZ, now=now).splitlines() == [
        "bob is offline, last seen today at 11:00.", "Member since 2026-01-02.", "No rooms in common.",
    ]


def test_who_and_room_list() -> None:
    users = [OnlineUser(username="alice"), OnlineUser(username="bob", away="brb \x07")]
    assert sentences.who_text("rust", users) == "Online in #rust (2): alice, bob (away: brb \u2407)"
    assert sentences.who_text("rust", []) == "Nobody is online in #rust."
    rooms = [
        RoomInfo(name="general", topic="", members=12, online=3, joined=True),
        RoomInfo(name="rust", topic="Rust \x1b[31mtalk", members=1, online=0, joined=False),
    ]
    assert sentences.room_list_text(rooms).splitlines() == [
        "Rooms (2; * = you are in it):",
        "* #general  12 members, 3 online",
        "  #rust     1 member, 0 online    Rust \u241b[31mtalk",
    ]
    assert "no rooms yet" in sentences.room_list_text([])


def test_history_start_line() -> None:
    line = lines.history_start_line("#rust")
    assert line.plain == "-- Beginning of the history of #rust --" and line.kind == "day"
