"""Making untrusted text safe to show. Pure functions, no I/O.

Everything that came from the network passes through :func:`sanitize` before it
reaches the terminal: message texts, usernames, error messages, bye reasons,
the server's name. The rules (also in docs/client.md):

- C0 controls (U+0000-U+001F) and DEL become their Unicode *control pictures*
  (ESC shows as ``␛``, BEL as ``␇``, CR as ``␍``, BS as ``␈``), so an escape
  sequence arrives inert but visible. TAB becomes spaces. A newline never
  reaches :func:`sanitize`: :func:`split_text` splits the text on it first, and
  the lines of a message show the rest as indented continuation lines.
- C1 controls (U+0080-U+009F, e.g. the 8-bit CSI U+009B) are shown the way vim
  shows them, ``<9b>``.
- Unicode format characters (category Cf: bidi embeddings, overrides,
  isolates and marks, invisible tag characters, soft hyphens, ...) are removed,
  except the zero-width joiner and non-joiner that emoji and many scripts need.
  Line and paragraph separators become spaces; lone surrogates become U+FFFD.
- Runs of combining marks are capped, so "zalgo" text cannot paint over the
  lines above and below.
"""

from __future__ import annotations

import unicodedata

TAB = "    "
MAX_COMBINING = 4
"""Combining marks kept after one base character (more are dropped)."""

_KEEP_FORMAT = frozenset({"\u200c", "\u200d"})  # ZWNJ, ZWJ


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        table[code] = chr(0x2400 + code)  # control pictures: ␀ .. ␟
    table[0x09] = TAB
    table[0x7F] = "\u2421"  # ␡
    for code in range(0x80, 0xA0):
        table[code] = f"<{code:02x}>"
    return table


_TABLE = _build_table()


def sanitize(text: str) -> str:
    """Make one line of untrusted text safe to show: nothing in it can control the terminal.

    The result contains no C0 or C1 control character (no ESC, CR, BS, BEL,
    CSI, ...), no bidi control or other invisible format character except
    ZWJ/ZWNJ, no line separator and no lone surrogate.
    """
    if text.isascii():
        if text.isprintable():
            return text
        return text.translate(_TABLE)
    out: list[str] = []
    combining = 0
    for char in text:
        code = ord(char)
        mapped = _TABLE.get(code)
        if mapped is not None:
            out.append(mapped)
            combining = 0
            continue
        category = unicodedata.category(char)
        if category == "Cf":
            if char in _KEEP_FORMAT:
                out.append(char)
            continue
        if category == "Cs":
            out.append("\ufffd")
            combining = 0
        elif category in ("Zl", "Zp"):
            out.append(" ")
            combining = 0
        elif category in ("Mn", "Me"):
            combining += 1
            if combining <= MAX_COMBINING:
                out.append(char)
        else:
            out.append(char)
            combining = 0
    return "".join(out)


def split_text(text: str) -> list[str]:
    """The lines of a message text, each sanitised.

    Only ``\\n`` (or ``\\r\\n``) separates lines; a bare CR stays visible as
    ``␍``. Trailing empty lines are dropped; an empty text gives one empty line.
    """
    parts = text.replace("\r\n", "\n").split("\n")
    while len(parts) > 1 and not parts[-1].strip():
        parts.pop()
    return [sanitize(part) for part in parts]
