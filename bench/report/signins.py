"""Signing in under load: (e) a login storm, (h) sign-in churn with catch-up replays, (r) a
registration burst.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.report.cells import align, fmt, fmt_int, row
from bench.report.lookup import Results, Run, run_of, workload_entry
from bench.workloads import REGISTRATIONS_R

# Workloads (h), (h0) and (r) as measured before the fix of issue 9 (the store, sign-in and replay
# path), at commit a4c5aaa on this same kind of machine: the report shows them beside today's run.
BEFORE_FIX_FILE = Path(__file__).with_name("before-issue-9.json")


BEFORE_FIX: dict[str, Any] = json.loads(BEFORE_FIX_FILE.read_text()) if BEFORE_FIX_FILE.exists() else {}


def churn(results: Results) -> list[str]:
    churn, calm = run_of(results, "h", "chatapp"), run_of(results, "h0", "chatapp")
    if not churn and not calm:
        return []
    entry = workload_entry(results, "h") or workload_entry(results, "h0")
    assert entry is not None
    measured = BEFORE_FIX.get("measured") or {}
    out = [
        "### (h) Sign-in churn with catch-up replays",
        "",
        f"{entry['workload']['description']}. Acknowledgment: from a chatter's `send` to its own copy "
        "coming back (commit included). Sign-in: from `login` to `synced` (the replay included). "
        f"*Before the fix*: commit {measured.get('commit', '?')}, measured {measured.get('date', '?')} "
        f"(load average {measured.get('loadavg', '?')}; `{BEFORE_FIX_FILE.name}`).",
        "",
        row(
            "run",
            "acked / sent",
            "ack p50 ms",
            "ack p99 ms",
            "ack max ms",
            "sign-ins ok",
            "failed",
            "sign-in p50 ms",
            "sign-in p99 ms",
            "replayed each",
        ),  # fmt: skip
        align("l", *"rrrrrlrrr"),
    ]
    rows: list[tuple[str, Run | None]] = [
        ("before the fix, without churn", BEFORE_FIX.get("h0")),
        ("before the fix, with churn", BEFORE_FIX.get("h")),
        ("(h0) now, without churn", calm),
        ("(h) now, with churn", churn),
    ]
    for name, d in rows:
        if not d:
            continue
        ack = d["ack_ms"]
        s = d.get("signins") or {}
        failed = ", ".join(f"{k} ×{v}" for k, v in {**s.get("failed", {}), **d.get("errors", {})}.items())
        if s.get("unfinished"):
            failed = ", ".join(x for x in (failed, f"unfinished ×{s['unfinished']}") if x)
        out.append(
            row(
                name,
                f"{d['acked']:,} / {d['sent']:,}",
                fmt(ack.get("p50")),
                fmt(ack.get("p99")),
                fmt(ack.get("max")),
                f"{s.get('ok', 0)} / {s.get('attempted', 0)}" if s else "–",
                failed or "–",
                fmt((s.get("synced_ms") or {}).get("p50")) if s else "–",
                fmt((s.get("synced_ms") or {}).get("p99")) if s else "–",
                fmt_int(s.get("replayed_mean")) if s else "–",
            )
        )
    out += ["", "Acknowledgment latency over the run (by send time; p50 / p99 / max in ms):", ""]
    windows = [(name, d) for name, d in rows if d and d.get("windows")]
    starts = sorted({w["start"] for _, d in windows for w in d["windows"]})
    out.append(row("run", *[f"{start:.0f}–{start + 5:.0f} s" for start in starts]))
    out.append(align("l", *("r" * len(starts))))
    for name, d in windows:
        assert d is not None
        by_start = {w["start"]: w["latency_ms"] for w in d["windows"]}
        cells = []
        for start in starts:
            lat = by_start.get(start)
            cells.append("–" if not lat else " / ".join(fmt(lat.get(q)) for q in ("p50", "p99", "max")))
        out.append(row(name, *cells))
    return [*out, ""]


def registrations(results: Results) -> list[str]:
    now = run_of(results, "r", "chatapp")
    before = BEFORE_FIX.get("r")
    if not now and not before:
        return []
    entry = workload_entry(results, "r")
    description = entry["workload"]["description"] if entry else REGISTRATIONS_R.description
    out = [
        "### (r) Registrations at once",
        "",
        f"{description}. A client told `rate_limited` or `server_error` tries again after `retry_after`.",
        "",
        row("run", "ready", "all ready in s", "p50 s", "p99 s", "retries", "failed"),
        align("l", *"rrrrrl"),
    ]
    for name, d in (("before the fix (best of 2)", before), ("now", now)):
        if not d:
            continue
        lat = d["latency_ms"]
        failed = ", ".join(f"{k} ×{v}" for k, v in d.get("failed", {}).items()) or "–"
        out.append(
            row(
                name,
                f"{d['ready']} / {d['count']}",
                fmt(d.get("ready_seconds")),
                fmt((lat.get("p50") or 0) / 1000),
                fmt((lat.get("p99") or 0) / 1000),
                fmt_int(d.get("retries")),
                failed,
            )
        )
    return [*out, ""]


def storm(results: Results) -> list[str]:
    storm = run_of(results, "e", "chatapp")
    alone = run_of(results, "c", "chatapp")
    if not storm or not storm.get("storm"):
        return []
    st = storm["storm"]
    login = st["login_ms"]
    failed = ", ".join(f"{k} ×{v}" for k, v in st.get("failed", {}).items()) or "none"
    out = [
        "### (e) Login storm",
        "",
        f"{st['logins']} clients log in with a password at once, {st['start']:.2f} s into workload (c); "
        f"the last login finished at {st['end']:.2f} s. Logins: {st['ok']} ok, failed: {failed}; time to "
        f"`auth_ok` p50 {fmt(login.get('p50'))} ms, p99 {fmt(login.get('p99'))} ms, max "
        f"{fmt(login.get('max'))} ms.",
        "",
        row("chat latency", "p50 ms", "p90 ms", "p99 ms", "max ms", "messages"),
        align("l", *"rrrrr"),
    ]
    for name, lat in (
        ("(c) alone", (alone or {}).get("latency_ms", {})),
        ("(c) with the storm, whole run", storm["latency_ms"]),
        ("(c) with the storm, messages sent while it lasted", st["window_latency_ms"]),
    ):
        out.append(
            row(
                name,
                fmt(lat.get("p50")),
                fmt(lat.get("p90")),
                fmt(lat.get("p99")),
                fmt(lat.get("max")),
                fmt_int(lat.get("count")),
            )
        )
    return [*out, ""]
