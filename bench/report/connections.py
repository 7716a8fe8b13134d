"""Workload (d): many clients signing in and staying idle."""

from __future__ import annotations

from bench.report.cells import LABEL, align, fmt, fmt_int, fmt_mib, row
from bench.report.lookup import Results, driver_of, workload_entry


def connections(results: Results) -> list[str]:
    entry = workload_entry(results, "d")
    if entry is None:
        return []
    head = (
        "server", "clients ready", "ready s", "settled s", "signed in by (s)", "presence frames",
        "server CPU s to sign in", "RSS before MiB", "RSS with clients MiB", "RSS per client KiB",
        "peak RSS MiB", "driver CPU s",
    )  # fmt: skip
    out = [
        f"### {entry['workload']['title']}",
        "",
        f"{entry['workload']['description']}. *Ready*: every client has its `auth_ok` (baseline: its "
        "welcome line). *Settled*: every presence frame caused by the sign-ins has arrived too (each "
        "goes to everyone already online: N(N+1)/2 frames in all). *Signed in by*: when 10%, 25%, ... of "
        "the N clients had their `auth_ok`.",
        "",
        row(*head),
        align("l", "r", "r", "r", "l", *"rrrrrrr"),
    ]
    for target, outcome in entry["runs"].items():
        d = driver_of(outcome)
        if d is None:
            failed = "failed: " + str(outcome.get("error", ""))[:200]
            out.append(row(LABEL[target], failed, *[""] * (len(head) - 2)))
            continue
        s = d["server"]
        per = None
        if s.get("rss_ready") and s.get("rss_before") and d.get("ready_clients"):
            per = (s["rss_ready"] - s["rss_before"]) / d["ready_clients"] / 1024
        quantiles = ", ".join(f"{q}: {t:.1f}" for q, t in (d.get("ready_quantiles") or {}).items())
        out.append(
            row(
                LABEL[target],
                f"{d.get('ready_clients', 0):,}",
                fmt(d.get("connect_seconds")),
                fmt(d.get("settle_seconds")),
                quantiles or "—",
                fmt_int(d.get("presence_received")),
                fmt(s.get("cpu_connect")),
                fmt_mib(s.get("rss_before")),
                fmt_mib(s.get("rss_ready")),
                fmt(per, 1),
                fmt_mib(s.get("peak_rss")),
                fmt(d.get("driver_cpu_connect")),
            )  # fmt: skip
        )
    return [*out, ""]
