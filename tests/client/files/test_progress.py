"""Progress numbers and the progress line."""

from __future__ import annotations

from chatapp.client.files.progress import Progress, human_duration, human_size, progress_line


def test_sizes_and_durations() -> None:
    assert human_size(512) == "512 B"
    assert human_size(20 * 1024 * 1024) == "20.0 MiB"
    assert human_duration(4.2) == "5 s"
    assert human_duration(125) == "2 min 5 s"


def test_speed_and_time_left_from_the_recent_window() -> None:
    progress = Progress(total=10 * 1024 * 1024)
    assert progress.speed is None
    progress.update(0, 100.0)
    progress.update(1024 * 1024, 101.0)
    progress.update(2 * 1024 * 1024, 102.0)
    assert progress.speed == 1024 * 1024
    assert progress.seconds_left == 8
    line = progress_line("report.pdf", progress)
    assert line.startswith("report.pdf  [####................]   20%  2.0 MiB/10.0 MiB  1.0 MiB/s  8 s left")
    # a stall shows within the window: old samples are forgotten
    for second in range(103, 110):
        progress.update(2 * 1024 * 1024, float(second))
    assert progress.speed == 0
    assert "left" not in progress_line("x", progress)
