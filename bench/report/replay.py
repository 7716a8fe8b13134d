"""Workload (g): a client catching up on missed history while live traffic goes on."""

from __future__ import annotations

from bench.report.cells import fmt, fmt_int
from bench.report.lookup import Results, p99_of, ratio_of, run_of, workload_entry


def replay(results: Results) -> list[str]:
    d = run_of(results, "g", "chatapp")
    if not d:
        entry = workload_entry(results, "g")
        if entry and not entry.get("pending"):
            outcome = entry["runs"].get("chatapp") or {}
            return ["### (g) History replay", "", f"Failed: {outcome.get('error', 'no result')}", ""]
        return []
    r = d.get("replay") or {}
    alone = run_of(results, "c", "chatapp")
    synced = r.get("synced_ms")
    rate = ratio_of(float(r.get("replayed") or 0), synced / 1000 if synced else None)
    window = r.get("window_latency_ms") or {}
    alone_p50 = (alone or {}).get("latency_ms", {}).get("p50")
    verdict = (
        "every message from the first missed one on arrived exactly once, in id order"
        if not (r.get("gaps") or r.get("duplicated") or r.get("out_of_order") or r.get("problems"))
        else f"**{r.get('gaps')} missing, {r.get('duplicated')} duplicated, {r.get('out_of_order')} out of "
        f"order**; {'; '.join(r.get('problems') or [])}"
    )
    return [
        "### (g) History replay",
        "",
        f"{workload_entry(results, 'g')['workload']['description']}.",  # type: ignore[index]
        "",
        f"- The filler's {r.get('missed', 0):,} messages took {fmt(r.get('fill_seconds'))} s to send and "
        f"commit (ids {r.get('first_id')}–{r.get('last_fill_id')}).",
        f"- The laggard resumed {fmt(r.get('start'))} s into (c): `auth_ok` after "
        f"{fmt(r.get('auth_ms'))} ms, `synced` after {fmt(synced)} ms, with {r.get('replayed', 0):,} "
        "messages replayed "
        f"({fmt_int(rate)} messages/s){'; `has_more`: the cap cut the replay' if r.get('has_more') else ''}. "
        f"In all it received {r.get('received', 0):,} messages: {verdict}.",
        f"- Live latency for the other {d['clients']} clients while the replay ran: p50 "
        f"{fmt(window.get('p50'))} ms, p99 {fmt(window.get('p99'))} ms, max {fmt(window.get('max'))} ms "
        f"({fmt_int(window.get('count'))} deliveries), against p50 {fmt(alone_p50)} ms and p99 "
        f"{fmt(p99_of(alone))} ms for (c) without a replay.",
        "",
    ]
