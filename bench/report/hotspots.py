"""Where the time goes: the profile of workload (a), and its heaviest functions for the prose."""

from __future__ import annotations

from bench.report.cells import align, fmt_int, fmt_pct, row
from bench.report.lookup import Results, driver_of, rate_of


def profile(results: Results) -> list[str]:
    prof = results.get("profile")
    if not prof:
        return []
    out = ["## Where the time goes: a profile of workload (a)", ""]
    if "summary" not in prof:
        return [*out, f"No profile: {prof.get('error') or (prof.get('run') or {}).get('error')}", ""]
    s = prof["summary"]
    d = driver_of(prof.get("run"))
    rate = f"{fmt_int(rate_of(d))} deliveries/s under the profiler" if d else "no driver result"
    threads = ", ".join(f"{k} {fmt_pct(v)}" for k, v in s["threads"].items())
    phases = ", ".join(f"{k} {fmt_pct(v)}" for k, v in s.get("phases", {}).items())
    out += [
        f"The chatapp server ran workload (a) for {prof['rounds']} rounds under `py-spy record --rate 250 "
        f"--threads --nonblocking` ({rate}; the raw stacks are in `{prof['raw']}`, not committed). "
        f"{s['samples']:,} samples after leaving out start-up and shutdown. By thread: {threads}. The event "
        f"loop's samples by phase: {phases}. The tables cover the message path (signing in and out left "
        "out); a native call (a socket write, msgspec) is charged to the Python line that made it.",
        "",
        "Where the event loop spends its own time (leaf lines):",
        "",
        row("share", "where", "source"),
        align("r", "l", "l"),
    ]
    for e in s["self_lines"]:
        out.append(row(fmt_pct(e["share"]), f"`{e['name']}`", f"`{e['source']}`" if e["source"] else ""))
    out += [
        "",
        "chatapp functions, inclusive (the function and everything it calls):",
        "",
        row("share", "function"),
        align("r", "l"),
    ]
    for e in s["chatapp_inclusive"]:
        out.append(row(fmt_pct(e["share"]), f"`{e['name']}`"))
    if s.get("signin_inclusive"):
        out += [
            "",
            "The sign-in path (the connect phase of the same run), as shares of its own samples:",
            "",
            row("share", "function"),
            align("r", "l"),
        ]
        for e in s["signin_inclusive"]:
            out.append(row(fmt_pct(e["share"]), f"`{e['name']}`"))
    return [*out, ""]


_GENERIC = (
    "ChatServer._accept",
    "TcpListener._accept",
    "Connection.run (",
    "Connection._handle_line",
    "TcpConnection._handle_events",
    "ConnectionShell._handle_events",
    "ConnectionShell.run (",
    "dispatch (",
    "with_session (",
    "MessageWriter._run",
    "on_resume (",
    "on_login (",
)


def top_costs(results: Results, count: int = 5, signin: bool = False) -> str:
    """The heaviest chatapp functions of the profile, for the prose."""
    summary = (results.get("profile") or {}).get("summary") or {}
    entries = summary.get("signin_inclusive" if signin else "chatapp_inclusive") or []
    chosen = [e for e in entries if not any(g in e["name"] for g in _GENERIC)][:count]
    return ", ".join(f"`{e['name'].split(' (')[0]}` {fmt_pct(e['share'])}" for e in chosen)
