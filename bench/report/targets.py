"""The targets table: each target, what this run measured, and whether it was met.

Each target is a function of the results (:data:`TARGETS`, in the order of the
table) that gives its rows, or none when its workloads were not run; a row that
is missed names its key, which the analysis (:mod:`.analysis`) explains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.report import postgres as pg_report
from bench.report import scaling as scaling_report
from bench.report.cells import align, fmt, fmt_int, fmt_mib, fmt_pct, row
from bench.report.lookup import Results, driver_of, every_run, p99_of, rate_of, ratio_of, run_of

TARGET_RATIO = 0.80
TARGET_P99_RATIO = 1.5
TARGET_STORM_MS = 5.0
TARGET_READY_S = 5.0
TARGET_RSS_MIB = 250.0
TARGET_CHURN_RATIO = 2.0
TARGET_REGISTRATIONS_S = 2.0


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    ok: bool | None
    """None: not measured."""
    miss: str
    """Why it was missed, if it was."""
    key: str | None
    """The key the analysis knows a missed target by (None: the analysis has nothing to add)."""

    def cells(self) -> str:
        if self.ok is None:
            verdict = "not measured"
        else:
            verdict = "met" if self.ok else f"**missed**: {self.miss}"
        return row(self.target, self.measured, verdict)


def throughput(results: Results) -> list[Verdict]:
    out = []
    for key in ("a", "b"):
        chat, coal = run_of(results, key, "chatapp"), run_of(results, key, "coalesced")
        if not chat or not coal:
            continue
        ratio = ratio_of(rate_of(chat), rate_of(coal))
        gap = f"{(TARGET_RATIO - (ratio or 0)) * 100:.0f} points short"
        need = f"{fmt(ratio_of(TARGET_RATIO, ratio), 1)}× today's throughput needed"
        out.append(
            Verdict(
                f"({key}) ≥ 80% of the coalesced baseline's deliveries/s",
                f"{fmt_int(rate_of(chat))} vs {fmt_int(rate_of(coal))} deliveries/s = {fmt_pct(ratio)}",
                None if ratio is None else ratio >= TARGET_RATIO,
                f"{gap}, {need}",
                key,
            )
        )
    return out


def latency(results: Results) -> list[Verdict]:
    chat, coal = run_of(results, "c", "chatapp"), run_of(results, "c", "coalesced")
    if not chat or not coal:
        return []
    ratio = ratio_of(p99_of(chat), p99_of(coal))
    return [
        Verdict(
            "(c) p99 ≤ 1.5× the coalesced baseline's p99",
            f"{fmt(p99_of(chat))} ms vs {fmt(p99_of(coal))} ms = {fmt(ratio)}×",
            None if ratio is None else ratio <= TARGET_P99_RATIO,
            f"{fmt(ratio)}× instead of ≤ 1.5×",
            "c",
        )
    ]


def storm(results: Results) -> list[Verdict]:
    storm, alone = run_of(results, "e", "chatapp"), run_of(results, "c", "chatapp")
    if not storm or not alone:
        return []
    base, whole = p99_of(alone), p99_of(storm)
    during = ((storm.get("storm") or {}).get("window_latency_ms") or {}).get("p99")
    delta = None if whole is None or base is None else whole - base
    wdelta = None if during is None or base is None else during - base
    worst = max(delta or 0.0, wdelta or 0.0)
    return [
        Verdict(
            "(e) a login storm adds < 5 ms to p99",
            f"p99 {fmt(whole)} ms with the storm vs {fmt(base)} ms for (c) alone: +{fmt(delta)} ms; "
            f"messages sent while the storm lasted: p99 {fmt(during)} ms, +{fmt(wdelta)} ms",
            None if delta is None else delta < TARGET_STORM_MS and (wdelta or 0) < TARGET_STORM_MS,
            f"+{fmt(worst)} ms",
            "e",
        )
    ]


def history(results: Results) -> list[Verdict]:
    on, off = run_of(results, "a", "chatapp"), run_of(results, "f", "chatapp")
    if not on or not off:
        return []
    share = 1 - (ratio_of(rate_of(on), rate_of(off)) or 1)
    return [
        Verdict(
            "(f) durable history costs < 10% of throughput",
            f"{fmt_int(rate_of(on))} deliveries/s with history, {fmt_int(rate_of(off))} without "
            f"((a) vs (f)): {fmt_pct(max(share, 0.0))} less",
            share < 0.10,
            f"{fmt_pct(share)}",
            "f",
        )
    ]


def connections(results: Results) -> list[Verdict]:
    conn = run_of(results, "d", "chatapp")
    if not conn:
        return []
    ready, n = conn.get("connect_seconds"), conn["clients"]
    all_in = conn.get("ready_clients") == n
    peak = conn["server"].get("peak_rss")
    miss = f"{fmt(ratio_of(ready, TARGET_READY_S), 1)}× the 5 s" if all_in else "not all clients signed in"
    return [
        Verdict(
            f"(d) {n:,} clients ready in ≤ 5 s",
            f"{conn.get('ready_clients', 0):,} ready in {fmt(ready)} s",
            bool(all_in and ready is not None and ready <= TARGET_READY_S),
            miss,
            "d",
        ),
        Verdict(
            "(d) … under 250 MiB server RSS",
            f"peak {fmt_mib(peak)} MiB",
            None if not peak else peak / 2**20 < TARGET_RSS_MIB,
            f"{fmt_mib(peak)} MiB",
            "d-rss",
        ),
    ]


def churn(results: Results) -> list[Verdict]:
    churn, calm = run_of(results, "h", "chatapp"), run_of(results, "h0", "chatapp")
    if not churn or not calm:
        return []
    with_churn, without = churn["ack_ms"].get("p99"), calm["ack_ms"].get("p99")
    ratio = ratio_of(with_churn, without)
    complete = churn["acked"] == churn["sent"] and not churn["errors"]
    signins = churn.get("signins") or {}
    return [
        Verdict(
            "(h) acknowledgment p99 with sign-in churn ≤ 2× without",
            f"{fmt(with_churn)} ms vs {fmt(without)} ms = {fmt(ratio)}×; "
            f"{churn['acked']:,} of {churn['sent']:,} acknowledged; sign-ins {signins.get('ok', 0)} of "
            f"{signins.get('attempted', 0)} ok",
            None if ratio is None else ratio <= TARGET_CHURN_RATIO and complete,
            f"{fmt(ratio)}×" if complete else "not every message was acknowledged",
            "h",
        )
    ]


def registrations(results: Results) -> list[Verdict]:
    reg = run_of(results, "r", "chatapp")
    if not reg:
        return []
    ready = reg.get("ready_seconds")
    return [
        Verdict(
            f"(r) {reg['count']} registrations (test argon2) ready in < 2 s",
            f"{reg['ready']} of {reg['count']} ready in {fmt(ready)} s",
            ready is not None and ready < TARGET_REGISTRATIONS_S,
            f"{fmt(ready)} s" if ready is not None else "not all signed in",
            "r",
        )
    ]


def correctness(results: Results) -> list[Verdict]:
    lost = dup = order = runs = errors = 0
    for entry in results["workloads"]:
        for outcome in every_run(entry):
            d = driver_of(outcome)
            if d is None:
                errors += 1
                continue
            runs += 1
            replay = d.get("replay") or {}
            lost += d.get("lost", 0) + replay.get("gaps", 0)
            dup += d.get("duplicated", 0) + replay.get("duplicated", 0)
            order += d.get("out_of_order", 0) + d.get("id_order_violations", 0)
            order += replay.get("out_of_order", 0)
    measured = f"{lost} lost, {dup} duplicated, {order} out of order in {runs} runs"
    if errors:
        measured += f"; {errors} runs failed"
    return [
        Verdict(
            "0 lost, 0 duplicated everywhere",
            measured,
            lost == dup == order == errors == 0,
            "see the tables",
            None,
        )
    ]


def postgres(results: Results) -> list[Verdict]:
    comparisons, skipped = pg_report.comparisons(results), pg_report.skipped(results)
    target, measured, ok, note = pg_report.target_row(comparisons, skipped)
    verdict = {"✓": True, "✗": False}.get(ok)
    return [Verdict(target, measured if verdict is not None else f"{measured}: {note}", verdict, note, "pg")]


def scaling(results: Results) -> list[Verdict]:
    return [Verdict(*cells) for cells in scaling_report.target_rows(results)]


TARGETS: list[Callable[[Results], list[Verdict]]] = [
    throughput,
    latency,
    storm,
    history,
    connections,
    churn,
    registrations,
    postgres,
    scaling,
    correctness,
]
"""The table's rows, in order: a new target is a function here."""


def targets(results: Results) -> tuple[list[str], list[str]]:
    """The target table and the keys of the missed targets (for the analysis)."""
    verdicts = [v for target in TARGETS for v in target(results)]
    rows = [row("target", "measured", "verdict"), align("l", "l", "l"), *(v.cells() for v in verdicts)]
    return rows, [v.key for v in verdicts if v.ok is False and v.key is not None]
