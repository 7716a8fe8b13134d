"""Chat logs: each room and conversation written to a plain text file as it is shown (``logs`` setting).

Off by default. Files go to ``logs_dir/HOST_PORT/USER/`` (directories 0700,
files 0600): ``room-NAME.log`` and ``dm-NAME.log``, one line per line of a
message, ``2026-12-05 08:30:05 <alice> text`` in local time. Names are made
safe for any file system (only ``A-Z a-z 0-9 _ . -`` are kept, the rest
become ``_``); texts pass through :func:`~.sanitize.sanitize`, so a log holds
no terminal control characters and ``cat`` of it is as safe as the screen.
When a file passes ``logs_max_kib`` it is rotated: ``NAME.log`` becomes
``NAME.1.log`` (``.1`` becomes ``.2``, ... up to :data:`KEEP`).

End-to-end encrypted conversations are logged only with ``logs_encrypted``
on: a log on disk is in clear, which is what encrypting them avoids. Every
write happens in one worker thread, in order: the event loop never waits
for the disk.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, tzinfo
from pathlib import Path

from ..settings import Settings
from .sanitize import sanitize, split_text

log = logging.getLogger("chatapp.client.logfiles")
KEEP = 5
"""Rotated files kept per room or conversation, besides the current one."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe_name(name: str) -> str:
    """A room or user name as a file name: only ``A-Z a-z 0-9 _ . -``, never empty, ``.`` or ``..``."""
    safe = _UNSAFE.sub("_", name.casefold())[:64]
    return safe if safe.strip(".") else "_" + safe


def log_lines(when: datetime, sender: str, text: str, tz: tzinfo | None = None) -> str:
    """The lines a message adds to a log (each ending in a newline)."""
    stamp = when.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    who = sanitize(sender)
    return "".join(f"{stamp} <{who}> {sanitize(part)}\n" for part in split_text(text))


class LogFiles:
    """The chat logs of one account on one server; ``settings()`` is read at every message."""

    def __init__(self, settings: Callable[[], Settings], server: str, user: str, tz: tzinfo | None = None,
                 ) -> None:
        self._settings = settings
        self._where = Path(safe_name(server)) / safe_name(user)
        self._tz = tz
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatapp-logs")

    def path(self, kind: str, name: str) -> Path:
        """``kind``: ``room`` or ``dm``."""
        return self._settings().logs_path() / self._where / f"{kind}-{safe_name(name)}.log"

    def message(
        self, kind: str, name: str, when: datetime, sender: str, text: str, *, encrypted: bool
    ) -> None:
        """Log one message of the room or conversation ``name``, if the settings say so."""
        settings = self._settings()
        if not settings.logs or (encrypted and not settings.logs_encrypted):
            return
        self._writer.submit(self._write, self.path(kind, name), log_lines(when, sender, text, self._tz),
                            settings.logs_max_kib * 1024)

    def close(self) -> None:
        """Finish the writes queued so far (at exit)."""
        self._writer.shutdown(wait=True)

    @staticmethod
    def _write(path: Path, lines: str, limit: int) -> None:
        data = lines.encode("utf-8")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                size = 0
            if size and size + len(data) > limit:
                _rotate(path)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "ab") as file:
                file.write(data)
        except OSError as exc:
            log.warning("cannot write the chat log %s: %s", path, exc)


def _rotate(path: Path) -> None:
    stem = path.name.removesuffix(".log")
    for number in range(KEEP - 1, 0, -1):
        older = path.with_name(f"{stem}.{number}.log")
        if older.exists():
            os.replace(older, path.with_name(f"{stem}.{number + 1}.log"))
    os.replace(path, path.with_name(f"{stem}.1.log"))
