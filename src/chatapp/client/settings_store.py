"""The settings of this run: the current :class:`~.settings.Settings`, where they are saved, who follows them.

``/set`` calls :meth:`SettingsStore.change`; the parts that apply a setting
(the screen's colours and mouse, message times, the input history's size,
chat logs) either read :attr:`SettingsStore.current` when they need it or
:meth:`~SettingsStore.follow` it to be told at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from .settings import Loaded, Settings
from .settings_file import save

log = logging.getLogger("chatapp.client.settings")


class SettingsStore:
    """``path`` None: changes apply to this run only (nothing is saved)."""

    def __init__(self, loaded: Loaded | None = None, path: Path | None = None) -> None:
        loaded = loaded or Loaded(Settings())
        self.current = loaded.settings
        self.problems = loaded.problems
        self.path = path
        self._broken = loaded.broken
        self._followers: list[Callable[[Settings], None]] = []

    def follow(self, apply: Callable[[Settings], None]) -> None:
        """Call ``apply`` with the settings now and after every change."""
        self._followers.append(apply)
        apply(self.current)

    def change(self, name: str, value: object) -> str:
        """Set one key, apply it, save the file; returns where it went. Raises OSError (applied anyway)."""
        self.current = self.current.with_value(name, value)
        for apply in self._followers:
            apply(self.current)
        if self.path is None:
            return "for this run only: there is no settings file"
        aside = save(self.current, self.path, broken=self._broken)
        self._broken = False
        if aside is not None:
            log.warning("the unreadable settings file was moved to %s", aside)
            return f"saved in {self.path}; the unreadable file there is now {aside}"
        return f"saved in {self.path}"
