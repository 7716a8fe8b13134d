"""Input history kept across restarts: one file per server, size-limited, never holding a password.

The file (``history/HOST_PORT`` under the user state directory, mode 0600)
holds one JSON string per line, oldest first, so a line typed with Alt-Enter
stays one entry. It is read in a thread before the chat screen opens
(:func:`open_history`, so Up works from the first key) and every write goes
to one worker thread in order: the event loop never waits for the disk.
The file is cut back to the newest ``history_size`` lines when it has grown
past twice that.

Passwords never get here: the answers to the chat screen's hidden prompts
are taken out of the input line before prompt_toolkit stores it
(:meth:`~chatapp.client.ui.screen.ChatScreen._accept`), the sign-in dialogue
has its own history in memory, and :func:`keep` refuses ``/passwd`` lines
anyway (it is the one command whose next lines are secrets).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import platformdirs
from prompt_toolkit.history import History

from .private_file import write_private

log = logging.getLogger("chatapp.client.history")
MAX_ENTRY = 16 * 1024
"""A longer input line (a big paste) is not kept: history is for what people type again."""


def history_path(host: str, port: int, base: Path | None = None) -> Path:
    """The history file of one server (the name made safe for any file system)."""
    root = base or platformdirs.user_state_path("chatapp", appauthor=False)
    return root / "history" / re.sub(r"[^A-Za-z0-9.-]", "_", f"{host}_{port}")


def keep(text: str) -> bool:
    """Whether a typed line may be written to the history file."""
    command = text.lstrip().split(maxsplit=1)[0].lower() if text.strip() else ""
    return bool(text.strip()) and len(text) <= MAX_ENTRY and command != "/passwd"


class SavedHistory(History):
    """The history of one server in ``path``; ``limit()`` is the ``history_size`` setting (0: keep none)."""

    def __init__(self, path: Path, limit: Callable[[], int]) -> None:
        super().__init__()
        self.path = path
        self._limit = limit
        self._lines = 0
        """Entries in the file, as far as this process knows (to cut it back in time)."""
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatapp-history")
        self._preloaded: list[str] | None = None

    def preload(self) -> None:
        """Read the file now (blocking: in a thread), so that loading into the input line is instant."""
        self._preloaded = list(self._load())

    def load_history_strings(self) -> Iterable[str]:
        if self._preloaded is not None:
            return self._preloaded
        return self._load()

    def _load(self) -> list[str]:
        entries = self._read()
        limit = self._limit()
        if len(entries) > limit:
            entries = entries[len(entries) - limit:] if limit else []
            self._writer.submit(self._rewrite, entries)
        self._lines = len(entries)
        return list(reversed(entries))

    def store_string(self, string: str) -> None:
        if keep(string):
            self._writer.submit(self._append, string)

    def close(self, wait: bool = True) -> None:
        """Finish the writes queued so far (at exit)."""
        self._writer.shutdown(wait=wait)

    # -- in the worker thread -------------------------------------------------------------------------

    def _append(self, string: str) -> None:
        limit = self._limit()
        try:
            if limit == 0:
                if self.path.exists():
                    self._rewrite([])
                return
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as file:
                file.write(json.dumps(string) + "\n")
            self._lines += 1
            if self._lines > 2 * limit:
                entries = self._read()[-limit:]
                self._rewrite(entries)
        except OSError as exc:
            log.warning("cannot write the input history %s: %s", self.path, exc)

    def _read(self) -> list[str]:
        try:
            raw = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.warning("cannot read the input history %s: %s", self.path, exc)
            return []
        entries: list[str] = []
        for line in raw.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash: the rest is still good
            if isinstance(entry, str):
                entries.append(entry)
        return entries

    def _rewrite(self, entries: list[str]) -> None:
        try:
            write_private(self.path, "".join(json.dumps(entry) + "\n" for entry in entries))
            self._lines = len(entries)
        except OSError as exc:
            log.warning("cannot write the input history %s: %s", self.path, exc)


async def open_history(path: Path, limit: Callable[[], int]) -> SavedHistory:
    """The history of one server, read already (in a thread); close it at exit."""
    saved = SavedHistory(path, limit)
    await asyncio.to_thread(saved.preload)
    return saved
