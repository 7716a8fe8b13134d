"""A transfer's progress as numbers and as one line of text: done, speed, time left, a bar. Pure.

:class:`Progress` is fed the bytes done and the time (the caller's clock), and
keeps a speed smoothed over the last few seconds (a sliding window of
samples, so a stall shows at once and an old burst is forgotten).
:func:`progress_line` draws it: ``report.pdf  [#######.....]  58%  12.1 MiB/20.0 MiB  3.2 MiB/s  3 s left``.
"""

from __future__ import annotations

import collections
import dataclasses
import math

WINDOW_SECONDS = 3.0
"""The speed is measured over this much of the latest history."""
BAR_WIDTH = 20


def human_size(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``20.0 MiB``, ``1.2 GiB``."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """``4 s``, ``2 min 5 s``, ``1 h 3 min``."""
    whole = max(0, math.ceil(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


@dataclasses.dataclass(slots=True)
class Progress:
    """How far a transfer of ``total`` bytes is, and how fast it goes."""

    total: int
    done: int = 0
    started_at: int = 0
    """Bytes already there when this run began (a resumed transfer): not counted in the speed."""
    _samples: collections.deque[tuple[float, int]] = dataclasses.field(default_factory=collections.deque)

    def update(self, done: int, now: float) -> None:
        self.done = done
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[1][0] >= WINDOW_SECONDS:
            self._samples.popleft()

    @property
    def fraction(self) -> float:
        return 1.0 if self.total <= 0 else min(1.0, self.done / self.total)

    @property
    def speed(self) -> float | None:
        """Bytes per second over the window; None until two samples are far enough apart."""
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        if t1 - t0 <= 0.05:
            return None
        return (b1 - b0) / (t1 - t0)

    @property
    def seconds_left(self) -> float | None:
        speed = self.speed
        if speed is None or speed <= 0:
            return None
        return (self.total - self.done) / speed


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    filled = min(width, int(fraction * width))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def progress_line(label: str, progress: Progress) -> str:
    """One line about a transfer, ``label`` first (already sanitised by the caller)."""
    parts = [label, bar(progress.fraction), f"{int(progress.fraction * 100):3d}%",
             f"{human_size(progress.done)}/{human_size(progress.total)}"]
    speed = progress.speed
    if speed is not None:
        parts.append(f"{human_size(int(speed))}/s")
    left = progress.seconds_left
    if left is not None and progress.done < progress.total:
        parts.append(f"{human_duration(left)} left")
    return "  ".join(parts)
