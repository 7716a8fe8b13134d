"""The report's PostgreSQL section: chatapp on PostgreSQL beside chatapp on SQLite, same run.

:func:`comparisons` gathers, per workload measured on both, what each run gave
(:class:`Side`); this module lays out the table, its target and its reading.
Target: message throughput on PostgreSQL at least 80% of SQLite's.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.report.lookup import Results, Run, cpu_per_1k, p99_of, rate_of, ratio_of, run_of

TARGET_PG_RATIO = 0.80


@dataclass(frozen=True, slots=True)
class Side:
    """One run of a workload, on one database."""

    rate: float | None = None
    """Deliveries per second."""
    p99_ms: float | None = None
    cpu_us: float | None = None
    """Server CPU µs per delivery (the chatapp process, in the send phase)."""
    database_cpu_us: float | None = None
    """PostgreSQL's processes' CPU µs per delivery, over the whole run (SQLite's is in the server's)."""
    replay_per_s: float | None = None
    """Workload (g): replayed messages per second, to the resuming client."""
    ready_s: float | None = None
    """Workload (r): seconds until the last registration was signed in."""


@dataclass(frozen=True, slots=True)
class Comparison:
    key: str
    title: str
    sqlite: Side | None
    postgres: Side | None


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def throughput_ratio(comparisons: list[Comparison]) -> float | None:
    """PostgreSQL's deliveries/s over SQLite's in workload (a): what the target is about."""
    a = next((c for c in comparisons if c.key == "a"), None)
    if a is None or a.sqlite is None or a.postgres is None:
        return None
    return _ratio(a.postgres.rate, a.sqlite.rate)


def target_row(comparisons: list[Comparison], skipped: str | None) -> tuple[str, str, str, str]:
    """(target, measured, verdict, note) for the report's table of targets."""
    what = f"PostgreSQL throughput ≥ {TARGET_PG_RATIO:.0%} of SQLite's (a)"
    if skipped:
        return what, "not measured", "—", skipped
    ratio = throughput_ratio(comparisons)
    if ratio is None:
        return what, "no result", "✗", "see the PostgreSQL section"
    if ratio >= TARGET_PG_RATIO:
        return what, f"{ratio:.0%}", "✓", ""
    short = round((TARGET_PG_RATIO - ratio) * 100)
    needed = f"{TARGET_PG_RATIO / ratio:.1f}× today's throughput needed"
    return what, f"{ratio:.0%}", "✗", f"{short} points short, {needed}"


def section(comparisons: list[Comparison], skipped: str | None) -> list[str]:
    lines = ["### PostgreSQL", ""]
    if skipped:
        return [*lines, f"Not measured in this run: {skipped}.", ""]
    lines += [
        "The durable workloads again, against the same chatapp server on a private PostgreSQL "
        "(asyncpg; started by the suite, `synchronous_commit=on` and `fsync=off`: a commit is written "
        "to the OS before it is acknowledged, as SQLite's `synchronous=NORMAL` does, and neither waits "
        "for the disk). Same accounts, same driver, same run. Server CPU is the chatapp process's during "
        "the send phase, SQLite's work included; PostgreSQL's own processes (the server's backend for "
        "each connection) are counted apart, over the whole run (sign-ins included).",
        "",
        "| workload | deliveries/s SQLite | PostgreSQL | PG × SQLite | p99 ms SQLite | PostgreSQL | "
        "server CPU µs/delivery SQLite | PostgreSQL | + PostgreSQL's own processes | other |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for c in comparisons:
        s, p = c.sqlite or Side(), c.postgres or Side()
        other = ""
        if s.replay_per_s or p.replay_per_s:
            other = f"replayed {_num(s.replay_per_s, 0)} vs {_num(p.replay_per_s, 0)} messages/s"
        if s.ready_s or p.ready_s:
            other = f"all signed in after {_num(s.ready_s)} s vs {_num(p.ready_s)} s"
        lines.append(
            f"| {c.title} | {_num(s.rate, 0)} | {_num(p.rate, 0)} | {_num(_ratio(p.rate, s.rate))} | "
            f"{_num(s.p99_ms)} | {_num(p.p99_ms)} | {_num(s.cpu_us, 1)} | {_num(p.cpu_us, 1)} | "
            f"{_num(p.database_cpu_us, 1)} | {other} |"
        )
    ratio = throughput_ratio(comparisons)
    if ratio is not None:
        verdict = "meets" if ratio >= TARGET_PG_RATIO else "misses"
        lines += ["", f"PostgreSQL relays {ratio:.0%} of SQLite's throughput in (a): it {verdict} the target "
                  f"of {TARGET_PG_RATIO:.0%}."]  # fmt: skip
    return [*lines, ""]


def analysis(comparisons: list[Comparison]) -> list[str]:
    """Why PostgreSQL's throughput missed the target, from what the run measured."""
    a = next((c for c in comparisons if c.key == "a"), None)
    if a is None or a.sqlite is None or a.postgres is None:
        return []
    s, p = a.sqlite, a.postgres
    total = None if p.cpu_us is None or p.database_cpu_us is None else p.cpu_us + p.database_cpu_us
    return [
        f"- **PostgreSQL's throughput** ({_num(_ratio(p.rate, s.rate))}× SQLite's in (a)): the chatapp "
        f"process spent {_num(p.cpu_us, 2)} µs of CPU per delivery on PostgreSQL against "
        f"{_num(s.cpu_us, 2)} µs on SQLite (whose inserts run inside it), and PostgreSQL's own processes "
        f"{_num(p.database_cpu_us, 2)} µs more ({_num(total, 2)} µs in all). On two cores shared with "
        "the driver that extra CPU is what a client-server database costs; most of PostgreSQL's part "
        "per inserted message is its foreign-key triggers (the message's room and sender checked "
        "row by row, measured at half of the INSERT's time).",
        "",
    ]


# -- what the report hands over ---------------------------------------------------------------------


def skipped(results: Results) -> str | None:
    """Why PostgreSQL was not measured in this run, if it was not."""
    reason: str | None = (results.get("postgres") or {}).get("skipped")
    return reason


def comparisons(results: Results) -> list[Comparison]:
    """What the section compares: each workload run on both databases."""

    def side(d: Run | None, database_cpu: float | None = None) -> Side | None:
        if d is None:
            return None
        counted = d.get("counted") or d.get("ready")
        replay = d.get("replay") or {}
        synced = replay.get("synced_ms")
        return Side(
            rate=rate_of(d) if d.get("latency_ms") else None,
            p99_ms=p99_of(d) if d.get("latency_ms") else None,
            cpu_us=cpu_per_1k(d),
            replay_per_s=ratio_of(float(replay.get("replayed") or 0), synced / 1000 if synced else None),
            ready_s=d.get("ready_seconds"),
            database_cpu_us=database_cpu * 1e6 / counted if database_cpu is not None and counted else None,
        )

    found = []
    for entry in results["workloads"]:
        if "chatapp-pg" in entry.get("runs", {}):
            key = entry["workload"]["key"]
            database_cpu = entry["runs"]["chatapp-pg"].get("postgres_cpu")
            sqlite = side(run_of(results, key, "chatapp"))
            pg = side(run_of(results, key, "chatapp-pg"), database_cpu)
            found.append(Comparison(key, entry["workload"]["title"], sqlite, pg))
    return found
