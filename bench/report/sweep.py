"""Scaling with the number of clients: the sweep table and its chart."""

from __future__ import annotations

from pathlib import Path

from bench.report.cells import LABEL, align, fmt, fmt_int, row
from bench.report.lookup import Results, driver_of, p99_of, rate_of, ratio_of

Points = dict[str, list[tuple[int, float | None, float | None]]]


def sweep_points(results: Results) -> Points:
    series: Points = {}
    for entry in results["workloads"]:
        w = entry["workload"]
        if w["kind"] != "sweep" and w["key"] != "b":
            continue
        # One run per point: for (b), its first run, not its best (the sweep points have one run each).
        runs = {t: (o[0] if o else None) for t, o in (entry.get("all_runs") or {}).items()} or entry["runs"]
        for target, outcome in runs.items():
            d = driver_of(outcome)
            if d:
                series.setdefault(target, []).append((w["clients"], rate_of(d), p99_of(d)))
    for points in series.values():
        points.sort()
    return series


def chart(results: Results, path: Path) -> bool:
    series = sweep_points(results)
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {
        "naive": ("tab:gray", "s", "baseline naive"),
        "coalesced": ("tab:blue", "o", "baseline coalesced"),
        "chatapp": ("tab:red", "D", "chatapp"),
    }
    for target, points in series.items():
        color, marker, label = styles[target]
        rated = [(n, r) for n, r, _ in points if r]
        left.plot([n for n, _ in rated], [r / 1e6 for _, r in rated], marker=marker, color=color, label=label)
        timed = [(n, p) for n, _, p in points if p is not None]
        right.plot([n for n, _ in timed], [p for _, p in timed], marker=marker, color=color, label=label)
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel("clients in the room (N); 5 senders × 100 messages per round")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    left.set_ylabel("deliveries per second (millions)")
    left.set_title("Throughput")
    right.set_ylabel("end-to-end p99 latency (ms), closed loop")
    right.set_yscale("log")
    right.set_title("p99 latency")
    fig.suptitle(f"chatapp and the baselines on {results['machine']['cores']} cores, same run", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def sweep_table(results: Results) -> list[str]:
    series = sweep_points(results)
    if not series:
        return []
    ns = sorted({p[0] for points in series.values() for p in points})
    targets = [t for t in ("naive", "coalesced", "chatapp") if t in series]
    head = ["N"]
    for t in targets:
        head += [f"{LABEL[t]} deliveries/s", "p99 ms"]
    rows = [row(*head, "chatapp × coalesced"), align(*"r" * (len(head) + 1))]
    for n in ns:
        cells: list[str] = [f"{n:,}"]
        value: dict[str, float | None] = {}
        for t in targets:
            point = next((p for p in series[t] if p[0] == n), None)
            value[t] = point[1] if point else None
            cells += [fmt_int(point[1]), fmt(point[2])] if point else ["—", "—"]
        rows.append(row(*cells, fmt(ratio_of(value.get("chatapp"), value.get("coalesced")))))
    return rows
