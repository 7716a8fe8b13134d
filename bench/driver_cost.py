"""What it would cost the load driver to decode every delivery instead of counting it.

``python -m bench.driver_cost`` runs workload (a) (or a smaller one: ``--clients``,
``--senders``, ``--messages``, ``--rounds``) against the coalesced baseline server and
against chatapp, alternately with the suite's counting receivers and with receivers
that decode each delivery through the protocol object
(:mod:`bench.driver.decoding`), and prints, per server and mode, the best
deliveries per second and the driver's CPU per delivery. Against the baseline
(the cheapest server there is) the driver is what sets the pace, so its rate there
is about what the driver can absorb on one core. The decision it informs, and the
figures, are in docs/design.md ("Benchmarks").
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec

from bench import accounts
from bench.run import Bench, log
from bench.workloads import THROUGHPUT_A, Workload

MODES = {False: "counting", True: "decoding"}


def measure(bench: Bench, workload: Workload, target: str, decode: bool) -> dict[str, Any]:
    """One run of ``workload`` against a fresh ``target`` server; the driver's result."""
    server = bench.start_server(target)
    try:
        spec = msgspec.structs.replace(bench.spec(workload, target, server), decode_live=decode)
        return bench.drive(spec, timeout=600.0)
    finally:
        server.stop()
        bench.drop_run_database()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.driver_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=THROUGHPUT_A.clients)
    parser.add_argument("--senders", type=int, default=THROUGHPUT_A.senders)
    parser.add_argument("--messages", type=int, default=THROUGHPUT_A.messages)
    parser.add_argument("--rounds", type=int, default=THROUGHPUT_A.rounds)
    parser.add_argument("--repeats", type=int, default=3, help="runs per server and mode (the best is shown)")
    parser.add_argument("--targets", default="coalesced,chatapp", help="comma-separated: coalesced, chatapp")
    args = parser.parse_args(argv)
    workload = dataclasses.replace(
        THROUGHPUT_A, clients=args.clients, senders=args.senders, messages=args.messages, rounds=args.rounds
    )
    best: dict[tuple[str, bool], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="chatapp-driver-cost-") as tmp:
        workdir = Path(tmp)
        prepared = accounts.prepare(workdir / "template.db", args.clients)
        bench = Bench(workdir, prepared, workdir / "results")
        for repeat in range(args.repeats):
            for target in args.targets.split(","):
                for decode in (False, True):
                    d = measure(bench, workload, target, decode)
                    clean = not d["problems"] and d["lost"] == d["duplicated"] == 0 and d["verified"]
                    log(
                        f"{target}, {MODES[decode]} ({repeat + 1}/{args.repeats}): "
                        f"{d['deliveries_per_s'] or 0:,.0f} deliveries/s, driver core "
                        f"{(d['driver_cpu_share'] or 0) * 100:.0f}% busy"
                        + ("" if clean else f", {d['problems']}")
                    )
                    key = (target, decode)
                    if clean and (d["deliveries_per_s"] or 0) > (
                        best.get(key, {}).get("deliveries_per_s") or 0
                    ):
                        best[key] = d
    print(
        "| server | receivers | deliveries/s | driver µs per delivery | driver core busy | server core busy |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for (target, decode), d in best.items():
        per = d["driver_cpu_send"] / d["counted"] * 1e6
        server = (d["server"]["cpu_send"] or 0) / d["send_seconds"]
        print(
            f"| {target} | {MODES[decode]} | {d['deliveries_per_s']:,.0f} | {per:.2f} | "
            f"{d['driver_cpu_share'] * 100:.0f}% | {server * 100:.0f}% |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
