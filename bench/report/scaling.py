"""The report's "Several processes" section: the same workloads on 1, 2 and 4 server processes
(``bench.scaling``), its two targets, and what the figures say.

Targets (issue 16): a message through Redis costs at most 1.3× the server CPU per delivery of one
process alone (one process with ``--redis-url`` against one without, same PostgreSQL); and the
deliveries per second per busy server core with 2 and 4 processes stay at least 80% of one
process's. Deliveries per busy core is deliveries over server CPU seconds, the inverse of the CPU
per delivery: on two cores shared with the driver, PostgreSQL and Redis, the processes cannot all
be busy at once, so this is what shows how the work grows with processes. The efficiency target
compares the processes with one process of the same setup, with Redis: the hop has its own target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.report.cells import align, fmt, fmt_int, fmt_pct, row
from bench.report.lookup import Results

TARGET_HOP = 1.3
TARGET_EFFICIENCY = 0.80
FANOUT = "fanout"
LATENCY = "latency"


@dataclass(frozen=True, slots=True)
class Point:
    """The best run of one workload on one setup."""

    key: str
    processes: int
    redis: bool
    copies: bool = False
    """The control: copies of the one-process run side by side, sharing nothing."""
    rate: float | None = None
    messages: int = 0
    deliveries: int = 0
    send_seconds: float | None = None
    cpu_us: float | None = None
    """Server CPU µs per delivery, every process added up (= ms per 1,000 deliveries)."""
    busy: float | None = None
    """Server CPU seconds per wall second of the send phase (1.0 = one core)."""
    postgres_us: float | None = None
    redis_us: float | None = None
    redis_in: float | None = None
    """Bytes Redis took in per message (the whole run: presence and heartbeats too)."""
    redis_out: float | None = None
    commits_per_1k: float | None = None
    """PostgreSQL transactions per 1,000 messages (the whole run: sign-ins too)."""
    p50: float | None = None
    p99: float | None = None
    filled: int | None = None
    """Messages the processes read from PostgreSQL because Redis had not brought them in time."""
    cpu_range: tuple[float, float] | None = None
    """Server CPU µs per delivery over every run of this setup, lowest and highest (with repeats)."""
    faults: str = ""
    """Lost, duplicated or out of order deliveries, errors: empty when clean."""

    @property
    def label(self) -> str:
        if self.copies:
            n = self.processes
            return f"{n} processes sharing nothing ({n} copies of 1 process, no Redis)"
        noun = "process" if self.processes == 1 else "processes"
        return f"{self.processes} {noun}" + (" with Redis" if self.redis else ", no Redis")

    @property
    def per_core(self) -> float | None:
        """Deliveries per second per busy server core."""
        return None if not self.cpu_us else 1e6 / self.cpu_us


def section_results(results: Results) -> dict[str, Any] | None:
    found: dict[str, Any] | None = results.get("scaling")
    return found


def points(results: Results, workload: str) -> list[Point]:
    scaling = section_results(results) or {}
    for entry in scaling.get("workloads", []):
        if entry["workload"]["key"] == workload:
            every = entry.get("all_runs") or {}
            return [point(key, outcome, every.get(key, [])) for key, outcome in entry["runs"].items()]
    return []


def point(key: str, outcome: dict[str, Any], every: list[dict[str, Any]] | None = None) -> Point:
    setup = outcome["setup"]
    d = outcome.get("driver")
    if not d:
        error = str(outcome.get("error", "no result"))[:200]
        return Point(key, setup["processes"], setup["redis"], setup.get("copies", False), faults=error)
    counted = int(d.get("counted") or 0)
    # The room's size: the control's clients are in as many rooms apart as it has copies.
    room = int(d["clients"]) // (setup["processes"] if setup.get("copies") else 1) or 1
    messages = counted // room
    cpu = d["server"].get("cpu_send")
    watched = d.get("watched_cpu_send") or {}
    traffic = outcome.get("redis_bytes") or {}
    commits = outcome.get("commits")

    def per_delivery(seconds: float | None) -> float | None:
        return None if seconds is None or not counted else seconds * 1e6 / counted

    # Redis's traffic and the commits are counted over the whole run: the warm-up's messages too.
    rounds = int(d.get("rounds") or 1)
    sent = messages * (rounds + int(d.get("warmup_rounds") or 0)) / rounds

    def per_message(amount: float | None) -> float | None:
        return None if amount is None or not sent else amount / sent

    faults = [
        f"{d[name]} {label}"
        for name, label in (("lost", "lost"), ("duplicated", "duplicated"), ("out_of_order", "out of order"))
        if d.get(name)
    ] + list(d.get("problems") or [])
    return Point(
        key=key,
        processes=setup["processes"],
        redis=setup["redis"],
        copies=setup.get("copies", False),
        rate=d.get("deliveries_per_s"),
        messages=messages,
        deliveries=counted,
        send_seconds=d.get("send_seconds"),
        cpu_us=per_delivery(cpu),
        busy=None if cpu is None or not d.get("send_seconds") else cpu / d["send_seconds"],
        postgres_us=per_delivery(watched.get("postgres")),
        redis_us=per_delivery(watched.get("redis")),
        redis_in=per_message(traffic.get("received")),
        redis_out=per_message(traffic.get("sent")),
        commits_per_1k=None if commits is None or not sent else commits * 1000 / sent,
        p50=(d.get("latency_ms") or {}).get("p50"),
        p99=(d.get("latency_ms") or {}).get("p99"),
        filled=outcome.get("chain_filled"),
        cpu_range=cpu_range(every or []),
        faults="; ".join(faults)[:300],
    )


def cpu_range(outcomes: list[dict[str, Any]]) -> tuple[float, float] | None:
    values = sorted(
        d["server"]["cpu_send"] * 1e6 / d["counted"]
        for d in (o.get("driver") for o in outcomes)
        if d and d.get("counted") and d["server"].get("cpu_send") is not None
    )
    return (values[0], values[-1]) if len(values) > 1 else None


def spread(p: Point) -> str:
    return "—" if p.cpu_range is None else f"{p.cpu_range[0]:.2f}–{p.cpu_range[1]:.2f}"


def find(found: list[Point], processes: int, redis: bool) -> Point | None:
    return next((p for p in found if p.processes == processes and p.redis == redis and not p.copies), None)


def control(found: list[Point]) -> Point | None:
    """The copies that share nothing, if they ran."""
    return next((p for p in found if p.copies), None)


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def hop(found: list[Point]) -> float | None:
    """Server CPU per delivery of one process with Redis over one process without."""
    with_redis, alone = find(found, 1, True), find(found, 1, False)
    return None if with_redis is None or alone is None else ratio(with_redis.cpu_us, alone.cpu_us)


def efficiency(found: list[Point], p: Point, *, redis: bool = True) -> float | None:
    """Deliveries per busy core of ``p`` against one process's (with Redis, or without)."""
    one = find(found, 1, redis)
    return None if one is None else ratio(p.per_core, one.per_core)


# -- the targets ------------------------------------------------------------------------------------


def target_rows(results: Results) -> list[tuple[str, str, bool | None, str, str]]:
    """(target, measured, met, why missed, key) for the report's table of targets."""
    skipped = (section_results(results) or {}).get("skipped")
    if skipped:
        return [("scaling: 1, 2 and 4 processes through Redis", f"not measured: {skipped}", None, "", "")]
    found = points(results, FANOUT)
    if not found:
        return []
    out: list[tuple[str, str, bool | None, str, str]] = []
    h = hop(found)
    with_redis, alone = find(found, 1, True), find(found, 1, False)
    if with_redis is not None and alone is not None:
        out.append(
            (
                f"scaling: a message through Redis ≤ {TARGET_HOP}× the server CPU per delivery of one "
                "process",
                f"{fmt(with_redis.cpu_us)} vs {fmt(alone.cpu_us)} µs per delivery = {fmt(h)}×",
                None if h is None else h <= TARGET_HOP,
                f"{fmt(h)}× instead of ≤ {TARGET_HOP}×",
                "scaling-hop",
            )
        )
    for p in found:
        if p.processes == 1 or not p.redis:
            continue
        e = efficiency(found, p)
        one = find(found, 1, True)
        out.append(
            (
                f"scaling: {p.processes} processes keep ≥ 80% of one process's deliveries/s per busy core",
                f"{fmt_int(p.per_core)} vs {fmt_int(one.per_core if one else None)} = {fmt_pct(e)}",
                None if e is None else e >= TARGET_EFFICIENCY,
                f"{(TARGET_EFFICIENCY - (e or 0)) * 100:.0f} points short",
                "scaling-efficiency",
            )
        )
    return out


# -- the section ------------------------------------------------------------------------------------


def table(found: list[Point]) -> list[str]:
    lines = [
        row(
            "setup",
            "deliveries/s",
            "server CPU ms per 1k deliveries",
            "… over every run",
            "server cores busy",
            "deliveries/s per busy core",
            "× 1 process with Redis",
            "× 1 process, no Redis",
            "PostgreSQL CPU ms per 1k",
            "Redis CPU ms per 1k",
            "Redis bytes in / out per message",
            "transactions per 1k messages",
            "read from PostgreSQL, not Redis",
            "p50 / p99 ms",
            "faults",
        ),
        align("l", *["r"] * 13, "l"),
    ]
    for p in sorted(found, key=lambda p: (p.copies, p.redis, p.processes)):
        traffic = "—" if not p.redis else f"{fmt_int(p.redis_in)} / {fmt_int(p.redis_out)}"
        lines.append(
            row(
                p.label,
                fmt_int(p.rate),
                fmt(p.cpu_us),
                spread(p),
                fmt(p.busy),
                fmt_int(p.per_core),
                fmt_pct(efficiency(found, p)),
                fmt_pct(efficiency(found, p, redis=False)),
                fmt(p.postgres_us, 3),
                fmt(p.redis_us, 3) if p.redis else "—",
                traffic,
                fmt_int(p.commits_per_1k),
                "—" if p.filled is None else f"{p.filled:,}",
                f"{fmt(p.p50)} / {fmt(p.p99)}",
                p.faults or "none",
            )
        )
    return lines


def section(results: Results) -> list[str]:
    scaling = section_results(results)
    if scaling is None:
        return []
    lines = ["### Several processes", ""]
    if scaling.get("skipped"):
        return [*lines, f"Not measured in this run: {scaling['skipped']}.", ""]
    titles = {entry["workload"]["key"]: entry["workload"] for entry in scaling.get("workloads", [])}
    lines += [
        "The same workloads on 1, 2 and 4 chatapp server processes on this one machine (`bench/scaling.py`), "
        "all on one private PostgreSQL (as in the PostgreSQL section) and one private Redis (`redis-server`, "
        "loopback, no persistence), each process on its own port with `--redis-url`; one more run is one "
        "process without `--redis-url` on the same PostgreSQL, the reference of the Redis hop. For the "
        "fan-out, a control runs as many copies of that one-process run at once as the most processes, "
        "each with its own database and, from the one driver, its own room of clients and senders, "
        "sharing nothing: what taking turns on this machine's cores costs that many busy processes by "
        "themselves. The driver "
        "spreads its clients over the processes (client i on process i mod N), so the room has members on "
        "every process and each message crosses to all of them. Each run sends a warm-up round first, "
        "checked but not measured, so that what each process pays once (its writer's connection, its "
        "first read of the room) is not counted per message. Server CPU is every server process's, read "
        "from `/proc` at the measured rounds' boundaries, as are PostgreSQL's (its backends) and Redis's; "
        "Redis's bytes and PostgreSQL's transactions are counted over the whole run (sign-ins, presence, "
        "heartbeats and the warm-up too, per message of all the rounds); *read from PostgreSQL* counts "
        "the messages the processes delivered from the "
        "database because Redis had not brought them in time (the chain's gap fill). Each run gets a "
        "fresh database and an emptied Redis; of several runs the table shows the one that spent the "
        "least server CPU per delivery (the least disturbed on a shared machine). "
        f"The section took {fmt(scaling.get('seconds'), 0)} s.",
        "",
    ]
    for key in (FANOUT, LATENCY):
        found = points(results, key)
        if not found:
            continue
        workload = titles[key]
        lines += [f"**{workload['title']}**: {workload['description']}.", "", *table(found), ""]
    lines += reading(results)
    return lines


def reading(results: Results) -> list[str]:
    """What the fan-out figures say about the targets, chosen by the numbers."""
    found = points(results, FANOUT)
    if not found:
        return []
    out = []
    h = hop(found)
    if h is not None:
        verdict = "meets" if h <= TARGET_HOP else "misses"
        out.append(
            f"The Redis hop: one process with `--redis-url` spends {fmt(h)}× the server CPU per delivery of "
            f"one process without it: it {verdict} the target of ≤ {TARGET_HOP}×. What it adds per message "
            "is publishing its batch (one `PUBLISH` per batch, encoded once), reading its own batch back "
            "from the channel and the chain's bookkeeping, shared by the room's deliveries."
        )
    for p in found:
        if p.processes == 1 or not p.redis:
            continue
        e = efficiency(found, p)
        if e is None:
            continue
        verdict = "meets" if e >= TARGET_EFFICIENCY else "misses"
        out.append(
            f"{p.processes} processes make {fmt_int(p.per_core)} deliveries per second per busy server "
            f"core, {fmt_pct(e)} of one process's with Redis (the target's reference: the hop has a target "
            f"of its own) and {fmt_pct(efficiency(found, p, redis=False))} of one's without: it {verdict} "
            f"the target of ≥ {TARGET_EFFICIENCY:.0%}."
        )
    out += control_reading(found)
    turn = (section_results(results) or {}).get("turn")
    if turn:
        out.append(
            f"A turn of the commit chain (one message inserted and committed, the chain's lock held, "
            f"{turn['inserts']:,} in a row from one connection) took {fmt(turn['mean_ms'], 3)} ms on "
            f"average (p50 {fmt(turn['p50_ms'], 3)}, p99 {fmt(turn['p99_ms'], 3)} ms): about "
            f"{fmt_int(1000 / turn['mean_ms'])} turns a second for all processes together."
        )
    return [line for text in out for line in (text, "")]


def machine_part(found: list[Point]) -> tuple[Point, float] | None:
    """The control and its deliveries per busy core against one process's without Redis: what the
    machine costs that many busy processes sharing nothing; None if it did not run."""
    copies, alone = control(found), find(found, 1, False)
    machine = None if copies is None or alone is None else ratio(copies.per_core, alone.per_core)
    return None if copies is None or machine is None else (copies, machine)


def control_reading(found: list[Point]) -> list[str]:
    """What the copies that share nothing say: the machine's own part of the efficiency."""
    part = machine_part(found)
    sharing = None if part is None else find(found, part[0].processes, True)
    if part is None or sharing is None:
        return []
    copies, machine = part
    shared = efficiency(found, sharing)
    of_control = ratio(shared, machine)
    return [
        f"The control: {copies.processes} copies of the one-process run without Redis at once, each "
        "with its own database and its own room of clients and senders (from the one driver), sharing "
        "nothing, make "
        f"{fmt_int(copies.per_core)} deliveries per second per busy server core: {fmt_pct(machine)} of "
        f"one process's alone. That is what this machine's cores cost a server process with "
        f"{copies.processes - 1} others as busy beside it, before any sharing: the "
        f"same work, taking turns on the cores. The {sharing.processes} processes sharing the room "
        f"through Redis keep {fmt_pct(shared)} of one process's, {fmt_pct(of_control)} of what sharing "
        "nothing keeps here."
    ]


def overlap(one: Point, alone: Point) -> str:
    """Whether the runs' spread of both setups overlaps (then the difference is the machine's noise)."""
    if one.cpu_range is None or alone.cpu_range is None:
        return ""
    within = one.cpu_range[0] <= alone.cpu_range[1]
    return (
        f" Over every run the CPU per delivery was {spread(one)} µs with Redis and {spread(alone)} µs "
        "without: "
        + (
            "the ranges overlap, so on this shared machine the difference is within the runs' noise."
            if within
            else "the ranges do not overlap."
        )
    )


def control_note(found: list[Point], p: Point) -> str:
    part = machine_part(found)
    if part is None or part[0].processes != p.processes:
        return ""
    bound = ""
    if part[1] < TARGET_EFFICIENCY:
        bound = (
            " That is below the target itself: sharing that cost nothing beyond the Redis hop (which the "
            "reference, one process with Redis, pays too) would keep about as much, not "
            f"{fmt_pct(TARGET_EFFICIENCY)}, on this machine."
        )
    return (
        f" How much of that is the machine, the control shows: {p.processes} copies of one process that "
        f"share nothing keep {fmt_pct(part[1])} of one process's deliveries per busy core here.{bound}"
    )


def analysis(results: Results, missed: list[str]) -> list[str]:
    """Why a scaling target was missed, from what the run measured."""
    found = points(results, FANOUT)
    one, alone = find(found, 1, True), find(found, 1, False)
    if one is None or alone is None or not ({"scaling-hop", "scaling-efficiency"} & set(missed)):
        return []
    out = []
    if "scaling-hop" in missed:
        out.append(
            f"- **The Redis hop** ({fmt(hop(found))}× the CPU per delivery of one process alone): the "
            f"process with Redis committed {fmt_int(one.commits_per_1k)} transactions per 1,000 messages "
            f"against {fmt_int(alone.commits_per_1k)} without, and publishes and reads back each batch "
            f"once; what is left is the chain's bookkeeping per message.{overlap(one, alone)}"
        )
    if "scaling-efficiency" in missed:
        several = [p for p in found if p.redis and p.processes > 1]
        for p in [p for p in several if (efficiency(found, p) or 0) < TARGET_EFFICIENCY]:
            others = (p.postgres_us or 0) + (p.redis_us or 0)
            out.append(
                f"- **Deliveries per busy core with {p.processes} processes** "
                f"({fmt_pct(efficiency(found, p))} of one process's): the same load split over "
                f"{p.processes} processes is committed in smaller batches ({fmt_int(p.commits_per_1k)} "
                f"transactions per 1,000 messages against {fmt_int(one.commits_per_1k)} with one process): "
                "each process's group commit gathers only its own senders' messages, and in this closed "
                f"loop each process has only 1/{p.processes} of the messages in flight, so even paced (a "
                "batch grows for up to 5 ms while the others commit) its batches stay smaller. Every "
                "process still receives every batch (busy, it reads the others' at most every 10 ms, "
                "together), and its own batches reach its recipients as writes of their own, so each "
                "process wakes up more often for less work. The processes also share the machine's two "
                "cores with the driver, PostgreSQL "
                f"and Redis ({fmt(p.busy)} server cores busy; PostgreSQL and Redis {fmt(others, 3)} µs per "
                "delivery more), so with more processes than cores they take turns on them."
                + control_note(found, p)
            )
    return [*out, ""]
