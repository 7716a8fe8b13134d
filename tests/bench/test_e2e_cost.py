"""The encrypted-dm cost bench: it runs against a real server, both kinds are measured on frames of
one size, and its section renders."""

from __future__ import annotations

import dataclasses

from bench.report import e2e

from bench import e2e_cost


def test_measure_and_report() -> None:
    cost = e2e_cost.measure(messages=200, rounds=1)
    assert cost.frame_bytes > 500 and cost.messages == 200 and cost.rounds == 1
    for kind in (cost.plain, cost.encrypted):
        assert kind.deliveries_per_second > 0 and kind.server_cpu_us > 0
    lines = e2e.section({"e2e_cost": dataclasses.asdict(cost)})
    assert lines[0] == "### End-to-end encrypted direct messages"
    assert f"| encrypted | {cost.encrypted.deliveries_per_second:,.0f} |" in "\n".join(lines)
    assert e2e.section({}) == []
