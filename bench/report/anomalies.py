"""What went wrong or could not run: anomalies seen during the runs, workloads not yet measurable."""

from __future__ import annotations

from typing import Any

from bench.report.lookup import Results, driver_of


def problems(results: Results) -> list[str]:
    lines: list[str] = []
    for entry in results["workloads"]:
        storm = entry["workload"]["kind"] == "storm"
        for target, outcomes in (entry.get("all_runs") or {}).items():
            for number, outcome in enumerate(outcomes, 1):
                notes = _notes(outcome, storm)
                if notes:
                    which = f" run {number}" if len(outcomes) > 1 else ""
                    lines.append(f"- {entry['workload']['title']}, {target}{which}: " + "; ".join(notes))
    if not lines:
        return []
    return ["### Anomalies seen during the runs", "", *lines, ""]


def _notes(outcome: dict[str, Any], storm: bool) -> list[str]:
    d = driver_of(outcome)
    notes: list[str] = []
    if d:
        notes += d.get("problems", [])
        if d.get("signin_retries"):
            notes.append(
                f"{d['signin_retries']} sign-ins answered `server_error` or `rate_limited` and retried"
            )
        if d.get("disconnected"):
            notes.append(f"{d['disconnected']} clients were disconnected by the server")
        other = {k: v for k, v in d.get("other_frames", {}).items() if not (storm and k == "presence")}
        if other:
            notes.append(f"other frames while measuring: {other}")
    else:
        notes.append(outcome.get("error", "no result"))
    sp = outcome.get("server_problems") or {}
    if sp.get("error_lines"):
        kinds = ", ".join(f"`{k}` ×{v}" for k, v in sp.get("exceptions", {}).items())
        notes.append(
            f"the server logged {sp['error_lines']} error lines ({kinds or 'see its log'}; "
            f"log kept in `{outcome.get('server_log')}`)"
        )
    return notes


def pending(results: Results) -> list[str]:
    rows = [entry for entry in results["workloads"] if entry.get("pending")]
    if not rows:
        return []
    out = ["### Not yet measurable", ""]
    for entry in rows:
        w = entry["workload"]
        out.append(f"- **{w['title']}** — {entry['pending']}. Planned: {w['description']}.")
    out += [
        "",
        "They are defined in `bench/workloads.py` with `needs=` set, so the suite lists them and never "
        "runs or fakes them; when the feature exists they get their driver settings and server flags there.",
        "",
    ]
    return out
