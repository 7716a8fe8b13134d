"""Writing the settings file: TOML made here (``tomllib`` only reads), saved atomically, mode 0600.

The file is written whole from a :class:`~.settings.Settings`: the keys whose
value differs from the default, then the unknown keys as they were read
(any TOML value: strings, numbers, dates, arrays, tables), so a setting of a
newer client survives ``/set`` here. A file that could not be read is moved
aside (``client.toml.broken``) before a new one replaces it.
"""

from __future__ import annotations

import datetime
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

from .private_file import write_private
from .settings import KEYS, Settings

HEADER = "# chatapp-client settings (docs/client.md lists them; /set changes them)\n"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def render(settings: Settings) -> str:
    """The file's text for ``settings``."""
    defaults = Settings()
    lines = [HEADER.rstrip("\n")]
    for key in KEYS:
        value = settings.value(key.name)
        if value != defaults.value(key.name):
            lines.append(f"{key.name} = {toml_value(value)}")
    for name, value in settings.unknown.items():
        lines.append(f"{toml_key(name)} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def save(settings: Settings, path: Path, *, broken: bool = False) -> Path | None:
    """Write ``settings`` to ``path``; a broken file there is first renamed. Returns that name, if any.

    Raises OSError.
    """
    aside: Path | None = None
    if broken and path.exists():
        aside = path.with_name(path.name + ".broken")
        os.replace(path, aside)
    write_private(path, render(settings))
    return aside


def toml_key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else toml_string(name)


def toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, the rest as is."""
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def toml_value(value: object) -> str:
    """Any value ``tomllib`` can give back (and the settings' tuples), in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        inner = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    raise TypeError(f"no TOML form for {type(value).__name__}")
