from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatapp.client.render import Line
from chatapp.client.view import ChatLog, ChatLogControl


def lines(*texts: str, indent: int = 4) -> list[Line]:
    return [Line((("", text),), indent=indent) for text in texts]


def rows(control: ChatLogControl, width: int = 40, height: int = 10) -> list[str]:
    content = control.create_content(width, height)
    return ["".join(text for _, text in content.get_line(i)) for i in range(content.line_count)]


def test_log_follows_until_scrolled_up() -> None:
    log = ChatLog()
    log.append(lines("a", "b", "c"))
    assert log.follow and log.unseen == 0
    log.scroll_to(1)
    assert not log.follow and log.anchor == 1
    log.append(lines("d", "e"))
    assert log.unseen == 2
    log.scroll_to_end()
    assert log.follow and log.unseen == 0


def test_log_is_bounded() -> None:
    log = ChatLog(max_lines=3)
    log.append(lines("a", "b"))
    log.scroll_to(1)
    log.append(lines("c", "d", "e"))
    assert log.plain() == ["c", "d", "e"]
    assert log.anchor == 0


def test_day_change_marker() -> None:
    log = ChatLog(tz=UTC)
    day = datetime(2026, 11, 26, 23, 59, tzinfo=UTC)
    log.append(lines("late"), day)
    log.append(lines("later"), day + timedelta(seconds=30))
    log.append(lines("next day"), day + timedelta(minutes=2))
    assert log.plain() == ["late", "later", "-- Day changed to Friday, 27 November 2026 --", "next day"]


def test_clear() -> None:
    log = ChatLog()
    log.append(lines("a"))
    log.scroll_to(0)
    log.clear()
    assert log.plain() == [] and log.follow


def test_control_shows_log_then_extra_lines_with_cursor_at_the_end() -> None:
    log = ChatLog()
    log.append(lines("a", "b"))
    control = ChatLogControl(log, lambda: lines("pending"))
    content = control.create_content(40, 10)
    assert content.line_count == 3
    assert content.cursor_position.y == 2
    assert content.get_line(2) == [("", "pending")]


def test_long_lines_are_word_wrapped_under_the_text_column() -> None:
    log = ChatLog()
    log.append([Line((("t", "12:00 <bob> "), ("x", "alpha beta gamma delta")), indent=12)])
    control = ChatLogControl(log)
    assert rows(control, width=24) == ["12:00 <bob> alpha beta", "          \u2502 gamma delta"]


def test_paging_through_history() -> None:
    log = ChatLog()
    log.append(lines(*(f"line {n}" for n in range(30))))
    control = ChatLogControl(log)
    assert control.create_content(40, 10).line_count == 30
    assert control.top_row() == 20
    control.page_up()
    assert not log.follow and control.top_row() == 11
    assert control.create_content(40, 10).cursor_position.y == 11
    control.page_up()
    control.page_up()
    control.page_up()
    assert control.top_row() == 0
    control.page_down()
    assert control.top_row() == 9
    log.append(lines("new"))
    assert log.unseen == 1
    control.create_content(40, 10)
    assert control.top_row() == 9  # stays put while new lines arrive
    control.page_down()
    control.page_down()
    assert log.follow and log.unseen == 0


def test_paging_is_a_no_op_when_everything_fits() -> None:
    log = ChatLog()
    log.append(lines("a", "b"))
    control = ChatLogControl(log)
    control.create_content(40, 10)
    control.page_up()
    assert log.follow


def test_wrap_cache_is_pruned() -> None:
    log = ChatLog(max_lines=10)
    control = ChatLogControl(log)
    for n in range(500):
        log.append(lines(f"l{n}"))
        control.create_content(40, 10)
    assert len(control._cache) < 300


def test_empty_control() -> None:
    content = ChatLogControl(ChatLog()).create_content(40, 10)
    assert content.line_count == 0
