"""The windows' pure parts: links and their wrapping, the unread marker, window order and activity,
the ignore list and its file, the window commands' words, the bars' ellipsis."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chatapp.client.ui import actions, commands
from chatapp.client.ui.bars import fit, fragments_width
from chatapp.client.ui.chatlog import ChatLog
from chatapp.client.ui.ignores import (
    MAX_FILE,
    MAX_IGNORED,
    IgnoreList,
    ignore_file,
    read_ignores,
    write_ignores,
)
from chatapp.client.ui.lines import UNREAD_MARKER, Line, gutter_text, system_lines
from chatapp.client.ui.links import RecentLinks, find_links
from chatapp.client.ui.targets import HIGHLIGHTS, Targets
from chatapp.client.ui.width import width
from chatapp.client.ui.wrap import wrap

WHEN = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def plain(row: list[tuple[str, str]]) -> str:
    return "".join(text for _, text in row)


def test_links_are_found_without_the_punctuation_after_them() -> None:
    text = "see https://example.org/a_(b)). and (www.example.com/x?y=1), ftp://host.example/f.txt!"
    assert find_links(text) == ["https://example.org/a_(b)", "www.example.com/x?y=1", "ftp://host.example/f.txt"]
    assert find_links("no links: http:// or www. alone, or a.b") == []


def test_recent_links_are_kept_once_newest_last_up_to_the_limit() -> None:
    links = RecentLinks(limit=3)
    for n in range(5):
        links.saw(f"link https://e.org/{n}", "#rust", "bob")
    links.saw("again https://e.org/2", "@carol", "carol")
    assert [(link.url, link.where) for link in links] == [
        ("https://e.org/3", "#rust"), ("https://e.org/4", "#rust"), ("https://e.org/2", "@carol")
    ]


def test_a_wrapped_link_goes_on_in_column_zero_without_the_gutter() -> None:
    url = "https://example.org/" + "x" * 70
    line = system_lines(f"look at {url} now please", WHEN, tz=UTC)[0]
    rows = [plain(row) for row in wrap(line, 40)]
    assert rows[0] == "09:00 -!- look at"
    assert rows[1] == gutter_text(line.indent) + url[:30]  # the link starts under the text ...
    assert rows[2] == url[30:70]  # ... and goes on at the left edge, no "│"
    assert rows[3] == url[70:] + " now please"
    plain_text = system_lines("a long message without any link in it at all, wrapped", WHEN, tz=UTC)[0]
    assert all(row.startswith(gutter_text(plain_text.indent)) for row in map(plain, wrap(plain_text, 30)[1:]))


_WORD = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S")), min_size=1, max_size=12)
_URL = st.builds(lambda path: "https://example.org/" + path,
                 st.text(st.sampled_from("abc/-_.?=%0123456789\u00e9\u4e2d"), max_size=120))


@settings(max_examples=150)
@given(st.lists(_WORD | _URL, min_size=1, max_size=20), st.integers(12, 120))
def test_every_link_survives_wrapping_whole(words: list[str], columns: int) -> None:
    text = " ".join(words)
    line = system_lines(text, WHEN, tz=UTC)[0]
    rows = [plain(row) for row in wrap(line, columns)]
    joined = "".join(rows)
    for url in find_links(text):
        assert url in joined  # never a gutter inside a link
    for row in rows:
        assert width(row) <= columns or len(row) == 1


def test_the_unread_marker_goes_before_the_first_new_message() -> None:
    log = ChatLog()
    log.add_message(1, [Line((("", "one"),), kind="message")], WHEN)
    log.mark_unread(2)  # not armed: nothing
    log.add_message(2, [Line((("", "two"),), kind="message")], WHEN)
    log.arm_marker()
    log.append([Line((("", "a note"),))])
    log.mark_unread(1)  # a message shown already: no marker
    log.mark_unread(3)
    log.add_message(3, [Line((("", "three"),), kind="message")], WHEN)
    log.mark_unread(4)  # placed once
    log.add_message(4, [Line((("", "four"),), kind="message")], WHEN)
    assert [line.plain for line in log.lines] == ["one", "two", "a note", UNREAD_MARKER, "three", "four"]
    assert log.has_marker
    log.arm_marker()  # looked away again: the old marker goes
    assert UNREAD_MARKER not in [line.plain for line in log.lines] and not log.has_marker
    log.add_message(5, [Line((("", "late"),), kind="message")], WHEN)
    log.mark_unread(6)
    log.add_message(6, [Line((("", "six"),), kind="message")], WHEN)
    assert [line.plain for line in log.lines][-3:] == ["late", UNREAD_MARKER, "six"]  # (5 was added unmarked)


def test_window_numbers_activity_and_the_highlights_window() -> None:
    targets = Targets("general")
    rust, bob = targets.room("rust"), targets.dm("bob")
    view = targets.view(HIGHLIGHTS)
    assert [targets.number(t) for t in (targets.active, rust, bob, view)] == [1, 2, 3, 4]
    assert targets.resolve("4") is view and targets.resolve("*highlights") is view
    assert view.label == "*highlights"
    assert targets.with_activity() is None
    rust.unread = 3
    bob.unread = bob.mentions = 1
    assert targets.with_activity() is bob  # what names you first
    targets.activate(bob)
    assert targets.with_activity() is rust
    targets.activate(rust)
    assert targets.with_activity() is None


def test_the_ignore_list_and_its_file(tmp_path: Path) -> None:
    ignored = IgnoreList(["Bob", "carol"])
    assert "bob" in ignored and "BOB" in ignored and "dave" not in ignored
    assert not ignored.add("BOB") and list(ignored) == ["Bob", "carol"]
    assert ignored.remove("CAROL") and not ignored.remove("carol")
    path = ignore_file(tmp_path, "chat.example.org", 7777, "Alice")
    assert path == tmp_path / "ignore" / "chat.example.org_7777" / "alice"
    assert read_ignores(path) == []  # none yet
    write_ignores(path, ["Bob", "dave"])
    assert read_ignores(path) == ["Bob", "dave"]
    path.write_text("bob\n\nnot a name!\n" + "x" * 100 + "\n\u202ecarol\ndave\n")
    assert read_ignores(path) == ["bob", "dave"]  # what is not a username is skipped
    path.write_text("".join(f"user{n}\n" for n in range(MAX_IGNORED + 10)))
    assert len(read_ignores(path)) == MAX_IGNORED
    full = IgnoreList(read_ignores(path))
    assert not full.add("one_more")
    path.write_text("bob\n" + "x" * (2 * MAX_FILE))  # a huge file is read only so far
    assert read_ignores(path) == ["bob"]


def test_the_window_commands_words() -> None:
    assert commands.parse("/names") == actions.WhoIsOnline()
    assert commands.parse("/part #rust") == actions.LeaveTarget("#rust")
    assert commands.parse("/query @Bob") == actions.DirectMessage("Bob")
    assert isinstance(commands.parse("/query"), actions.BadUsage)
    assert commands.parse("/win 03") == actions.SwitchTarget("3")
    assert isinstance(commands.parse("/win rust"), actions.BadUsage)
    assert commands.parse("/close") == actions.CloseWindow()
    assert commands.parse("/windows") == actions.ListWindows()
    assert commands.parse("/ignore") == actions.IgnoreUser()
    assert commands.parse("/ignore bob") == actions.IgnoreUser("bob")
    assert commands.parse("/unignore @bob") == actions.IgnoreUser("bob", unignore=True)
    assert isinstance(commands.parse("/unignore"), actions.BadUsage)
    assert isinstance(commands.parse("/ignore bad!name"), actions.BadUsage)
    assert commands.parse("/lastlog  deploy went ") == actions.Lastlog("deploy went")
    assert isinstance(commands.parse("/lastlog"), actions.BadUsage)
    assert isinstance(commands.parse("/lastlog " + "x" * 201), actions.BadUsage)
    assert commands.parse("/url") == actions.ListLinks()
    nick = commands.parse("/nick bobby")
    assert isinstance(nick, actions.UnknownCommand)
    assert commands.unknown_hint(nick).startswith("/nick is an IRC command; here chatapp has no nicknames")
    hint = commands.unknown_hint(actions.UnknownCommand("qiut", "/quit"))
    assert hint.startswith("Unknown command /qiut. Did you mean /quit?")


def test_a_bar_too_wide_ends_in_an_ellipsis() -> None:
    parts = [("", " "), ("class:title.room", "#rust"), ("", " \u2014 a topic \u4e2d\u6587 and more")]
    assert fit(parts, 100) == parts
    for columns in range(1, 30):
        cut = fit(parts, columns)
        assert fragments_width(cut) <= columns
        if fragments_width(parts) > columns:
            assert cut[-1] == ("", "\u2026")
