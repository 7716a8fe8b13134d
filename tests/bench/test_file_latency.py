"""The file-transfer latency bench: it runs real client processes against a real server (small files
here), measures every phase, and its section renders."""

from __future__ import annotations

import dataclasses

from bench.report import files

from bench import file_latency


def test_measure_and_report() -> None:
    result = file_latency.measure(file_bytes=256 * 1024, samples=10)
    for phase in (result.idle, result.upload, result.download):
        assert phase.samples > 0 and 0 < phase.p50_ms <= phase.p99_ms
    assert result.upload.transfers >= 1 and result.download.transfers >= 1
    lines = files.section({"file_latency": {**dataclasses.asdict(result), "worst_ratio": result.worst_ratio}})
    assert lines[0] == "### Chat during a file transfer"
    assert f"| upload | {result.upload.samples} |" in "\n".join(lines)
    assert files.section({}) == []
