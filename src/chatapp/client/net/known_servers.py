"""The known-servers file: the certificate fingerprints the user chose to trust, like SSH's known_hosts.

One entry a line, ``host:port SHA256:AB:CD:...`` (IPv6 hosts in brackets,
``[::1]:7778``); blank lines and lines starting with ``#`` are kept and
ignored, and so is a line that does not parse (it is reported by line number
when it is the one for the server being checked, never rewritten away). The
file lives in the client's data directory, is written whole to a temporary
file in the same directory and renamed over the old one (a crash never leaves
half a file), with mode 0600.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from pathlib import Path

import platformdirs

from chatapp.fingerprint import parse_fingerprint

MAX_FILE = 1024 * 1024
"""A known-servers file larger than this is not read (it is not one a person keeps)."""


def default_path() -> Path:
    return platformdirs.user_data_path("chatapp", appauthor=False) / "known_servers"


@dataclasses.dataclass(frozen=True, slots=True)
class KnownEntry:
    fingerprint: str
    line: int
    """Its line number in the file, from 1 (for the message that says which line to remove)."""


class KnownServers:
    """The file at ``path``: read on every lookup (another client may have added to it)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def _lines(self) -> list[str]:
        try:
            with self.path.open("rb") as file:
                data = file.read(MAX_FILE + 1)
        except FileNotFoundError:
            return []
        if len(data) > MAX_FILE:
            raise OSError(f"{self.path} is larger than {MAX_FILE} bytes")
        return data.decode("utf-8", errors="replace").splitlines()

    def lookup(self, address: str) -> KnownEntry | None:
        """The first entry for ``address`` (``host:port``), or None. Raises OSError if unreadable."""
        for number, line in enumerate(self._lines(), start=1):
            fields = line.split()
            if len(fields) != 2 or fields[0] != address or line.lstrip().startswith("#"):
                continue
            return KnownEntry(parse_fingerprint(fields[1]) or "(unreadable)", number)
        return None

    def add(self, address: str, fingerprint: str) -> int:
        """Append ``address fingerprint``, atomically, mode 0600; returns its line number."""
        lines = self._lines()
        lines.append(f"{address} {fingerprint}")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(prefix=".known_servers.", dir=self.path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write("\n".join(lines) + "\n")
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return len(lines)
