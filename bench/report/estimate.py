"""The written estimate of the scaling section: processes and machines for 10,000 and 100,000
concurrent users, computed from this run's figures (``bench.scaling``) and stated assumptions.

The figures come from the open-loop workload (each sender at a steady 20 messages a second, as
people type, not a flood: small commit batches, about one write per delivery), on one process with
Redis and on the most processes measured:

- server CPU per delivery of one process with Redis: the work that grows with deliveries;
- what each further process adds per message (the total server CPU with N processes less that
  with one, per message and per added process): every process receives every message from Redis,
  decodes it and looks up its room, whether or not it has members there;
- PostgreSQL's CPU per message, Redis's CPU per message and subscriber, Redis's bytes per message
  and subscriber; and the duration of a turn of the commit chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.report import scaling
from bench.report.cells import fmt, fmt_int, fmt_pct
from bench.report.lookup import Results

COMMUNITIES = (10_000, 100_000)
MESSAGES_PER_MINUTE = 2.0
"""Messages each concurrent user sends a minute at the busiest hour."""
RECIPIENTS = 50
"""Online members each message goes to, on average (rooms of a few to a few hundred online)."""
CORE_BUDGET = 0.5
"""Of its core a process may use at the busiest hour: room for sign-in storms, replays, bursts."""
CONNECTIONS_PER_PROCESS = 5_000
"""Clients one process holds: the (d) target, 5,000 signed in within 5 s under 250 MiB."""
PROCESSES_PER_MACHINE = 6
"""On an 8-core machine: one core each, two left for the kernel's network work and the rest."""
SPARE = 1
"""Processes more than needed, so that losing one (its clients resume elsewhere) overloads none."""


@dataclass(frozen=True, slots=True)
class Costs:
    delivery_us: float
    """Server CPU per delivery, one process with Redis."""
    process_batch_us: float
    """Server CPU each further process adds per committed batch (measured at about one message a
    batch, so per message there): it receives every batch from Redis."""
    postgres_message_us: float | None
    redis_message_us: float | None
    """Redis CPU per message and subscribing process."""
    redis_bytes: float | None
    """Bytes Redis sends per message and subscribing process."""
    turn_ms: float | None
    measured_processes: int


@dataclass(frozen=True, slots=True)
class Need:
    users: int
    messages_s: float
    deliveries_s: float
    batches_s: float
    """Committed batches a second: one per message, or as many turns as the chain gives."""
    processes: int
    fits: bool
    """False: what each process spends on the other processes' batches is over its share of a core
    by itself, so more processes do not help (the fan-out must be partitioned)."""
    machines: int
    server_cores: float
    receiving_cores: float
    """Of which on the other processes' batches."""
    postgres_cores: float | None
    chain_busy: float | None
    """Share of the chain's time in turns if each message took one turn of its own."""
    redis_cores: float | None
    redis_mb_s: float | None


def costs(results: Results) -> Costs | None:
    found = scaling.points(results, scaling.LATENCY) or scaling.points(results, scaling.FANOUT)
    one = scaling.find(found, 1, True)
    most = max((p for p in found if p.redis), key=lambda p: p.processes, default=None)
    if one is None or most is None or not one.cpu_us or not most.cpu_us or not most.messages:
        return None
    added = 0.0
    if most.processes > 1 and one.messages:
        total_most = most.cpu_us * most.deliveries / most.messages  # µs per message, all processes
        total_one = one.cpu_us * one.deliveries / one.messages
        added = max(0.0, (total_most - total_one) / (most.processes - 1))
    per_message = most.deliveries / most.messages

    def scaled(value: float | None, factor: float) -> float | None:
        return None if value is None else value * factor

    turn = (scaling.section_results(results) or {}).get("turn") or {}
    return Costs(
        delivery_us=one.cpu_us,
        process_batch_us=added,
        postgres_message_us=scaled(most.postgres_us, per_message),
        redis_message_us=scaled(most.redis_us, per_message / most.processes),
        redis_bytes=scaled(most.redis_out, 1 / most.processes),
        turn_ms=turn.get("mean_ms"),
        measured_processes=most.processes,
    )


def need(c: Costs, users: int) -> Need:
    messages_s = users * MESSAGES_PER_MINUTE / 60
    deliveries_s = messages_s * RECIPIENTS
    batches_s = messages_s if not c.turn_ms else min(messages_s, 1000 / c.turn_ms)
    per_process = batches_s * c.process_batch_us / 1e6  # what one more process spends receiving

    def server_cores(processes: int) -> float:
        return deliveries_s * c.delivery_us / 1e6 + (processes - 1) * per_process

    processes = max(1, math.ceil(users / CONNECTIONS_PER_PROCESS))
    fits = per_process < CORE_BUDGET
    while fits and server_cores(processes) > CORE_BUDGET * processes:
        processes += 1
    processes += SPARE
    return Need(
        users=users,
        messages_s=messages_s,
        deliveries_s=deliveries_s,
        batches_s=batches_s,
        processes=processes,
        fits=fits,
        machines=math.ceil(processes / PROCESSES_PER_MACHINE),
        server_cores=server_cores(processes),
        receiving_cores=(processes - 1) * per_process,
        postgres_cores=None if c.postgres_message_us is None else messages_s * c.postgres_message_us / 1e6,
        chain_busy=None if c.turn_ms is None else messages_s * c.turn_ms / 1000,
        redis_cores=None if c.redis_message_us is None else messages_s * processes * c.redis_message_us / 1e6,
        redis_mb_s=None if c.redis_bytes is None else messages_s * processes * c.redis_bytes / 1e6,
    )


def section(results: Results) -> list[str]:
    c = costs(results)
    if c is None:
        return []
    needs = [need(c, users) for users in COMMUNITIES]
    lines = [
        "#### An estimate for larger communities",
        "",
        f"Assumptions: at the busiest hour each concurrent user sends {MESSAGES_PER_MINUTE:g} messages a "
        f"minute and each message goes to {RECIPIENTS} online members on average; a process holds at most "
        f"{CONNECTIONS_PER_PROCESS:,} clients and uses at most {CORE_BUDGET:.0%} of its core; machines have "
        f"8 cores and run {PROCESSES_PER_MACHINE} processes each; {SPARE} process more than needed, so that "
        "one can be lost. Measured in this run, in the open-loop workload (steady rates as people type, "
        f"not a flood, so about one message a batch; with {c.measured_processes} processes where it "
        f"matters): server CPU {fmt(c.delivery_us)} µs per delivery; each further process adds "
        f"{fmt(c.process_batch_us)} µs per batch (it receives every batch from Redis, decodes it and "
        f"hands it out); PostgreSQL {fmt(c.postgres_message_us)} µs per message; Redis "
        f"{fmt(c.redis_message_us)} µs and {fmt_int(c.redis_bytes)} bytes per message and subscribing "
        f"process; a chain turn {fmt(c.turn_ms, 3)} ms, so at most "
        f"{fmt_int(1000 / c.turn_ms if c.turn_ms else None)} batches a second.",
        "",
        "| concurrent users | messages/s | deliveries/s | batches/s | server processes | machines | "
        "server cores busy | of which receiving | PostgreSQL cores | chain busy, one message a turn | "
        "Redis cores | Redis out MB/s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n in needs:
        processes = str(n.processes) if n.fits else f"{n.processes} (does not fit: see below)"
        lines.append(
            f"| {n.users:,} | {fmt_int(n.messages_s)} | {fmt_int(n.deliveries_s)} | {fmt_int(n.batches_s)} | "
            f"{processes} | {n.machines} | {fmt(n.server_cores)} | {fmt(n.receiving_cores)} | "
            f"{fmt(n.postgres_cores)} | {fmt_pct(n.chain_busy)} | {fmt(n.redis_cores, 3)} | "
            f"{fmt(n.redis_mb_s)} |"
        )
    lines += ["", *limits(c, needs), ""]
    return lines


def limits(c: Costs, needs: list[Need]) -> list[str]:
    """What limits it, from the same figures."""
    out = []
    for n in needs:
        by_connections = math.ceil(n.users / CONNECTIONS_PER_PROCESS) + SPARE
        per_process = n.batches_s * c.process_batch_us / 1e6
        if not n.fits:
            out.append(
                f"- **{n.users:,} users: the fan-out to every process does not fit.** Each process receives "
                f"every batch ({fmt_int(n.batches_s)} a second) and would spend {fmt_pct(per_process)} of a "
                f"core on them alone, over its {CORE_BUDGET:.0%}: more processes do not help. The "
                f"{n.processes} processes the clients need (the table's figures assume them) would need the "
                "fan-out partitioned: each process subscribed only to the rooms it has members in (a channel "
                "per room, or per group of rooms) and its users' direct messages, or bigger batches (the "
                "same batches carry more messages when the chain is busier)."
            )
            continue
        bound = "the clients each process holds" if n.processes <= by_connections else "server CPU"
        receiving = n.receiving_cores / (n.server_cores or 1)
        advice = (
            ": most of the CPU goes to the fan-out to every process, so sending each process only the "
            "rooms it has members in (a channel per room, or per group of rooms) would save most of it"
            if receiving > 0.5
            else ""
        )
        out.append(
            f"- **{n.users:,} users**: {n.processes} processes on {n.machines} machine"
            f"{'s' if n.machines > 1 else ''}, set by {bound}; receiving the other processes' batches is "
            f"{fmt_pct(receiving)} of the server CPU, and grows with processes × batches{advice}."
        )
    big = needs[-1]
    if big.chain_busy is not None:
        verdict = (
            "well within one chain"
            if big.chain_busy < 0.5
            else "near or past what one chain gives when each message has a turn of its own; group commit "
            "then puts several messages in a turn (each process's next batch gathers while it waits), so "
            "the chain keeps up at the cost of latency"
        )
        out.append(
            f"- **The commit chain's turns**: {fmt_int(big.messages_s)} messages/s at {fmt(c.turn_ms, 3)} "
            f"ms a turn would keep the chain busy {fmt_pct(big.chain_busy)} of the time with one message per "
            f"turn: {verdict}. A PostgreSQL on another machine lengthens each turn by its network round "
            "trips (two while the lock is held), which is the figure to measure there first."
        )
    if big.redis_mb_s is not None and big.redis_cores is not None:
        over = (
            ": more than the one core Redis runs commands on, so Redis too needs the fan-out partitioned "
            "(Redis 7's sharded pub/sub spreads channels over a cluster's nodes)"
            if big.redis_cores > 1
            else ""
        )
        out.append(
            f"- **Redis pub/sub**: {fmt(big.redis_mb_s)} MB/s out to {big.processes} subscribers and "
            f"{fmt(big.redis_cores, 3)} cores at {big.users:,} users; Redis runs commands on one core, "
            f"and this grows with processes × messages{over}."
        )
    if big.postgres_cores is not None:
        out.append(
            f"- **PostgreSQL**: {fmt(big.postgres_cores)} cores for the message inserts at {big.users:,} "
            "users, one server (sign-ins, history and replays come on top, and grow with users, not "
            "processes)."
        )
    return out
