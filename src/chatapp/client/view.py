"""The message pane: a scroll-back buffer of rendered lines and the control that shows it.

:class:`ChatLog` is the model (lines, scroll position, unseen count), free of
prompt_toolkit's layout; :class:`ChatLogControl` shows a log (plus lines that
are not in it yet, such as unacknowledged messages) in a ``Window``. When rooms
arrive each room gets its own :class:`ChatLog` and the window shows the active
one.

Lines are word-wrapped by the control itself (:func:`render.wrap`, cached per
line and width), so the pane works in rows: the Window does no wrapping of its
own and takes its scroll position from :meth:`ChatLogControl.vertical_scroll`.

Scrolling works like a terminal chat client: the pane follows new lines until
the user scrolls up (PageUp); then it stays put and counts what arrived below,
until the user scrolls back down to the end.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from datetime import date, datetime, tzinfo

from prompt_toolkit.data_structures import Point
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.layout.containers import Window
from prompt_toolkit.layout.controls import UIContent, UIControl

from .render import Line, day_change_line, wrap


class ChatLog:
    """The lines of one conversation, oldest first, with a bounded length."""

    def __init__(self, *, max_lines: int = 5000, tz: tzinfo | None = None) -> None:
        self.lines: list[Line] = []
        self.max_lines = max_lines
        self.tz = tz
        self.follow = True
        """Keep the newest line in sight (False after scrolling up)."""
        self.anchor = 0
        """While not following: the line at the top of the pane ..."""
        self.anchor_row = 0
        """... and which of its rows (when it is wrapped)."""
        self.unseen = 0
        """Lines added below while not following."""
        self._day: date | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def append(self, lines: Sequence[Line], when: datetime | None = None) -> None:
        """Add lines; ``when`` (the message time) adds a day-change line first when the day differs."""
        if when is not None:
            day = when.astimezone(self.tz).date()
            if self._day is not None and day != self._day:
                self._add([day_change_line(when, self.tz)])
            self._day = day
        self._add(lines)

    def _add(self, lines: Sequence[Line]) -> None:
        self.lines.extend(lines)
        if not self.follow:
            self.unseen += len(lines)
        excess = len(self.lines) - self.max_lines
        if excess > 0:
            del self.lines[:excess]
            if self.anchor < excess:
                self.anchor, self.anchor_row = 0, 0
            else:
                self.anchor -= excess

    def clear(self) -> None:
        self.lines.clear()
        self.scroll_to_end()

    def scroll_to(self, index: int, row: int = 0) -> None:
        """Show line ``index`` (its ``row``-th row) at the top of the pane and stop following."""
        self.follow = False
        self.anchor = max(0, min(index, len(self.lines) - 1))
        self.anchor_row = max(0, row)

    def scroll_to_end(self) -> None:
        self.follow = True
        self.anchor = self.anchor_row = 0
        self.unseen = 0

    def plain(self) -> list[str]:
        """The text of every line, without styles (for tests and logs)."""
        return [line.plain for line in self.lines]


class ChatLogControl(UIControl):
    """Shows a :class:`ChatLog` followed by ``extra()`` lines (e.g. messages still being sent)."""

    def __init__(self, log: ChatLog, extra: Callable[[], Sequence[Line]] = lambda: ()) -> None:
        self.log = log
        self.extra = extra
        self._snapshot: list[Line] = []
        self._starts: list[int] = []
        self._rows = 0
        self._height = 1
        self._cache: dict[int, tuple[Line, int, list[StyleAndTextTuples]]] = {}

    def is_focusable(self) -> bool:
        return False

    def snapshot(self) -> list[Line]:
        """The lines shown by the last render."""
        return self._snapshot

    def _wrapped(self, line: Line, width: int) -> list[StyleAndTextTuples]:
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
        rows: list[StyleAndTextTuples] = []
        starts: list[int] = []
        for line in lines:
            starts.append(len(rows))
            rows.extend(self._wrapped(line, width))
        self._snapshot, self._starts, self._rows, self._height = lines, starts, len(rows), max(1, height)
        if not rows:
            return UIContent(line_count=0, show_cursor=False)
        y = len(rows) - 1 if self.log.follow else self.top_row()

        def get_line(index: int) -> StyleAndTextTuples:
            return rows[index]

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

    def page_up(self) -> None:
        self.scroll_rows(-max(1, self._height - 1))

    def page_down(self) -> None:
        self.scroll_rows(max(1, self._height - 1))

    def move_cursor_up(self) -> None:  # mouse wheel, when mouse support is on
        self.scroll_rows(-1)

    def move_cursor_down(self) -> None:
        self.scroll_rows(1)
