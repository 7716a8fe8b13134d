"""The section on chat latency while a 20 MiB file is shared (``bench.file_latency``)."""

from __future__ import annotations

from bench.report.lookup import Results

TARGET_RATIO = 2.0


def section(results: Results) -> list[str]:
    measured = results.get("file_latency")
    if not measured:
        return []
    idle = measured["idle"]
    rows = [
        f"| {phase['name']} | {phase['samples']} | {phase['p50_ms']:.2f} ms | {phase['p99_ms']:.2f} ms | "
        f"{phase['p99_ms'] / idle['p99_ms']:.2f} | {phase['transfers']} in "
        f"{phase['transfer_seconds']:.1f} s |"
        for phase in (measured["idle"], measured["upload"], measured["download"])
    ]
    ratio = measured["worst_ratio"]
    verdict = "met" if ratio <= TARGET_RATIO else "**missed**"
    return [
        "### Chat during a file transfer",
        "",
        f"Alice sends small messages to `#general` at {measured['pace']:.0f} a second and Bob receives "
        f"them; meanwhile Carol's `chatapp-client` (line mode) uploads a "
        f"{measured['file_bytes'] // 2**20} MiB "
        "file to the same room, then Dave's downloads it, each transfer paced by its window of 4 chunks over "
        "the client's own connection (`bench/file_latency.py`, SQLite; only the messages sent while a "
        "transfer runs count for its phase):",
        "",
        "| phase | messages | p50 | p99 | p99 / idle p99 | transfers |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        *rows,
        "",
        f"Target: p99 during a transfer within {TARGET_RATIO:.0f}× of the idle p99: {verdict} "
        f"(worst {ratio:.2f}×).",
        "",
    ]
