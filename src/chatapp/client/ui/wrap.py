"""Wrapping a line into rows of the message pane. Pure functions, no I/O.

Rows after the first start under the text (a :func:`gutter`), so a wrapped
message can never pass for a new one; except where a link goes on from the
row before, which continues in column 0 without the gutter, so that the
terminal's selection (and its link detection) sees the link whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from .lines import Fragments, Line, gutter_text
from .links import link_spans
from .width import char_width


def gutter(indent: int) -> Fragments:
    """What starts a wrapped row or a continuation line: blanks up to the text column, and a bar."""
    if indent < 2:
        return []
    return [("class:gutter", gutter_text(indent))]


def wrap(line: Line, width: int) -> list[Fragments]:
    """Split a line into rows of at most ``width`` columns, breaking between words where possible.

    Rows after the first start with the :func:`gutter` of the line's indent,
    so wrapped text stays in the text column and can never look like a new
    message. When the terminal is too narrow for that, rows are not indented.
    The first row only breaks at spaces inside the text (never between the
    time, the name and the text).
    """
    if width <= 0:
        return [line.as_formatted()]
    indent = line.indent if 2 <= line.indent <= width // 2 else 0
    prefix = gutter(indent)
    cells = [(style, char, char_width(char)) for style, text in line.fragments for char in text]
    link = [0] * len(cells)  # which link (from 1) each cell is part of; 0: none
    for number, (begin, end) in enumerate(link_spans(line.plain), 1):
        link[begin:end] = [number] * (end - begin)
    rows: list[Fragments] = []
    start = 0
    first = True
    bare = False  # this row goes on with a link cut at the end of the row before
    while first or start < len(cells):
        capacity = width - (0 if first or bare else indent)
        used = 0
        index = start
        space = -1
        while index < len(cells):
            cell_width = cells[index][2]
            if used + cell_width > capacity:
                break
            if cells[index][1] == " " and (not first or used >= line.indent) and index > start:
                space = index
            used += cell_width
            index += 1
        if index < len(cells) and cells[index][1] == " " and (not first or used >= line.indent):
            end, resume = index, index + 1  # the row is full right before a space
        elif index < len(cells) and space > start:
            end, resume = space, space + 1  # break at the space; it disappears
        else:
            end = resume = index
        if end == start and start < len(cells):
            end = resume = start + 1  # a character wider than the row: show it anyway
        row: Fragments = [] if first or bare else list(prefix)
        rows.append(row + _merge(cells[start:end]))
        bare = 0 < end == resume < len(cells) and link[end] != 0 and link[end] == link[end - 1]
        start = resume
        first = False
    return rows


def _merge(cells: Sequence[tuple[str, str, int]]) -> Fragments:
    out: Fragments = []
    for style, char, _ in cells:
        if out and out[-1][0] == style:
            out[-1] = (style, out[-1][1] + char)
        else:
            out.append((style, char))
    return out
