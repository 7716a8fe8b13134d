from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatapp.client.ui.chatlog import ChatLog
from chatapp.client.ui.lines import Line
from chatapp.client.ui.pane import ChatLogControl


def lines(*texts: str, indent: int = 4) -> list[Line]:
    return [Line((("", text),), indent=indent) for text in texts]


def plain(log: ChatLog) -> list[str]:
    return [line.plain for line in log.lines]


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
    assert plain(log) == ["c", "d", "e"]
    assert log.anchor == 0


def test_day_change_marker() -> None:
    log = ChatLog(tz=UTC)
    day = datetime(2026, 11, 26, 23, 59, tzinfo=UTC)
    log.append(lines("late"), day)
    log.append(lines("later"), day + timedelta(seconds=30))
    log.append(lines("next day"), day + timedelta(minutes=2))
    assert plain(log) == ["late", "later", "-- Day changed to Friday, 27 November 2026 --", "next day"]


def test_clear() -> None:
    log = ChatLog()
    log.append(lines("a"))
    log.scroll_to(0)
    log.clear()
    assert plain(log) == [] and log.follow


def test_control_shows_log_then_extra_lines_with_cursor_at_the_end() -> None:
    log = ChatLog()
    log.append(lines("a", "b"))
    control = ChatLogControl(lambda: log, lambda: lines("pending"))
    content = control.create_content(40, 10)
    assert content.line_count == 3
    assert content.cursor_position.y == 2
    assert content.get_line(2) == [("", "pending")]


def test_long_lines_are_word_wrapped_under_the_text_column() -> None:
    log = ChatLog()
    log.append([Line((("t", "12:00 <bob> "), ("x", "alpha beta gamma delta")), indent=12)])
    control = ChatLogControl(lambda: log)
    assert rows(control, width=24) == ["12:00 <bob> alpha beta", "          \u2502 gamma delta"]


def test_paging_through_history() -> None:
    log = ChatLog()
    log.append(lines(*(f"line {n}" for n in range(30))))
    control = ChatLogControl(lambda: log)
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
    control = ChatLogControl(lambda: log)
    control.create_content(40, 10)
    control.page_up()
    assert log.follow


def test_wrap_cache_is_pruned() -> None:
    log = ChatLog(max_lines=10)
    control = ChatLogControl(lambda: log)
    for n in range(500):
        log.append(lines(f"l{n}"))
        control.create_content(40, 10)
    assert len(control._cache) < 300


def test_empty_control() -> None:
    empty = ChatLog()
    content = ChatLogControl(lambda: empty).create_content(40, 10)
    assert content.line_count == 0


def at(minute: int, day: int = 26) -> datetime:
    return datetime(2026, 11, day, 9, minute, tzinfo=UTC)


def test_messages_are_kept_in_id_order_and_once() -> None:
    log = ChatLog(tz=UTC)
    log.append(lines("note"))
    assert log.add_message(5, lines("m5"), at(5))
    assert log.add_message(9, lines("m9"), at(9))
    assert log.add_message(7, lines("m7"), at(7))  # late: goes to its place
    assert not log.add_message(9, lines("m9 again"), at(9))
    log.append(lines("later note"))
    assert log.add_message(8, lines("m8"), at(8))
    assert plain(log) == ["note", "m5", "m7", "m8", "m9", "later note"]
    assert (log.oldest_id, log.newest_id, log.message_count) == (5, 9, 4)
    assert 7 in log and 6 not in log


def test_prepend_puts_older_messages_on_top_without_moving_the_view() -> None:
    log = ChatLog(tz=UTC)
    log.append(lines("welcome"))
    for n in range(10, 20):
        log.add_message(n, lines(f"m{n}"), at(n))
    log.scroll_to(3)  # "m12" at the top of the pane
    assert log.lines[log.anchor].plain == "m12"
    added = log.prepend([(n, lines(f"m{n}"), at(n)) for n in range(5, 11)])  # 10 overlaps
    assert added == 5
    assert plain(log)[:7] == ["m5", "m6", "m7", "m8", "m9", "welcome", "m10"]
    assert log.lines[log.anchor].plain == "m12"  # still the same line on top
    assert log.unseen == 0
    assert log.prepend([(25, lines("m25"), at(25))]) == 1  # not older: goes to its place at the end
    assert plain(log)[-1] == "m25"


def test_day_changes_are_worked_out_around_inserted_messages() -> None:
    log = ChatLog(tz=UTC)
    log.add_message(10, lines("today"), at(0, day=27))
    log.prepend([(3, lines("yesterday"), at(0, day=26))])
    assert plain(log) == ["yesterday", "-- Day changed to Friday, 27 November 2026 --", "today"]
    log.add_message(11, lines("still today"), at(1, day=27))
    assert plain(log)[-1] == "still today" and len(plain(log)) == 4


def test_note_at_top_and_clear() -> None:
    log = ChatLog()
    log.add_message(1, lines("m1"), at(1))
    log.note_at_top(lines("-- beginning --"))
    assert plain(log) == ["-- beginning --", "m1"]
    log.clear()
    assert plain(log) == [] and log.oldest_id is None and log.newest_id is None
    assert log.add_message(1, lines("m1"), at(1))  # after a clear the same message may come back


def test_trimming_drops_the_oldest_messages() -> None:
    log = ChatLog(max_lines=20)
    for n in range(1, 31):
        log.add_message(n, lines(f"m{n}"), at(n % 60))
    assert len(log) <= 20
    assert log.newest_id == 30 and log.oldest_id == 30 - len(log) + 1
    assert plain(log)[-1] == "m30"


def test_page_up_after_older_messages_were_put_on_top() -> None:
    log = ChatLog()
    for n in range(20, 40):
        log.add_message(n, lines(f"m{n}"), None)
    control = ChatLogControl(lambda: log)
    control.create_content(40, 10)
    assert control.top_row() == 10 and not control.at_top()
    log.prepend([(n, lines(f"m{n}"), None) for n in range(0, 20)])
    log.page_up_pending = True
    control.create_content(40, 10)
    assert not log.follow and not log.page_up_pending
    assert control.top_row() == 21  # one page (9 rows) up from where the pane was (row 30 of 40)
    control.scroll_rows(-100)
    assert control.at_top()
