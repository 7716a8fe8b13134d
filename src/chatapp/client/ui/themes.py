"""The ``theme`` setting: the screen's colours for dark terminals, light ones, or none at all."""

from __future__ import annotations

from prompt_toolkit.output import ColorDepth
from prompt_toolkit.styles import BaseStyle, Style, merge_styles

from .bars import NICK_PALETTE, STYLE

LIGHT = Style.from_dict(
    {
        # Bright black and the bright colours fade into a white background: darker ones instead.
        "timestamp": "#606060",
        "nick.bracket": "#606060",
        "gutter": "#606060",
        "system": "#606060 italic",
        "system.day": "#606060",
        "pending": "#808080",
        "pending.marker": "#808080 italic",
        "removed": "#606060 italic",
        "room": "#606060",
        "status.mention": "bold #af5f00",
        "e2e.plain": "#af5f00",
        **{f"nick.{index}": colour.replace("ansibright", "ansi") for index, colour in enumerate(NICK_PALETTE)
           if colour.startswith("ansibright")},
    }
)


def theme_style(theme: str) -> BaseStyle:
    if theme == "light":
        return merge_styles([STYLE, LIGHT])
    return STYLE


def theme_depth(theme: str) -> ColorDepth | None:
    """``mono`` draws without colours (bold, reverse and italics stay); None: what the terminal has."""
    return ColorDepth.DEPTH_1_BIT if theme == "mono" else None
