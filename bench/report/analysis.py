"""What limits chatapp where a target is missed: prose chosen by comparing the measured figures."""

from __future__ import annotations

from bench.report import postgres as pg_report
from bench.report import scaling as scaling_report
from bench.report.cells import fmt, fmt_int, fmt_mib, fmt_pct
from bench.report.hotspots import top_costs
from bench.report.lookup import (
    Results,
    cpu_per_1k,
    cpu_per_message,
    p99_of,
    rate_of,
    ratio_of,
    run_of,
    server_share,
    workload_entry,
)

SATURATED = 0.85


def analysis(results: Results, missed: list[str]) -> list[str]:
    out = ["## What limits chatapp where a target is missed", ""]
    if not missed:
        return [*out, "Every target was met in this run.", ""]
    if "pg" in missed:
        out += pg_report.analysis(pg_report.comparisons(results))
    out += scaling_report.analysis(results, missed)
    no_history = run_of(results, "f", "chatapp")
    for key in ("a", "b"):
        chat, coal = run_of(results, key, "chatapp"), run_of(results, key, "coalesced")
        if key not in missed or not chat or not coal:
            continue
        c1, c2 = cpu_per_1k(chat), cpu_per_1k(coal)
        share, dshare = server_share(chat), chat.get("driver_cpu_share")
        if share and share >= SATURATED and (dshare or 0) < SATURATED:
            bound = "the server's event loop is the bottleneck (its core saturated, the driver's not)"
        elif share and share >= SATURATED:
            bound = "both processes are busy; the machine's two cores are the bottleneck"
        else:
            bound = (
                "the server's core is not saturated either: part of each message's time is spent waiting "
                "(for the database's worker threads, and for the GIL they hold)"
            )
        coal_share, coal_driver = server_share(coal), coal.get("driver_cpu_share")
        base_note = ""
        if (coal_driver or 0) >= SATURATED and (coal_share or 0) < SATURATED:
            base_note = (
                " The coalesced baseline's own figure was set by the driver (its core "
                f"{fmt_pct(coal_driver)} busy, the baseline server's {fmt_pct(coal_share)}): that server can "
                "go faster still, so the ratio is, if anything, flattering to chatapp."
            )
        history_note = ""
        if key == "a" and no_history:
            off = rate_of(no_history)
            history_note = (
                f" With durable history off ((f)) chatapp relays {fmt_int(off)} deliveries/s, "
                f"{fmt_pct(ratio_of(off, rate_of(coal)))} of the baseline: storing every message before "
                f"delivery costs {fmt_pct(1 - (ratio_of(rate_of(chat), off) or 1))} of the throughput, and "
                "the relay path itself the rest of the gap. Storing costs three things: the writer's "
                "bookkeeping on the event loop (a future per message, the batch's rows and results), the "
                "INSERT and COMMIT in the writer thread, whose Python parts hold the GIL the event loop "
                "needs, and the wait for the commit itself: in a closed loop (16 messages in flight per "
                "sender) every millisecond a message waits for its batch to commit is throughput lost."
            )
        out.append(
            f"- **({key}) throughput**: chatapp spends {fmt(c1, 2)} ms of server CPU per 1,000 deliveries, "
            f"the coalesced baseline {fmt(c2, 2)} ms: {fmt(ratio_of(c1, c2), 1)}× the work per delivery. "
            f"chatapp's core was {fmt_pct(share)} busy and the driver's {fmt_pct(dshare)}: "
            f"{bound}.{base_note}"
            f"{history_note} Heaviest in the profile (inclusive, of the event loop's message-path "
            f"samples): {top_costs(results)}."
        )
    if "c" in missed:
        chat, coal = run_of(results, "c", "chatapp"), run_of(results, "c", "coalesced")
        off_c = run_of(results, "f-c", "chatapp")
        spec = (workload_entry(results, "c") or {}).get("workload", {})
        offered = (spec.get("senders") or 0) * (spec.get("rate") or 0)
        p50 = (chat or {}).get("latency_ms", {}).get("p50")
        text = (
            f"- **(c) latency**: p99 {fmt(p99_of(chat))} ms (p50 {fmt(p50)} ms) against {fmt(p99_of(coal))} "
            f"ms for the coalesced baseline at the same offered load; chatapp's core was "
            f"{fmt_pct(server_share(chat))} busy, the baseline's {fmt_pct(server_share(coal))}."
        )
        if off_c:
            text += (
                f" With history off the same load gives p50 {fmt(off_c['latency_ms'].get('p50'))} ms and "
                f"p99 {fmt(p99_of(off_c))} ms, and {fmt(cpu_per_message(off_c))} ms of server CPU per "
                f"message against {fmt(cpu_per_message(chat))} ms with it: at {fmt_int(offered)} messages/s "
                "a group-commit batch holds about "
                "one message, so each message pays a whole transaction (a nonce look-up, the insert, a "
                "read-back, the commit), each statement a round trip to an aiosqlite thread."
            )
        out.append(text)
    if "f" in missed and no_history:
        on = run_of(results, "a", "chatapp")
        out.append(
            f"- **(f) durable history**: with history chatapp spends {fmt(cpu_per_1k(on), 2)} ms of server "
            f"CPU per 1,000 deliveries, without it {fmt(cpu_per_1k(no_history), 2)} ms; its p50 is "
            f"{fmt((on or {}).get('latency_ms', {}).get('p50'))} ms against "
            f"{fmt(no_history.get('latency_ms', {}).get('p50'))} ms. Both count against a closed loop: the "
            "writer's per-message bookkeeping on the event loop (a future, the row, the result), the INSERT "
            "and COMMIT in the writer thread, which holds the GIL for their Python parts, and the wait for "
            "the commit before anyone sees the message (durability before acknowledgment, which this "
            "target does not ask to give up)."
        )
    if "e" in missed:
        storm, alone = run_of(results, "e", "chatapp"), run_of(results, "c", "chatapp")
        st = (storm or {}).get("storm") or {}
        during = (st.get("window_latency_ms") or {}).get("p99")
        login = (st.get("login_ms") or {}).get("p50")
        out.append(
            f"- **(e) login storm**: each of the {st.get('logins')} password logins costs an argon2id "
            "verification (19 MiB, 2 passes) in the server's hashing pool: one thread fewer than the "
            "cores (here one), at the lowest CPU priority (`SCHED_IDLE`), so it only gets CPU the event "
            "loop and the driver leave. What is left is what priorities cannot share out: the machine's "
            "2 cores serve the event loop, the database thread, the driver and the hash at once, and "
            "each hash sweeps 19 MiB through the caches and memory bus the others use; and each login "
            "then opens a session and joins the room (database writes, which take their turn with the "
            "message writer's). p99 of messages sent while the storm lasted: "
            f"{fmt(during)} ms, against {fmt(p99_of(alone))} ms without it; logins took {fmt(login)} ms "
            f"(p50), and the server relayed {fmt_int(rate_of(storm))} of the 20,000 deliveries/s offered."
        )
    conn = run_of(results, "d", "chatapp")
    if "d" in missed and conn:
        n, ready = conn["clients"], conn.get("ready_clients", 0)
        cpu = conn["server"].get("cpu_connect")
        within = (
            f"signing {n:,} clients in took {fmt(conn.get('connect_seconds'))} s"
            if ready == n
            else f"{ready:,} of {n:,} clients were signed in after {fmt(conn.get('connect_seconds'))} s"
        )
        quantiles = ", ".join(f"{q} by {t:.1f} s" for q, t in (conn.get("ready_quantiles") or {}).items())
        out.append(
            f"- **(d) connections**: {within} ({quantiles}), using {fmt(cpu)} s of server CPU "
            f"({fmt(ratio_of(cpu, ready / 1000) if ready else None)} ms per client signed in), against "
            f"{fmt((run_of(results, 'd', 'coalesced') or {}).get('connect_seconds'))} s for the baseline to "
            "accept all of them. Each `resume` is one read and one write in the server's session "
            "batches (many sign-ins per transaction, one thread hop each on SQLite), so the database is no "
            "longer what paces it; what does is the work per connection on one event loop: accepting "
            "it, the stream machinery of its first reads, the `welcome` and `auth_ok`, and the presence "
            "frames — every sign-in is announced to everyone already online until the room passes "
            f"`--room-status-limit` (500): {fmt_int(conn.get('presence_received'))} presence frames for "
            f"{ready:,} clients. The server has one core for this; the driver, signing in at most 50 at "
            f"once, has the other. {conn.get('signin_retries', 0)} sign-ins were answered `server_error` "
            "and retried."
        )
    if "d-rss" in missed and conn:
        out.append(f"- **(d) memory**: peak RSS {fmt_mib(conn['server'].get('peak_rss'))} MiB.")
    churn = run_of(results, "h", "chatapp")
    if "h" in missed and churn:
        signins = churn.get("signins") or {}
        out.append(
            "- **(h) sign-in churn**: nothing in the store makes the message writer wait for a sign-in or "
            "a replay any more (the writes are group-committed, the reads run on reader threads of their "
            "own); what is left is CPU. Each sign-in replays about "
            f"{fmt_int(signins.get('replayed_mean'))} messages, at about 7 µs of SQLite and 6 µs of Python "
            "each on the reader threads (none on the event loop), plus its login, its presence frames to "
            "the room and its goodbye: with 20 a second that is most of a core on a machine of two, shared "
            "with the driver. The readers hold the GIL while they encode a page, and the event loop "
            "waits for it; acknowledgments wait with it. The spread between runs (in the table) shows "
            "how much other work on the machine moves this figure."
        )
    if "r" in missed:
        out.append(
            "- **(r) registrations**: the hashes themselves cost little with the test parameters; each "
            "registration is announced to everyone already online (500 sign-ins: 125,000 presence "
            "frames on one event loop), and the hash thread runs at the lowest CPU priority, so it "
            "only gets the CPU the event loop and the driver leave idle."
        )
    return [*out, ""]
