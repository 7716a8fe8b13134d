"""Run the benchmark suite and write ``docs/performance.md`` (what ``make bench`` calls).

For every workload, the chatapp server and the two baseline servers
(:mod:`bench.baseline_server`) are measured one after the other in this same
run, each as a fresh subprocess, each loaded by the driver (:mod:`bench.driver`)
in its own process. Then workload (a) is run once more with the chatapp server
under py-spy to show where its time goes. The side measurements come last,
each with servers of its own; among them the scaling section
(:mod:`bench.scaling`: 1, 2 and 4 server processes on one PostgreSQL and one
Redis). Raw results go to
``bench/results/`` (not committed); the report and its chart go to ``docs/``.

``python -m bench.run --quick`` runs a small version of everything in well
under a minute, to check the machinery.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from bench import accounts, e2e_cost, file_latency, filter_cost, postgres, profile, scaling, servers
from bench.driver.spec import DriverSpec, ReplaySpec, StormSpec
from bench.driver_process import run_driver
from bench.machine import loadavg, machine
from bench.signins.spec import ChurnSpec, RegistrationSpec, wrap
from bench.workloads import THROUGHPUT_A, Workload, default_suite, quick_suite

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"

SIDE_MEASUREMENTS = ("filter_cost", "e2e_cost", "files", "scaling")
"""Measurements with a server of their own, after the workloads; with --only, only those it names."""

Spec = DriverSpec | ChurnSpec | RegistrationSpec
"""What a driver process is given: the load driver's spec, or one of the sign-in drivers'."""


def shown(path: Path) -> str:
    """A path as the report shows it: relative to the repository when inside it."""
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def raise_fd_limit() -> int:
    """Allow as many descriptors as the hard limit: servers started from here inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Bench:
    def __init__(
        self,
        workdir: Path,
        accounts_: accounts.Accounts,
        results_dir: Path,
        pg: postgres.BenchPostgres | None = None,
    ) -> None:
        self.workdir = workdir
        self.pg = pg
        """The PostgreSQL of the ``chatapp-pg`` runs; None when it is not installed."""
        self.pg_url: str | None = None
        self.accounts = accounts_
        self.results_dir = results_dir
        self.counter = 0
        self.server_help = servers.chatapp_help()
        self.churn_accounts: dict[tuple[int, int, int, float, float], accounts.ChurnAccounts] = {}

    def churn_template(self, workload: Workload) -> accounts.ChurnAccounts:
        """The database of a churn workload, made on first use (its messages would disturb the others)."""
        live_rate = workload.senders * (workload.rate or 0.0)
        churn = int(workload.duration * workload.signin_rate) + 10
        key = (workload.clients, churn, workload.churn_missed, live_rate, workload.signin_rate)
        if key not in self.churn_accounts:
            log(f"preparing {workload.clients} accounts, {churn} to sign in, {workload.churn_missed} missed")
            self.churn_accounts[key] = accounts.prepare_churn(
                self.workdir / f"churn{len(self.churn_accounts)}.db",
                workload.clients,
                churn,
                missed=workload.churn_missed,
                live_rate=live_rate,
                signin_rate=workload.signin_rate,
            )
        return self.churn_accounts[key]

    def start_server(
        self,
        target: str,
        extra: tuple[str, ...] = (),
        profile_to: Path | None = None,
        template: accounts.Accounts | accounts.ChurnAccounts | None = None,
    ) -> servers.ServerProcess:
        self.counter += 1
        log_path = self.results_dir / "logs" / f"{self.counter:02d}-{target}.log"
        if target == "chatapp":
            url = self.run_database(template or self.accounts)
            return servers.chatapp_server(url, log_path, extra, profile_to=profile_to).start()
        if target == postgres.TARGET:
            assert self.pg is not None
            self.pg_url = self.pg.database_for((template or self.accounts).template)
            return servers.chatapp_server(self.pg_url, log_path, extra, profile_to=profile_to).start()
        return servers.baseline_server(target, log_path).start()

    def run_database(self, template: accounts.Accounts | accounts.ChurnAccounts) -> str:
        """The database URL for this run's chatapp server: a fresh copy of the prepared one."""
        return accounts.sqlite_url(template.copy_to(self.workdir / f"run{self.counter}.db"))

    def drop_run_database(self) -> None:
        """Remove this run's database (they add up over a suite)."""
        for suffix in ("", "-wal", "-shm"):
            for leftover in self.workdir.glob(f"run{self.counter}.db{suffix}"):
                leftover.unlink(missing_ok=True)
        if self.pg is not None and self.pg_url is not None:
            self.pg.drop(self.pg_url)
            self.pg_url = None

    def spec(self, workload: Workload, target: str, server: servers.ServerProcess) -> DriverSpec:
        n = workload.clients
        replay = None
        if workload.replay_missed:
            replay = ReplaySpec(
                filler_token=self.accounts.tokens[-1],
                laggard_token=self.accounts.tokens[-2],
                missed=workload.replay_missed,
                start_after=workload.replay_after,
            )
        storm = None
        if workload.storm_logins:
            storm = StormSpec(
                usernames=self.accounts.storm_usernames[: workload.storm_logins],
                password=self.accounts.password,
                start_after=workload.storm_after,
            )
        return DriverSpec(
            target="chatapp" if target.startswith("chatapp") else "baseline",
            host=server.host,
            port=server.port,
            clients=n,
            senders=workload.senders,
            messages=workload.messages,
            rounds=min(workload.rounds, workload.naive_rounds) if target == "naive" else workload.rounds,
            rate=workload.rate,
            window=workload.window,
            tokens=self.accounts.tokens[:n] if target.startswith("chatapp") else [],
            usernames=self.accounts.usernames[:n],
            server_pid=server.pid,
            connect_concurrency=workload.connect_concurrency,
            connect_timeout=workload.connect_timeout,
            hold=workload.hold,
            storm=storm,
            replay=replay,
            tls="--tls" in workload.server_args,
        )

    def signin_spec(
        self, workload: Workload, server: servers.ServerProcess, template: accounts.ChurnAccounts | None
    ) -> ChurnSpec | RegistrationSpec:
        if workload.kind == "registrations":
            return RegistrationSpec(
                host=server.host,
                port=server.port,
                usernames=[f"newcomer{i:05d}" for i in range(workload.clients)],
                password=self.accounts.password,
            )
        assert template is not None
        return ChurnSpec(
            host=server.host,
            port=server.port,
            tokens=template.tokens[: workload.clients],
            usernames=template.usernames[: workload.clients],
            resume_last_id=template.last_id,
            chatters=workload.senders,
            rate=workload.rate or 1.0,
            duration=workload.duration,
            churn_usernames=template.churn_usernames,
            churn_password=template.password,
            signin_rate=workload.signin_rate,
            connect_concurrency=workload.connect_concurrency,
        )

    def drive(self, spec: Spec, timeout: float) -> dict[str, Any]:
        """Run the driver ``spec`` is for in a process of its own; its result."""
        stderr_path = self.results_dir / "logs" / f"{self.counter:02d}-driver.log"
        if isinstance(spec, DriverSpec):
            module, payload = "bench.driver", msgspec.json.encode(spec)
        else:
            module, payload = "bench.signins", wrap(spec)
        return run_driver(module, payload, stderr_path, timeout)

    def run_one(self, workload: Workload, target: str, profile_to: Path | None = None) -> dict[str, Any]:
        started = time.monotonic()
        churn = self.churn_template(workload) if workload.kind == "churn" else None
        server = self.start_server(target, workload.server_args, profile_to, churn)
        outcome: dict[str, Any] = {"target": target}
        try:
            spec: Spec
            if workload.kind in ("churn", "registrations"):
                spec = self.signin_spec(workload, server, churn)
            else:
                spec = self.spec(workload, target, server)
            budget = workload.connect_timeout + 120.0 * max(1, workload.rounds) + 120.0 + workload.duration
            pg_before = self.pg.cpu_seconds() if self.pg is not None and self.pg_url else None
            outcome["driver"] = self.drive(spec, budget)
            if pg_before is not None and self.pg is not None and (pg_after := self.pg.cpu_seconds()):
                outcome["postgres_cpu"] = round(pg_after - pg_before, 3)
        except Exception as exc:  # recorded in the report, the suite goes on
            outcome["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        finally:
            outcome["server_exit"] = server.stop()
            outcome["server_log"] = shown(server.log_path)
            outcome["server_problems"] = server.problems()
            self.drop_run_database()
        outcome["wall_seconds"] = round(time.monotonic() - started, 2)
        return outcome

    def run_workload(self, workload: Workload) -> dict[str, Any]:
        """Run every target ``repeats`` times, interleaved; keep every outcome and pick the best.

        The machine may be shared: another process taking a core slows whichever run it hits. The
        best of several runs (highest deliveries/s, or lowest p99 for latency workloads) is the least
        disturbed one; every target gets the same treatment, and the report shows the spread.
        """
        entry: dict[str, Any] = {"workload": dataclasses.asdict(workload), "runs": {}, "all_runs": {}}
        if workload.needs and (workload.needs_flag is None or workload.needs_flag not in self.server_help):
            entry["pending"] = f"not yet measurable: needs {workload.needs}"
            return entry
        for repeat in range(workload.repeats):
            for target in workload.targets:
                if target == postgres.TARGET and self.pg is None:
                    continue  # not installed: the report says so
                label = f"{workload.title}: {target}" + (
                    f" ({repeat + 1}/{workload.repeats})" if workload.repeats > 1 else ""
                )
                log(f"{label} ...")
                outcome = self.run_one(workload, target)
                entry["all_runs"].setdefault(target, []).append(outcome)
                log(f"{label}: {_brief(outcome)}")
        for target, outcomes in entry["all_runs"].items():
            entry["runs"][target] = best(outcomes, workload.kind)
        return entry


def best(outcomes: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    good = [o for o in outcomes if "driver" in o and not o["driver"].get("problems")]
    if not good:
        return outcomes[-1]
    if kind == "churn":
        return min(good, key=lambda o: o["driver"]["ack_ms"].get("p99") or float("inf"))
    if kind == "registrations":
        return min(good, key=lambda o: o["driver"].get("ready_seconds") or float("inf"))
    if kind in ("latency", "storm"):
        return min(good, key=lambda o: o["driver"]["latency_ms"].get("p99") or float("inf"))
    return max(good, key=lambda o: o["driver"].get("deliveries_per_s") or 0.0)


def _brief(outcome: dict[str, Any]) -> str:
    if "error" in outcome:
        return "ERROR " + str(outcome["error"])[:300]
    d = outcome["driver"]
    parts = [f"{outcome['wall_seconds']}s"]
    if d.get("kind") == "registrations":
        parts.append(f"{d['ready']}/{d['count']} ready in {d['ready_seconds']} s, {d['retries']} retries")
        parts.append(f"failed {d['failed']}")
        return ", ".join(parts + d["problems"])
    if d.get("kind") == "churn":
        ack = d["ack_ms"]
        parts.append(f"acks {d['acked']}/{d['sent']} p50 {ack['p50']} p99 {ack['p99']} max {ack['max']} ms")
        if d.get("signins"):
            s = d["signins"]
            parts.append(
                f"sign-ins {s['ok']}/{s['attempted']} ok, failed {s['failed']}, "
                f"unfinished {s['unfinished']}, synced p50 {s['synced_ms']['p50']} "
                f"p99 {s['synced_ms']['p99']} ms"
            )
        return ", ".join(parts + d["problems"])
    if d.get("deliveries_per_s"):
        parts.append(f"{d['deliveries_per_s']:,.0f} deliveries/s")
    if d["latency_ms"].get("p99") is not None:
        parts.append(f"p99 {d['latency_ms']['p99']} ms")
    if d.get("connect_seconds") is not None:
        parts.append(f"ready {d['connect_seconds']} s")
    parts.append(f"lost {d['lost']} dup {d['duplicated']}")
    if d.get("problems"):
        parts.append("problems: " + "; ".join(d["problems"])[:300])
    return ", ".join(parts)


def run_profile(bench: Bench, rounds: int) -> dict[str, Any]:
    if servers.py_spy() is None:
        return {"error": "py-spy is not installed"}
    workload = dataclasses.replace(THROUGHPUT_A, rounds=rounds)
    raw = bench.results_dir / "profile-a.raw"
    log(f"profile: workload (a) x{rounds} rounds under py-spy ...")
    outcome = bench.run_one(workload, "chatapp", profile_to=raw)
    log(f"profile: {_brief(outcome)}")
    result: dict[str, Any] = {"run": outcome, "raw": shown(raw), "rounds": rounds}
    if raw.exists():
        result["summary"] = dataclasses.asdict(profile.summarize(raw))
    else:
        result["error"] = "py-spy wrote no profile"
    return result


def run_suite(suite: list[Workload], args: argparse.Namespace) -> dict[str, Any]:
    """Run every workload of ``suite`` (and the profile, unless told not to); the raw results."""
    began = time.monotonic()
    fd_limit = raise_fd_limit()
    needed = max((w.clients for w in suite), default=1)
    if needed + 100 > fd_limit:
        log(f"the descriptor limit is {fd_limit}: workloads over {fd_limit - 100} clients will fail")
    storm = max((w.storm_logins for w in suite), default=0)
    info = machine()
    results: dict[str, Any] = {"machine": info, "quick": args.quick, "workloads": []}
    with tempfile.TemporaryDirectory(prefix="chatapp-bench-") as tmp:
        workdir = Path(tmp)
        log(f"preparing {needed} accounts with sessions and {storm} for the login storm ...")
        # Two accounts more than the most clients: the filler and the laggard of the replay workload.
        prepared = accounts.prepare(workdir / "template.db", needed + 2, storm)
        pg = None
        if any(postgres.TARGET in w.targets for w in suite):
            skipped = postgres.unavailable()
            results["postgres"] = {"skipped": skipped} if skipped else {}
            if skipped is None:
                log("starting a private PostgreSQL ...")
                pg = postgres.BenchPostgres(workdir)
        bench = Bench(workdir, prepared, args.results, pg)
        try:
            for workload in suite:
                results["workloads"].append(bench.run_workload(workload))
            if not args.no_profile and suite:  # --only naming side measurements alone prepares no accounts
                results["profile"] = run_profile(bench, 2 if args.quick else args.profile_rounds)
        finally:
            if pg is not None:
                pg.stop()
    extra = set(args.only.split(",")) if args.only else set(SIDE_MEASUREMENTS)
    if "filter_cost" in extra:
        log("measuring the content filter's cost per message ...")
        cost = filter_cost.measure(2_000 if args.quick else 20_000, 3 if args.quick else 5)
        results["filter_cost"] = dataclasses.asdict(cost)
    if "e2e_cost" in extra:
        log("measuring what an encrypted direct message costs the server against a plain one ...")
        e2e = e2e_cost.measure(1_000 if args.quick else 5_000, 2 if args.quick else 3)
        results["e2e_cost"] = dataclasses.asdict(e2e)
    if "files" in extra:
        log("measuring chat latency while a 20 MiB file is uploaded and downloaded ...")
        files = file_latency.measure()
        results["file_latency"] = {**dataclasses.asdict(files), "worst_ratio": round(files.worst_ratio, 2)}
    if "scaling" in extra:
        log("scaling: the same workloads on 1, 2 and 4 server processes sharing PostgreSQL and Redis ...")
        workloads = scaling.quick_workloads() if args.quick else scaling.default_workloads()
        turns = 100 if args.quick else 1000
        results["scaling"] = scaling.measure(workloads, args.results / "logs", log, turns=turns)
    info["loadavg_end"] = loadavg()
    info["suite_seconds"] = round(time.monotonic() - began, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small version of every workload")
    parser.add_argument(
        "--only", default="",
        help="comma-separated workload keys (a,b,c,d,e,n50,...) and side measurements (filter_cost, "
        "e2e_cost, files: chat latency during a 20 MiB transfer, scaling: 1, 2 and 4 server processes "
        "on PostgreSQL and Redis); without it, everything",
    )
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--profile-rounds", type=int, default=8)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "performance.md")
    parser.add_argument("--chart", type=Path, default=None, help="default: next to --out, .png")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="write the report again from the results of the last run (after changing bench/report/)",
    )
    args = parser.parse_args(argv)

    from bench import report  # matplotlib is only needed here, after the runs

    raw_path = args.results / ("results-quick.json" if args.quick else "results.json")
    chart = args.chart or args.out.with_suffix(".png")
    if args.report_only:
        results = json.loads(raw_path.read_text())
        raw = args.results / "profile-a.raw"
        if results.get("profile", {}).get("summary") and raw.exists():
            # Summarised again, so a change to bench/profile.py shows without a new run.
            results["profile"]["summary"] = dataclasses.asdict(profile.summarize(raw))
        report.write(results, args.out, chart)
        log(f"wrote {shown(args.out)} from {shown(raw_path)}")
        return 0

    suite = quick_suite() if args.quick else default_suite()
    if args.only:
        keys = set(args.only.split(","))
        suite = [w for w in suite if w.key in keys]
    args.results.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(args.results / "logs", ignore_errors=True)
    results = run_suite(suite, args)
    raw_path.write_text(json.dumps(results, indent=1))
    report.write(results, args.out, chart)
    log(
        f"wrote {shown(args.out)} and {chart.name} in {results['machine']['suite_seconds']} s "
        f"(raw results: {shown(raw_path)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
