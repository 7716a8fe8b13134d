"""Splitting a bracketed paste into lines (ui/paste.py), for any text: hypothesis, as for every parser."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chatapp.client.ui.paste import paste_lines, pasted
from tests.client.test_state import Chat

TEXT = st.lists(st.sampled_from(["a", "b", " ", "\n", "\r", "\r\n", "/", "é"]), max_size=40).map("".join)


@given(TEXT)
def test_lines_hold_no_line_end_and_keep_every_character_in_order(data: str) -> None:
    lines = paste_lines(data)
    assert not any("\n" in line or "\r" in line for line in lines)
    normalised = data.replace("\r\n", "\n").replace("\r", "\n")
    assert "\n".join(lines) in normalised
    if lines:
        assert lines[0].strip() and lines[-1].strip()  # blank lines at either end are dropped
    # Nothing but blank lines and line ends is lost.
    assert "".join(lines).replace(" ", "") == normalised.replace("\n", "").replace(" ", "")


@given(TEXT)
def test_a_question_only_for_several_lines_into_an_empty_input(data: str) -> None:
    chat = Chat()
    inserted = pasted(chat.state, data, input_empty=True)
    several = len(paste_lines(data)) >= 2
    assert (inserted is None) == several == (chat.state.dialogue is not None)
    chat.state.dialogue = None
    assert pasted(chat.state, data, input_empty=False) is not None and chat.state.dialogue is None
