"""The scaling section of ``make bench``: the same workloads on 1, 2 and 4 server processes.

Every run gets a fresh PostgreSQL database (from the prepared accounts' template) on one private
PostgreSQL, and the processes share one private Redis (:mod:`bench.redis_server`), each process on
its own port of 127.0.0.1. The driver spreads its clients over the processes (client ``i`` on process
``i mod N``), so every room has members on every process and each message crosses to all of them.
One more run, one process without ``--redis-url`` on the same PostgreSQL, is what the Redis hop is
measured against. And for the fan-out workload, a control: as many copies of that one-process run
as the most processes measured, side by side, each with its own database (no Redis) and, from the
one driver, its own room of clients and senders (``Setup.copies``, ``DriverSpec.groups``), sharing
nothing: what running that many busy servers on this machine's cores costs a process by itself,
without any of the sharing.

Each run sends one warm-up round before the measured ones (``ScalingWorkload.warmup_rounds``): what
each process pays once (its message writer's connection, its first read of a room) would otherwise
be counted as the cost of every message of a send phase that lasts a fraction of a second, once per
process. Per run: deliveries/s, server CPU of every server process in the measured rounds (read by
the driver from ``/proc`` at their boundaries), PostgreSQL's and Redis's CPU over the same phase, the
bytes Redis took in and sent out, and the transactions PostgreSQL committed (each message batch is
one, a turn of the commit chain: these two over the whole run, the warm-up's messages counted too);
and once, how long a turn of the chain takes (:mod:`bench.chain_turn`).
:mod:`bench.report.scaling` lays them out, with the estimate for larger communities.

``python -m bench.scaling`` runs the section alone and prints its raw results.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from bench import accounts, chain_turn, postgres, redis_server, servers
from bench.driver.spec import DriverSpec
from bench.driver_process import run_driver

PROCESS_COUNTS = (1, 2, 4)


@dataclass(frozen=True)
class Setup:
    """How the server runs: how many processes, and whether they share a Redis."""

    processes: int
    redis: bool
    copies: bool = False
    """``processes`` copies of the one-process run (no Redis) at once, sharing nothing."""

    @property
    def key(self) -> str:
        return f"{self.processes}{'r' if self.redis else ''}{'c' if self.copies else ''}"

    @property
    def label(self) -> str:
        if self.copies:
            n = self.processes
            return f"{n} processes sharing nothing ({n} copies of 1 process, no Redis)"
        noun = "process" if self.processes == 1 else "processes"
        return f"{self.processes} {noun}" + (" with Redis" if self.redis else ", no Redis")


def setups(counts: tuple[int, ...] = PROCESS_COUNTS, *, control: bool = False) -> list[Setup]:
    """One process without Redis (the reference of the Redis hop), then each count with Redis; with
    ``control``, copies of the first as many as the most processes."""
    found = [Setup(1, redis=False), *(Setup(n, redis=True) for n in counts)]
    if control and max(counts) > 1:
        found.append(Setup(max(counts), redis=False, copies=True))
    return found


@dataclass(frozen=True)
class ScalingWorkload:
    key: str
    title: str
    clients: int
    senders: int
    messages: int
    """Per sender and round."""
    rounds: int = 1
    warmup_rounds: int = 1
    """Rounds before the measured ones (see :attr:`DriverSpec.warmup_rounds`): what each process
    pays once (its writer's connection, a room's first read) is not counted as the cost of every
    message, where more processes each pay it once more."""
    rate: float | None = None
    """Messages per second per sender (open loop); None: closed loop, 16 in flight per sender."""
    repeats: int = 1
    """Runs per setup (interleaved); the report takes the one that spent the least server CPU per
    delivery: on a shared machine the least disturbed."""
    description: str = ""
    control: bool = False
    """Also run the copies that share nothing (``Setup.copies``)."""


FANOUT = ScalingWorkload(
    key="fanout",
    title="room fan-out, 100 clients (as (a))",
    clients=100,
    senders=10,
    messages=200,
    rounds=3,
    repeats=3,
    description="workload (a): N=100 in one room, S=10 senders, M=200 each as fast as possible (closed loop, "
    "16 in flight per sender), 3 rounds per run after a warm-up round, the best of 3 runs",
    control=True,
)
LATENCY = ScalingWorkload(
    key="latency",
    title="latency at 20 msg/s per sender (as (c))",
    clients=100,
    senders=10,
    messages=60,
    rate=20.0,
    description="workload (c), shorter: N=100, S=10, each sender 20 msg/s (open loop) for 3 s after a "
    "warm-up round of 3 s; one run",
)


def default_workloads() -> list[ScalingWorkload]:
    return [FANOUT, LATENCY]


def quick_workloads() -> list[ScalingWorkload]:
    return [
        dataclasses.replace(FANOUT, clients=20, senders=4, messages=50, rounds=2, repeats=1),
        dataclasses.replace(LATENCY, clients=20, senders=4, messages=20),
    ]


class Scaling:
    """The private PostgreSQL and Redis of the section, and its runs."""

    def __init__(self, workdir: Path, logs: Path, log: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.logs = logs
        self.log = log
        self.counter = 0
        self.pg = postgres.BenchPostgres(workdir)
        try:
            self.redis = redis_server.BenchRedis(workdir)
        except BaseException:
            self.pg.stop()
            raise

    def close(self) -> None:
        self.redis.stop()
        self.pg.stop()

    def run_one(self, workload: ScalingWorkload, setup: Setup, prepared: accounts.Accounts) -> dict[str, Any]:
        """One run of ``workload`` on ``setup``: its servers started on fresh databases, the driver,
        the servers stopped; what the driver measured and what the servers and databases tell.

        The control's copies (``setup.copies``) each have a database of their own and no Redis,
        and the one driver gives each its own clients, as many as the workload's room, and
        senders (:attr:`DriverSpec.groups`): each does what the one process alone does, sharing
        nothing, and they take turns on the cores with each other and the driver as the sharing
        processes do. So their CPU per delivery against one process's is what the machine costs a
        process with that many busy beside it."""
        self.counter += 1
        started = time.monotonic()
        groups = setup.processes if setup.copies else 1
        urls = [self.pg.database_for(prepared.template) for _ in range(groups)]
        self.redis.flush()
        extra = ("--redis-url", self.redis.url) if setup.redis else ()
        name = f"scaling-{self.counter:02d}-{setup.key}"
        procs = [
            servers.chatapp_server(urls[i % groups], self.logs / f"{name}-{i + 1}.log", extra)
            for i in range(setup.processes)
        ]
        outcome: dict[str, Any] = {"setup": dataclasses.asdict(setup)}
        try:
            for proc in procs:
                proc.launch()
            for proc in procs:
                proc.wait_listening()
            spec = self.spec(workload, procs, prepared, groups)
            traffic0 = self.redis.traffic()
            rounds = workload.warmup_rounds + workload.rounds
            timeout = 120.0 + 60.0 * rounds + rounds * workload.messages / (workload.rate or 1000.0)
            stderr = self.logs / f"scaling-{self.counter:02d}-driver.log"
            outcome["driver"] = run_driver("bench.driver", msgspec.json.encode(spec), stderr, timeout)
            traffic1 = self.redis.traffic()
            outcome["redis_bytes"] = {
                "received": traffic1.received - traffic0.received,
                "sent": traffic1.sent - traffic0.sent,
            }
        except Exception as exc:  # recorded in the report, the section goes on
            outcome["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            with ThreadPoolExecutor(len(procs)) as pool:
                outcome["server_exit"] = list(pool.map(lambda proc: proc.stop(), procs))
            outcome["server_problems"] = [proc.problems() for proc in procs]
            outcome["chain_filled"] = chain_filled(procs)
            # The server processes have gone, so their backends have reported their counts.
            counts = [self.commits(url.rsplit("/", 1)[1]) for url in urls]
            outcome["commits"] = None if None in counts else sum(count or 0 for count in counts)
            for url in urls:
                self.pg.drop(url)
        outcome["wall_seconds"] = round(time.monotonic() - started, 2)
        return outcome

    def spec(
        self,
        workload: ScalingWorkload,
        procs: list[servers.ServerProcess],
        prepared: accounts.Accounts,
        groups: int = 1,
    ) -> DriverSpec:
        """The driver's run: the workload's clients and senders on ``procs``, or with ``groups``,
        that many rooms apart of them, each on its own process: client ``i`` signs in as account
        ``i // groups`` (the same accounts in each copy's database)."""
        n = workload.clients * groups
        watched = {"postgres": self.pg.server.pid, "redis": self.redis.pid}
        return DriverSpec(
            target="chatapp",
            host=procs[0].host,
            port=procs[0].port,
            ports=[proc.port for proc in procs],
            clients=n,
            senders=workload.senders * groups,
            messages=workload.messages,
            rounds=workload.rounds,
            warmup_rounds=workload.warmup_rounds,
            rate=workload.rate,
            tokens=[prepared.tokens[i // groups] for i in range(n)],
            usernames=[prepared.usernames[i // groups] for i in range(n)],
            server_pid=procs[0].pid,
            server_pids=[proc.pid for proc in procs[1:]],
            watched_pids={name: pid for name, pid in watched.items() if pid is not None},
            connect_concurrency=50,
            groups=groups,
        )

    def commits(self, database: str) -> int | None:
        """Transactions committed in ``database`` (PostgreSQL's statistics), or None if unknown."""
        try:
            out = self.pg.server.psql(
                f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{database}'"
            ).strip()
        except Exception:
            return None
        return int(out) if out.isdigit() else None

    def run_workload(
        self, workload: ScalingWorkload, prepared: accounts.Accounts, counts: tuple[int, ...]
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {"workload": dataclasses.asdict(workload), "runs": {}, "all_runs": {}}
        for repeat in range(workload.repeats):
            for setup in setups(counts, control=workload.control):
                label = f"scaling, {workload.title}: {setup.label}" + (
                    f" ({repeat + 1}/{workload.repeats})" if workload.repeats > 1 else ""
                )
                self.log(f"{label} ...")
                outcome = self.run_one(workload, setup, prepared)
                entry["all_runs"].setdefault(setup.key, []).append(outcome)
                self.log(f"{label}: {brief(outcome)}")
        for key, outcomes in entry["all_runs"].items():
            entry["runs"][key] = least_cpu(outcomes)
        return entry


CHAIN_LINE = re.compile(r"event=message_chain applied=\d+ filled=(\d+)")


def chain_filled(procs: list[servers.ServerProcess]) -> int | None:
    """Messages the processes delivered from PostgreSQL because Redis had not brought them in time
    (each logs its count when it stops); None without Redis."""
    counts = [CHAIN_LINE.findall(proc.log()) for proc in procs]
    return sum(int(n) for found in counts for n in found) if any(counts) else None


def cpu_per_delivery(outcome: dict[str, Any]) -> float | None:
    """Server CPU seconds per delivery in the send phase, every process added up."""
    d = outcome.get("driver")
    if not d or d.get("problems") or not d.get("counted") or d["server"].get("cpu_send") is None:
        return None
    return float(d["server"]["cpu_send"]) / int(d["counted"])


def least_cpu(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    measured = [o for o in outcomes if cpu_per_delivery(o) is not None]
    return min(measured, key=lambda o: cpu_per_delivery(o) or 0.0) if measured else outcomes[-1]


def brief(outcome: dict[str, Any]) -> str:
    if "error" in outcome:
        return "ERROR " + str(outcome["error"])[:300]
    d = outcome["driver"]
    parts = [f"{outcome['wall_seconds']}s"]
    if d.get("deliveries_per_s"):
        parts.append(f"{d['deliveries_per_s']:,.0f} deliveries/s")
    per = cpu_per_delivery(outcome)
    if per is not None:
        parts.append(f"server CPU {per * 1e6:.2f} µs/delivery")
    if d["latency_ms"].get("p99") is not None:
        parts.append(f"p99 {d['latency_ms']['p99']} ms")
    parts.append(f"lost {d['lost']} dup {d['duplicated']} out of order {d['out_of_order']}")
    if d.get("problems"):
        parts.append("problems: " + "; ".join(d["problems"])[:300])
    return ", ".join(parts)


def unavailable() -> str | None:
    """Why the section cannot run here; None if it can."""
    return postgres.unavailable() or redis_server.unavailable()


def measure(
    workloads: list[ScalingWorkload],
    logs: Path,
    log: Callable[[str], None],
    counts: tuple[int, ...] = PROCESS_COUNTS,
    turns: int = 1000,
) -> dict[str, Any]:
    """Run the section; its raw results (``skipped`` says why when PostgreSQL or Redis is missing)."""
    if (why := unavailable()) is not None:
        return {"skipped": why}
    began = time.monotonic()
    results: dict[str, Any] = {"counts": list(counts), "workloads": []}
    with tempfile.TemporaryDirectory(prefix="chatapp-scaling-") as tmp:
        workdir = Path(tmp)
        needed = max((w.clients for w in workloads), default=1)
        log(f"scaling: preparing {needed} accounts, starting a private PostgreSQL and Redis ...")
        prepared = accounts.prepare(workdir / "template.db", needed)
        scaling = Scaling(workdir, logs, log)
        try:
            for workload in workloads:
                results["workloads"].append(scaling.run_workload(workload, prepared, counts))
            log(f"scaling: timing {turns} turns of the commit chain ...")
            url = scaling.pg.database_for(prepared.template)
            results["turn"] = chain_turn.measure(url, turns, (1, prepared.usernames[0]))
            scaling.pg.drop(url)
        finally:
            scaling.close()
    results["seconds"] = round(time.monotonic() - began, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small workloads, to check the machinery")
    parser.add_argument("--logs", type=Path, default=Path(__file__).resolve().parent / "results" / "logs")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(f"[scaling {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    workloads = quick_workloads() if args.quick else default_workloads()
    print(json.dumps(measure(workloads, args.logs, log, turns=100 if args.quick else 1000), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
