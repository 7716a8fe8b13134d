"""The scaling section of the bench (bench/scaling.py) at tiny counts: real server processes on a
private PostgreSQL and a private Redis, the driver's clients spread over them, every message delivered
once and in order to the members of every process; and its report section, targets and estimate.

Like the other bench tests these assert nothing about speed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bench.report import estimate, targets
from bench.report import scaling as scaling_report

from bench import scaling
from tests.bench.test_smoke import assert_all_delivered_once_in_order

pytestmark = pytest.mark.skipif(
    scaling.unavailable() is not None, reason=f"the scaling section needs: {scaling.unavailable()}"
)

FANOUT = scaling.ScalingWorkload(
    key=scaling_report.FANOUT,
    title="fan-out smoke",
    clients=4,
    senders=2,
    messages=15,
    description="smoke",
    control=True,
)


def test_one_and_two_processes_deliver_everything_and_the_section_reports_it(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    results = scaling.measure([FANOUT], logs, lambda _: None, counts=(1, 2), turns=20)

    (entry,) = results["workloads"]
    assert set(entry["runs"]) == {"1", "1r", "2r", "2c"}
    copies = entry["runs"].pop("2c")
    for key, outcome in entry["runs"].items():
        assert "error" not in outcome, outcome.get("error")
        d = outcome["driver"]
        # Presence of a sign-in on the other process may come late, while the clock runs.
        assert_all_delivered_once_in_order(d, other=frozenset({"presence"}))
        assert d["expected"] == 4 * 2 * 15
        assert d["server"]["cpu_send"] is not None
        assert set(d["watched_cpu_send"]) == {"postgres", "redis"}
        assert outcome["server_exit"] == [0] * int(key[0])
        assert outcome["commits"] > 0
        # Without Redis there is no chain; with it, loopback Redis brought every batch.
        assert outcome["chain_filled"] == (None if key == "1" else 0)
    # Without --redis-url nothing is published (Redis hears only the bench's own INFO); with it each
    # message's batch is (30 messages of over 100 bytes), and two subscribers get it back.
    alone = entry["runs"]["1"]["redis_bytes"]
    two = entry["runs"]["2r"]["redis_bytes"]
    assert alone["received"] < 1000 < 30 * 100 < two["received"]
    assert two["sent"] > 2 * 30 * 100
    # The two processes each served half of the clients (client i on process i mod 2).
    logged = [path.read_text() for path in sorted(logs.glob("scaling-03-2r-*.log"))]
    assert [len(re.findall(r"event=resume\b", text)) for text in logged] == [2, 2]
    assert results["turn"]["inserts"] == 20 and results["turn"]["mean_ms"] > 0

    # The control: two copies of the one-process run, each with its own database and its own room of
    # clients and senders, each delivering all of its room's messages and none of the other's.
    assert "error" not in copies, copies.get("error")
    d = copies["driver"]
    assert_all_delivered_once_in_order(d)
    assert d["clients"] == 2 * 4 and d["senders"] == 2 * 2
    assert d["expected"] == d["counted"] == 2 * 4 * 2 * 15
    assert d["server"]["cpu_send"] > 0
    assert copies["server_exit"] == [0, 0] and copies["commits"] > 0
    servers = sorted(path for path in logs.glob("scaling-04-2c-*.log") if "driver" not in path.name)
    logged = [path.read_text() for path in servers]
    assert [len(re.findall(r"event=resume\b", text)) for text in logged] == [4, 4]
    assert "redis" not in "".join(logged).lower()
    entry["runs"]["2c"] = copies

    report = {"scaling": results}
    text = "\n".join(scaling_report.section(report))
    assert "### Several processes" in text
    for label in (
        "1 process, no Redis",
        "1 process with Redis",
        "2 processes with Redis",
        "2 processes sharing nothing (2 copies of 1 process, no Redis)",
    ):
        assert f"| {label} |" in text
    assert "The control: 2 copies of the one-process run" in text
    rows = targets.scaling(report)
    assert [row.key for row in rows] == ["scaling-hop", "scaling-efficiency"]
    assert all(row.ok is not None for row in rows)


def costs(delivery_us: float, batch_us: float, turn_ms: float | None = 0.5) -> estimate.Costs:
    return estimate.Costs(
        delivery_us=delivery_us,
        process_batch_us=batch_us,
        postgres_message_us=100.0,
        redis_message_us=5.0,
        redis_bytes=200.0,
        turn_ms=turn_ms,
        measured_processes=4,
    )


def test_estimate_takes_the_processes_the_clients_or_the_cpu_need() -> None:
    small = estimate.need(costs(1.0, 10.0), 10_000)
    assert small.messages_s == pytest.approx(10_000 * estimate.MESSAGES_PER_MINUTE / 60)
    assert small.deliveries_s == pytest.approx(small.messages_s * estimate.RECIPIENTS)
    # Few clients per process and little CPU: the clients decide, plus the spare.
    assert small.fits
    assert small.processes == 10_000 // estimate.CONNECTIONS_PER_PROCESS + estimate.SPARE
    assert small.machines == 1
    assert small.chain_busy == pytest.approx(small.messages_s * 0.5 / 1000)
    assert small.redis_mb_s == pytest.approx(small.messages_s * small.processes * 200 / 1e6)
    # CPU-bound: as many processes as keep each within its share of a core.
    heavy = estimate.need(costs(200.0, 10.0), 10_000)
    assert heavy.fits
    working = heavy.processes - estimate.SPARE
    assert working > 10_000 // estimate.CONNECTIONS_PER_PROCESS
    deliveries = heavy.deliveries_s * 200.0 / 1e6
    per_process = heavy.batches_s * 10.0 / 1e6
    assert deliveries + (working - 1) * per_process <= estimate.CORE_BUDGET * working
    assert deliveries + (working - 2) * per_process > estimate.CORE_BUDGET * (working - 1)


def test_estimate_says_when_the_fan_out_to_every_process_does_not_fit() -> None:
    # The chain gives at most 1,000 turns a second (1 ms each): batches are capped there.
    need = estimate.need(costs(1.0, 600.0, turn_ms=1.0), 100_000)
    assert need.batches_s == pytest.approx(1000.0)
    assert not need.fits  # each process would spend 60% of a core receiving
    assert need.processes == 100_000 // estimate.CONNECTIONS_PER_PROCESS + estimate.SPARE
    assert need.receiving_cores == pytest.approx((need.processes - 1) * 0.6)
    lines = estimate.limits(costs(1.0, 600.0, turn_ms=1.0), [need])
    assert "does not fit" in lines[0]


def test_a_run_without_postgresql_or_redis_says_so_in_the_report() -> None:
    report = {"scaling": {"skipped": "redis-server is not installed"}}
    assert scaling_report.section(report) == [
        "### Several processes",
        "",
        "Not measured in this run: redis-server is not installed.",
        "",
    ]
    (row,) = targets.scaling(report)
    assert row.ok is None and "redis-server is not installed" in row.measured
    assert estimate.section(report) == []


def test_a_control_below_the_target_is_said_to_bound_it() -> None:
    """When the copies that share nothing keep less than the target themselves, the missed target's
    analysis says that sharing at no cost could not reach it on this machine; above it, not."""

    def found(control_us: float) -> list[scaling_report.Point]:
        return [
            scaling_report.Point(key="1", processes=1, redis=False, cpu_us=0.25),
            scaling_report.Point(key="1r", processes=1, redis=True, cpu_us=0.30),
            scaling_report.Point(key="4r", processes=4, redis=True, cpu_us=0.40),
            scaling_report.Point(key="4c", processes=4, redis=False, copies=True, cpu_us=control_us),
        ]

    four = found(0.0)[2]
    slow = scaling_report.control_note(found(0.25 / 0.77), four)
    assert "keep 77% of one process's" in slow and "below the target itself" in slow
    fast = scaling_report.control_note(found(0.25 / 0.90), four)
    assert "keep 90% of one process's" in fast and "below the target" not in fast
