"""The window keys of the chat screen, and the nick list pane (prompt_toolkit's side of :mod:`.windows`).

Alt-1 ... Alt-9 and Alt-0 go to windows 1 to 10, Alt-A to the next window
with activity (one that names you first), Alt-Left / Alt-Right to the
previous / next window (as Ctrl-N / Ctrl-P do, unless completing), Alt-N shows or hides the nick
list. A terminal sends
Alt-key as Escape then the key, which is how they are bound.
"""

from __future__ import annotations

from collections.abc import Callable

from prompt_toolkit.filters import Condition, has_completions
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.key_binding.key_bindings import KeyHandlerCallable
from prompt_toolkit.layout import ConditionalContainer, Container, VSplit, Window
from prompt_toolkit.layout.controls import FormattedTextControl
from prompt_toolkit.utils import get_cwidth

from .model import ChatModel
from .targets import Target
from .windows import nick_rows

NICK_LIST_WIDTH = 18
"""Columns of the nick list pane (longer names are cut with an ellipsis)."""


def window_keys(chat: ChatModel, toggle_nick_list: Callable[[], None]) -> KeyBindings:
    kb = KeyBindings()

    def go_to(number: int) -> KeyHandlerCallable:
        def go(event: KeyPressEvent) -> None:
            target = chat.targets.resolve(str(number))
            if target is not None:
                chat.activate(target)

        return go

    for digit in "1234567890":
        kb.add("escape", digit)(go_to(int(digit) or 10))

    @kb.add("escape", "right")
    @kb.add("c-n", filter=~has_completions)  # the keys of the screen before window numbers
    def _right(event: KeyPressEvent) -> None:
        chat.activate(chat.targets.step(1))

    @kb.add("escape", "left")
    @kb.add("c-p", filter=~has_completions)
    def _left(event: KeyPressEvent) -> None:
        chat.activate(chat.targets.step(-1))

    @kb.add("escape", "a")
    def _activity(event: KeyPressEvent) -> None:
        target = chat.targets.with_activity()
        if target is not None:
            chat.activate(target)

    @kb.add("escape", "n")
    def _nick_list(event: KeyPressEvent) -> None:
        toggle_nick_list()

    return kb


def nick_list_pane(chat: ChatModel, shown: Callable[[], bool]) -> Container:
    """The nick list on the right of the message pane, behind a bar: while ``shown()`` and the active
    window is a room you are in."""
    return ConditionalContainer(
        VSplit([
            Window(width=1, char="\u2502", style="class:gutter"),
            Window(FormattedTextControl(lambda: nick_list_text(chat.active)), width=NICK_LIST_WIDTH,
                   style="class:nicklist", wrap_lines=False),
        ]),
        filter=Condition(lambda: shown() and bool(nick_rows(chat.active))),
    )


def nick_list_text(target: Target) -> StyleAndTextTuples:
    """The nick list pane: one name a row, cut with an ellipsis to the pane's width."""
    rows: StyleAndTextTuples = []
    for style, text in nick_rows(target):
        if get_cwidth(text) > NICK_LIST_WIDTH - 1:
            while text and get_cwidth(text) > NICK_LIST_WIDTH - 2:
                text = text[:-1]
            text += "\u2026"
        rows += [(style, " " + text), ("", "\n")]
    return rows
