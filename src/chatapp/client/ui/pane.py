"""The message pane: the prompt_toolkit control that shows the active target's :class:`ChatLog`.

The control shows a log plus lines that are not in it yet (messages still
being sent). Lines are word-wrapped by the control itself (:func:`wrap`,
cached per line and width), so the pane works in rows: the Window does no
wrapping of its own and takes its scroll position from
:meth:`ChatLogControl.vertical_scroll`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence

from prompt_toolkit.data_structures import Point
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.layout.containers import Window
from prompt_toolkit.layout.controls import UIContent, UIControl
from prompt_toolkit.mouse_events import MouseEvent, MouseEventType

from .chatlog import ChatLog
from .lines import Fragments, Line
from .wrap import wrap

WHEEL_ROWS = 3
"""Rows one notch of the mouse wheel scrolls."""


class ChatLogControl(UIControl):
    """Shows the log ``source()`` followed by ``extra()`` lines (e.g. messages still being sent).

    ``source`` is asked at every use, so the pane shows whichever target is active.
    """

    def __init__(
        self, source: Callable[[], ChatLog], extra: Callable[[], Sequence[Line]] = lambda: (),
        at_top: Callable[[], None] = lambda: None,
    ) -> None:
        self.source = source
        self.extra = extra
        self.at_top_hook = at_top
        """Called when the wheel scrolls up with the first row in sight (to fetch older messages)."""
        self._starts: list[int] = []
        self._rows = 0
        self._height = 1
        self._cache: dict[int, tuple[Line, int, list[Fragments]]] = {}

    @property
    def log(self) -> ChatLog:
        return self.source()

    def is_focusable(self) -> bool:
        return False

    def _wrapped(self, line: Line, width: int) -> list[Fragments]:
        cached = self._cache.get(id(line))
        if cached is not None and cached[0] is line and cached[1] == width:
            return cached[2]
        rows = wrap(line, width)
        self._cache[id(line)] = (line, width, rows)
        return rows

    def create_content(self, width: int, height: int) -> UIContent:
        lines = [*self.log.lines, *self.extra()]
        if len(self._cache) > 2 * len(lines) + 256:
            keep = {id(line) for line in lines}
            self._cache = {key: value for key, value in self._cache.items() if key in keep}
        rows: list[Fragments] = []
        starts: list[int] = []
        for line in lines:
            starts.append(len(rows))
            rows.extend(self._wrapped(line, width))
        self._starts, self._rows, self._height = starts, len(rows), max(1, height)
        if self.log.page_up_pending:
            self.log.page_up_pending = False
            self.page_up()
        if not rows:
            return UIContent(line_count=0, show_cursor=False)
        y = len(rows) - 1 if self.log.follow else self.top_row()

        def get_line(index: int) -> StyleAndTextTuples:
            row: StyleAndTextTuples = [*rows[index]]  # only the rows in sight are asked for
            return row

        return UIContent(
            get_line=get_line, line_count=len(rows), cursor_position=Point(0, y), show_cursor=False
        )

    def top_row(self) -> int:
        """The row at the top of the pane (as of the last render)."""
        bottom = max(0, self._rows - self._height)
        if self.log.follow or not self._starts:
            return bottom
        index = min(self.log.anchor, len(self._starts) - 1)
        return min(self._starts[index] + self.log.anchor_row, bottom)

    def vertical_scroll(self, window: Window) -> int:
        """For ``Window(get_vertical_scroll=...)``: the pane decides its own scroll position."""
        return self.top_row()

    def scroll_rows(self, delta: int) -> None:
        """Move the view by ``delta`` rows (negative: back in time); the end resumes following."""
        if not self._starts or self._rows <= self._height:
            return
        top = self.top_row() + delta
        if top >= self._rows - self._height:
            self.log.scroll_to_end()
            return
        top = max(0, top)
        index = bisect.bisect_right(self._starts, top) - 1
        if index >= len(self.log.lines):  # inside the extra lines at the end
            self.log.scroll_to_end()
            return
        self.log.scroll_to(index, top - self._starts[index])

    def at_top(self) -> bool:
        """The first row is in sight (as of the last render): PageUp can show nothing older."""
        return self.top_row() == 0

    def page_up(self) -> None:
        self.scroll_rows(-max(1, self._height - 1))

    def page_down(self) -> None:
        self.scroll_rows(max(1, self._height - 1))

    def mouse_handler(self, mouse_event: MouseEvent) -> None:
        """The mouse wheel scrolls the pane (when mouse support is on); at the top it fetches older
        messages, as PageUp does."""
        if mouse_event.event_type is MouseEventType.SCROLL_UP:
            if self.at_top():
                self.at_top_hook()
            else:
                self.scroll_rows(-WHEEL_ROWS)
        elif mouse_event.event_type is MouseEventType.SCROLL_DOWN:
            self.scroll_rows(WHEEL_ROWS)

    def move_cursor_up(self) -> None:
        self.scroll_rows(-1)

    def move_cursor_down(self) -> None:
        self.scroll_rows(1)
