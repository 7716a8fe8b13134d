"""``/ignore``: the people whose messages this client does not show, kept in a file across restarts.

Client-side only (the server still delivers; nobody is told): room messages
and direct messages from an ignored name are dropped before they reach a
pane, live, replayed or in history pages. The list is per server and account,
one name a line, in ``ignore/HOST_PORT/USER`` under the client's data
directory (beside the end-to-end keys in ``e2e/``). :class:`IgnoreList` is
pure; reading and writing the file are the two functions below, which the
screen runs in an executor (file I/O never blocks the event loop).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from chatapp.protocol import ProtocolError
from chatapp.protocol.rules import check_username

MAX_IGNORED = 500
"""At most this many names (a file is read only up to this many valid lines)."""
MAX_FILE = 64 * 1024
"""Bytes of the file read at most (500 names of 32 characters fit many times)."""


def ignore_file(base: Path, host: str, port: int, username: str) -> Path:
    """Where one account's ignore list for one server lives under the data directory ``base``."""
    server = re.sub(r"[^A-Za-z0-9.-]", "_", f"{host}_{port}")
    return base / "ignore" / server / username.lower()


class IgnoreList:
    """Names ignored, matched ignoring case (as the server matches usernames), kept as typed."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names: dict[str, str] = {}
        for name in names:
            self.add(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.casefold() in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._names.values(), key=str.casefold))

    def __len__(self) -> int:
        return len(self._names)

    def add(self, name: str) -> bool:
        """False when ``name`` was ignored already or the list is full."""
        key = name.casefold()
        if key in self._names or len(self._names) >= MAX_IGNORED:
            return False
        self._names[key] = name
        return True

    def remove(self, name: str) -> bool:
        return self._names.pop(name.casefold(), None) is not None


def read_ignores(path: Path) -> list[str]:
    """The names in the file (blocking); lines that are not usernames are skipped, a missing file is empty."""
    try:
        with path.open("rb") as source:
            text = source.read(MAX_FILE).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    names: list[str] = []
    for line in text.splitlines()[: MAX_IGNORED * 2]:
        name = line.strip()
        try:
            check_username(name)
        except ProtocolError:
            continue
        names.append(name)
    return names[:MAX_IGNORED]


def write_ignores(path: Path, names: Iterable[str]) -> None:
    """Replace the file with ``names`` (blocking): written whole to a temporary file, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".ignore-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.writelines(f"{name}\n" for name in names)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
