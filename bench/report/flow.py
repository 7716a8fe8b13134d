"""Message flow: the throughput and latency table of every server, and chatapp against itself
with one server setting changed ((f) durable history off, (u) asyncio's own event loop, (t) TLS).
"""

from __future__ import annotations

from bench.report.cells import LABEL, align, fmt, fmt_int, fmt_mib, fmt_pct, row
from bench.report.lookup import (
    Results,
    cpu_per_1k,
    driver_of,
    is_clean,
    p99_of,
    rate_of,
    ratio_of,
    run_of,
    server_share,
    spread,
    workload_entry,
)

# The workload whose baseline runs a chatapp-only workload is compared with.
BASE_OF = {"e": "c", "f": "a", "f-c": "c", "g": "c", "u": "a", "u-c": "c", "t": "a"}


def flow_table(results: Results, keys: list[str]) -> list[str]:
    head = (
        "workload", "server", "deliveries/s", "× coalesced", "× naive", "p50 ms", "p90 ms", "p99 ms",
        "max ms", "lost / dup", "ready s", "server CPU ms per 1k deliveries", "server core busy",
        "server peak RSS MiB", "driver core busy", "spread over runs",
    )  # fmt: skip
    rows = [row(*head), align("l", "l", *"rrrrrrr", "l", *"rrrrrr")]
    for key in keys:
        entry = workload_entry(results, key)
        if entry is None or entry.get("pending"):
            continue
        title = entry["workload"]["title"]
        latency_kind = entry["workload"].get("rate") is not None
        base = {t: driver_of(entry["runs"].get(t)) for t in ("naive", "coalesced")}
        if not any(base.values()) and key in BASE_OF:
            other = workload_entry(results, BASE_OF[key])
            base = {t: driver_of(other["runs"].get(t)) for t in ("naive", "coalesced")} if other else base
        for target, outcome in entry["runs"].items():
            d = driver_of(outcome)
            if d is None:
                failed = "failed: " + str(outcome.get("error", ""))[:200]
                rows.append(row(title, LABEL[target], failed, *[""] * (len(head) - 3)))
                continue
            lat = d["latency_ms"]
            vs = {t: "—" for t in base}
            if target == "chatapp":
                for t, b in base.items():
                    if b and latency_kind:
                        vs[t] = f"p99 {fmt(ratio_of(p99_of(d), p99_of(b)))}×"
                    elif b:
                        vs[t] = fmt(ratio_of(rate_of(d), rate_of(b)))
            flag = "" if is_clean(d) else " ⚠"
            rows.append(
                row(
                    title,
                    LABEL[target],
                    fmt_int(rate_of(d)),
                    vs["coalesced"],
                    vs["naive"],
                    fmt(lat.get("p50")),
                    fmt(lat.get("p90")),
                    fmt(lat.get("p99")),
                    fmt(lat.get("max")),
                    f"{d['lost']} / {d['duplicated']}{flag}",
                    fmt(d.get("connect_seconds")),
                    fmt(cpu_per_1k(d), 1),
                    fmt_pct(server_share(d)),
                    fmt_mib(d["server"].get("peak_rss")),
                    fmt_pct(d.get("driver_cpu_share")),
                    spread(entry, target, latency_kind),
                )  # fmt: skip
            )
    return rows


def paired_rows(results: Results, pairs: list[tuple[str, str, str]]) -> list[str]:
    """Rows comparing chatapp in two workloads that differ in one server setting."""
    rows: list[str] = []
    for on_key, off_key, label in pairs:
        on, off = run_of(results, on_key, "chatapp"), run_of(results, off_key, "chatapp")
        if not on or not off:
            continue
        for name, get, digits in (
            ("deliveries/s", rate_of, 0),
            ("p50 ms", lambda d: d["latency_ms"].get("p50"), 2),
            ("p99 ms", p99_of, 2),
            ("server CPU ms per 1k deliveries", cpu_per_1k, 2),
        ):
            if label.startswith("latency") and name == "deliveries/s":
                continue
            a, b = get(on), get(off)
            rows.append(row(label, name, fmt(a, digits), fmt(b, digits), fmt(ratio_of(a, b))))
    return rows


def history(results: Results) -> list[str]:
    """(f): the cost of committing every message before delivering it."""
    rows = paired_rows(
        results,
        [
            ("a", "f", "throughput, closed loop ((a) vs (f))"),
            ("c", "f-c", "latency, 20 msg/s ((c) vs (f))"),
        ],
    )
    if not rows:
        return []
    return [
        "### (f) Durable history on and off",
        "",
        "Every chatapp run above stores each message (group commit, one writer thread, SQLite "
        "`synchronous=NORMAL`, the server's default) before anyone sees it. The same workloads against a "
        "server started with `--no-history` (ids from memory, nothing stored) show what that costs:",
        "",
        row("workload", "measure", "history on", "history off", "on ÷ off"),
        align("l", "l", "r", "r", "r"),
        *rows,
        "",
    ]


def event_loops(results: Results) -> list[str]:
    """What uvloop gives: (a) on uvloop (as everywhere else) against (a) on asyncio's own loop."""
    rows = paired_rows(
        results,
        [
            ("a", "u", "throughput, closed loop ((a) vs (u))"),
            ("c", "u-c", "latency, 20 msg/s ((c) vs (u))"),
        ],
    )
    if not rows:
        return []
    return [
        "### (u) uvloop and asyncio's own event loop",
        "",
        "Every chatapp run above uses uvloop (`chatapp[fast]`, installed by `make run`). The same "
        "workloads against a server started with `--event-loop asyncio` show what uvloop gives:",
        "",
        row("workload", "measure", "uvloop", "asyncio", "uvloop ÷ asyncio"),
        align("l", "l", "r", "r", "r"),
        *rows,
        "",
    ]


def tls_cost(results: Results) -> list[str]:
    """What TLS costs: (a) over plain TCP against (a) with every client over TLS."""
    rows = paired_rows(results, [("a", "t", "throughput, closed loop ((a) vs (t))")])
    if not rows:
        return []
    return [
        "### (t) TLS",
        "",
        "Every chatapp run above is over plain TCP. The same workload against a server started with "
        "`--tls self-signed --no-plain` (TLS 1.3, an ECDSA P-256 certificate; the handshakes happen while "
        "connecting, before the clock starts) shows what encrypting every delivery costs:",
        "",
        row("workload", "measure", "plain", "TLS", "plain ÷ TLS"),
        align("l", "l", "r", "r", "r"),
        *rows,
        "",
    ]
