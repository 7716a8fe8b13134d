"""The section on what the content filter costs a message (``bench.filter_cost``)."""

from __future__ import annotations

from bench.report.lookup import Results


def section(results: Results) -> list[str]:
    cost = results.get("filter_cost")
    if not cost:
        return []
    return [
        "### Content filter",
        "",
        f"Screening one chat-length message in the server's process (`bench/filter_cost.py`, "
        f"{cost['messages']:,} texts, median of {cost['rounds']} rounds; about one in twenty hits a rule): "
        f"**{cost['microseconds_none']:.2f} µs** without a filter file (the service skips the filter "
        f"altogether then: one dictionary look-up), **{cost['microseconds_rules']:.2f} µs** with a "
        f"realistic file of {cost['rules']} rules (200 words and phrases, 20 RE2 patterns).",
        "",
    ]
