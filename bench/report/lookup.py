"""Reading the suite's results: a workload's runs, the best one per server, and figures derived
from a driver result (rates, percentiles, server CPU per delivery).
"""

from __future__ import annotations

from typing import Any

Results = dict[str, Any]
Run = dict[str, Any]


def driver_of(outcome: dict[str, Any] | None) -> Run | None:
    if not outcome or "driver" not in outcome:
        return None
    driver: Run = outcome["driver"]
    return driver


def workload_entry(results: Results, key: str) -> dict[str, Any] | None:
    for entry in results["workloads"]:
        if entry["workload"]["key"] == key:
            found: dict[str, Any] = entry
            return found
    return None


def every_run(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Every outcome of a workload, repeats included (``runs`` keeps only the best per target)."""
    every = entry.get("all_runs") or {t: [o] for t, o in entry["runs"].items()}
    return [o for outcomes in every.values() for o in outcomes]


def spread(entry: dict[str, Any], target: str, latency: bool) -> str:
    outcomes = (entry.get("all_runs") or {}).get(target) or []
    values = [
        v
        for v in (p99_of(d) if latency else rate_of(d) for d in map(driver_of, outcomes) if d)
        if v is not None
    ]
    if len(values) < 2:
        return "—"
    if latency:
        return f"p99 {min(values):.1f}–{max(values):.1f}"
    return f"{min(values) / 1e3:,.0f}k–{max(values) / 1e3:,.0f}k"


def run_of(results: Results, key: str, target: str) -> Run | None:
    entry = workload_entry(results, key)
    return driver_of(entry["runs"].get(target)) if entry else None


def cpu_per_1k(d: Run | None) -> float | None:
    """Server CPU milliseconds per 1,000 deliveries (that is, µs per delivery)."""
    if not d or not d.get("counted") or d["server"].get("cpu_send") is None:
        return None
    return float(d["server"]["cpu_send"]) * 1000 / (int(d["counted"]) / 1000)


def server_share(d: Run | None) -> float | None:
    if not d or not d.get("send_seconds") or d["server"].get("cpu_send") is None:
        return None
    return float(d["server"]["cpu_send"]) / float(d["send_seconds"])


def ratio_of(a: float | None, b: float | None) -> float | None:
    if a is None or not b:
        return None
    return a / b


def rate_of(d: Run | None) -> float | None:
    return None if not d else d.get("deliveries_per_s")


def p99_of(d: Run | None) -> float | None:
    return None if not d else d["latency_ms"].get("p99")


def is_clean(d: Run) -> bool:
    return bool(d["lost"] == 0 and d["duplicated"] == 0 and d["out_of_order"] == 0)


def cpu_per_message(d: Run | None) -> float | None:
    """Server CPU milliseconds per message sent (each delivered to every client)."""
    per_1k = cpu_per_1k(d)
    return None if per_1k is None or not d else per_1k * d["clients"] / 1000
