"""The machine a run was measured on, and how the suite measures (fixed text)."""

from __future__ import annotations

from bench.report.lookup import Results


def machine(results: Results) -> list[str]:
    m = results["machine"]
    loop = "uvloop " + m["uvloop"] if m.get("uvloop") else "asyncio (uvloop not installed)"
    commit = m.get("commit") or "?"
    return [
        "## The machine",
        "",
        f"- {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}",
        f"- {m['implementation']} {m['python']}; event loop: {loop} in the chatapp server, the baseline "
        f"servers and the driver; msgspec {m.get('msgspec')}",
        f"- chatapp {m.get('chatapp')}, commit `{commit}`"
        + (" plus the working tree's uncommitted changes" if m.get("uncommitted", True) else ""),
        f"- load average {m['loadavg_start']} at the start, {m.get('loadavg_end', '?')} at the end "
        "(the machine is shared: other work running at the same time shows up as noise)",
        f"- the whole suite took {m.get('suite_seconds', '?')} s",
        "",
    ]


METHOD = """\
## How it is measured

- **Three servers, same run.** For each workload the chatapp server and two baseline servers are each \
started fresh as a subprocess and loaded by the same driver, one after the other. The baseline \
(`bench/baseline_server.py`) is a bare uvloop line-broadcast server — no accounts, no database, no \
decoding, same NDJSON framing, same 1 MiB cut-off for a client that does not read — in two modes: \
`naive` writes each line to each recipient at once, `coalesced` writes each recipient's lines of one \
event-loop turn with one `write` (as chatapp's outbox does). Ratios compare chatapp with the baselines \
of this same run.
- **chatapp runs with everything on**: production argon2 parameters, activity logging at `info`, every \
per-connection limit checked on every frame. Only the message rate limit is raised (`--send-rate \
1000000 --send-burst 1000000`) so that it never binds. The connection limits stay at their defaults \
(64 per address, 256 per /24): the driver spreads its clients over source addresses 127.x.y.z, 20 per \
address and 12 addresses per /24. Each run \
gets a fresh copy of a prepared SQLite file on disk.
- **Signing in** is a `resume` with a pre-made session token and `last_id` (accounts and sessions are \
inserted before the run; nothing was missed), so argon2 is not in the connect phase — except in the login \
storm (e), where it is the point; the storm's accounts count as having seen every message, so their logins \
measure signing in (argon2, session) and not a history replay, which (g) measures. Every message carries a \
`nonce`, as the chatapp client's do.
- **The driver** (`bench/driver/`) runs all clients in one process on uvloop. While the clock runs it \
only stores each received chunk with its arrival time and counts newlines; senders find their own \
messages coming back (their acknowledgment) by searching the chunk for their marker. After the clock \
stops, every line is decoded with `chatapp.protocol` and checked: each receiver must get every sender's \
messages exactly once and in order, and chatapp's ids must increase. Each text carries the sender, a \
sequence number and its send time (`time.monotonic_ns()`), so latency is end to end on one clock.
- **Closed loop** ((a), (b), the N sweep): each sender keeps at most 16 messages in flight, and a round \
is S senders × M messages; deliveries/s counts from the first send to the last delivery of each round, \
summed over rounds. Latency in a closed loop is mostly queueing (messages in flight ÷ throughput). \
**Open loop** ((c), (e)): each sender sends 20 messages/s on a fixed schedule, the senders evenly \
phased; this is the latency measurement.
- **CPU and memory** come from `/proc/<pid>` at the phase boundaries: server CPU (all threads) per \
1,000 deliveries, its share of one core during the send phase, and its peak RSS (VmHWM). The driver's \
own share of a core is reported too: near 100% means the driver, not the server, may have set the pace.
"""
