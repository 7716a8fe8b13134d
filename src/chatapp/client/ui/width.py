"""How many terminal columns text takes, measured as prompt_toolkit measures it when it draws.

``wcwidth`` per character, a control character counting 0 (wcwidth says -1):
exactly prompt_toolkit's ``get_cwidth`` for every code point, without importing
prompt_toolkit into the pure modules that build lines.
"""

from __future__ import annotations

import functools

from wcwidth import wcwidth


@functools.lru_cache(maxsize=4096)
def char_width(char: str) -> int:
    return max(0, wcwidth(char))


def width(text: str) -> int:
    return sum(char_width(char) for char in text)
