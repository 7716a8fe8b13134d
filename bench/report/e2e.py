"""The section on what an end-to-end encrypted direct message costs the server (``bench.e2e_cost``)."""

from __future__ import annotations

from bench.report.lookup import Results


def section(results: Results) -> list[str]:
    cost = results.get("e2e_cost")
    if not cost:
        return []
    plain, encrypted = cost["plain"], cost["encrypted"]
    ratio = encrypted["server_cpu_us"] / plain["server_cpu_us"] if plain["server_cpu_us"] else float("nan")
    return [
        "### End-to-end encrypted direct messages",
        "",
        f"One sender, one recipient, `dm` frames of {cost['frame_bytes']:,} bytes each, plain or carrying "
        f"one Olm ciphertext, {cost['messages']:,} of each kind per round in windows of 200, rounds "
        f"alternating (`bench/e2e_cost.py`, SQLite, the best of {cost['rounds']} rounds):",
        "",
        "| dm | deliveries/s | server CPU per message |",
        "| --- | ---: | ---: |",
        f"| plain | {plain['deliveries_per_second']:,.0f} | {plain['server_cpu_us']:.1f} µs |",
        f"| encrypted | {encrypted['deliveries_per_second']:,.0f} | {encrypted['server_cpu_us']:.1f} µs |",
        "",
        f"An encrypted message costs the server {ratio:.2f}× the CPU of a plain one of the same size: it "
        "checks the sending device (in memory) and decodes and re-encodes the envelope, and skips the "
        "content rules and the repeated-text check, which cannot read it.",
        "",
    ]
