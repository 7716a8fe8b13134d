"""The report's PostgreSQL section, from made-up results (pure formatting)."""

from __future__ import annotations

from bench.report.postgres import Comparison, Side, analysis, section, target_row


def comparisons(pg_rate: float) -> list[Comparison]:
    return [
        Comparison(
            "a",
            "(a) throughput",
            Side(rate=1_000_000, p99_ms=20, cpu_us=0.5),
            Side(rate=pg_rate, p99_ms=30, cpu_us=0.4, database_cpu_us=0.3),
        ),
        Comparison("r", "(r) registrations", Side(ready_s=1.0), Side(ready_s=1.5, database_cpu_us=600)),
    ]


def test_the_target_is_pg_throughput_over_sqlites_in_a() -> None:
    assert target_row(comparisons(850_000), None)[1:3] == ("85%", "✓")
    assert target_row(comparisons(700_000), None)[1:3] == ("70%", "✗")
    skipped = target_row([], "PostgreSQL is not installed (apt-get install postgresql)")
    assert skipped[1:] == ("not measured", "—", "PostgreSQL is not installed (apt-get install postgresql)")


def test_the_section_compares_each_workload_and_says_when_it_was_not_measured() -> None:
    text = "\n".join(section(comparisons(700_000), None))
    assert "| (a) throughput | 1,000,000 | 700,000 | 0.70 |" in text
    assert "all signed in after 1.00 s vs 1.50 s" in text
    assert "misses the target of 80%" in text
    assert section([], "not installed") == [
        "### PostgreSQL",
        "",
        "Not measured in this run: not installed.",
        "",
    ]


def test_the_analysis_adds_up_the_cpu_of_both_processes() -> None:
    (line, _) = analysis(comparisons(700_000))
    assert "0.40 µs" in line and "0.30 µs more (0.70 µs in all)" in line
    assert analysis([]) == []
