"""The workloads of the suite, as data.

Each :class:`Workload` says what the driver does and against which servers;
:mod:`bench.run` runs them in order and :mod:`bench.report` lays them out.
A workload that needs a server feature names it in ``needs`` and the server
flag that shows the feature is there in ``needs_flag``: :mod:`bench.run` looks
for the flag in ``chatapp-server --help`` and, if it is missing, lists the
workload in the report as not yet measurable instead of running (or faking) it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from bench.accounts import TEST_ARGON2_ARGS

Kind = Literal[
    "throughput",
    "latency",
    "connections",
    "storm",
    "sweep",
    "history",
    "replay",
    "churn",
    "registrations",
    "pending",
]
Target = Literal["naive", "coalesced", "chatapp", "chatapp-pg"]

ALL_TARGETS: tuple[Target, ...] = ("naive", "coalesced", "chatapp")
WITH_POSTGRES: tuple[Target, ...] = (*ALL_TARGETS, "chatapp-pg")
"""A durable workload measured on PostgreSQL too (bench.postgres); left out when it is not installed."""
DURABLE_HISTORY = "durable history"


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    kind: Kind
    clients: int = 0
    senders: int = 0
    messages: int = 0
    """Per sender and round."""
    rounds: int = 1
    """The send phase repeated on the same connections, to measure over a longer time."""
    naive_rounds: int = 2
    """At most this many rounds against the naive baseline (it is slow; two are plenty to measure it)."""
    rate: float | None = None
    """Messages per second per sender (open loop); None: closed loop with ``window`` in flight."""
    window: int = 16
    targets: tuple[Target, ...] = ALL_TARGETS
    repeats: int = 1
    """Runs per target (interleaved); the report takes the best and shows the spread."""
    storm_logins: int = 0
    storm_after: float = 1.5
    replay_missed: int = 0
    replay_after: float = 1.0
    hold: float = 0.0
    connect_concurrency: int = 50
    connect_timeout: float = 120.0
    server_args: tuple[str, ...] = ()
    duration: float = 0.0
    """Churn: seconds the chatters send (and the sign-ins go on)."""
    signin_rate: float = 0.0
    """Churn: password logins per second (0 in the baseline run without churn)."""
    churn_missed: int = 0
    """Churn: messages each signing-in account missed."""
    needs: str | None = None
    """A server feature this workload cannot run without (listed, not run, while it is missing)."""
    needs_flag: str | None = None
    """The server flag whose presence in ``--help`` shows the feature is there."""
    description: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def deliveries(self) -> int:
        return self.clients * self.senders * self.messages * self.rounds


THROUGHPUT_A = Workload(
    key="a",
    title="(a) throughput, 100 clients",
    targets=WITH_POSTGRES,
    kind="throughput",
    clients=100,
    senders=10,
    messages=200,
    rounds=3,
    repeats=3,
    description="N=100, S=10, M=200 as fast as possible (closed loop, 16 in flight per sender); 3 rounds "
    "per run, best of 3 runs",
)
THROUGHPUT_B = Workload(
    key="b",
    title="(b) throughput, 500 clients",
    kind="throughput",
    clients=500,
    senders=5,
    messages=100,
    rounds=3,
    repeats=2,
    description="N=500, S=5, M=100 as fast as possible (closed loop, 16 in flight per sender); 3 rounds "
    "per run, best of 2 runs",
)
LATENCY_C = Workload(
    key="c",
    title="(c) latency at 20 msg/s per sender",
    targets=WITH_POSTGRES,
    kind="latency",
    clients=100,
    senders=10,
    messages=100,
    rate=20.0,
    repeats=2,
    description="N=100, S=10, each sender 20 msg/s (open loop, evenly phased) for 5 s; best of 2 runs",
)
CONNECTIONS_D = Workload(
    key="d",
    title="(d) 5,000 idle clients",
    kind="connections",
    clients=5000,
    hold=2.0,
    targets=("coalesced", "chatapp"),
    connect_timeout=45.0,
    description="5,000 clients sign in (resume; at most 50 sign-ins in flight; given at most 45 s) and "
    "stay idle 2 s",
)
STORM_E = Workload(
    key="e",
    title="(e) login storm during (c)",
    kind="storm",
    clients=100,
    senders=10,
    messages=100,
    rate=20.0,
    storm_logins=50,
    storm_after=1.5,
    targets=("chatapp",),
    repeats=2,
    description="workload (c) plus 50 concurrent password logins (production argon2) 1.5 s in; best of 2",
)
HISTORY_F = Workload(
    key="f",
    title="(f) durable history off: throughput",
    kind="history",
    clients=100,
    senders=10,
    messages=200,
    rounds=3,
    repeats=2,
    targets=("chatapp",),
    server_args=("--no-history",),
    needs=DURABLE_HISTORY,
    needs_flag="--no-history",
    description="workload (a) against a server started with --no-history (messages relayed from memory, "
    "not committed first), to compare with (a) itself, which runs with history on",
)
HISTORY_F_LATENCY = Workload(
    key="f-c",
    title="(f) durable history off: latency",
    kind="history",
    clients=100,
    senders=10,
    messages=100,
    rate=20.0,
    repeats=2,
    targets=("chatapp",),
    server_args=("--no-history",),
    needs=DURABLE_HISTORY,
    needs_flag="--no-history",
    description="workload (c) against a server started with --no-history, to compare with (c)",
)
REPLAY_G = Workload(
    key="g",
    title="(g) history replay",
    kind="replay",
    clients=100,
    senders=10,
    messages=100,
    rate=20.0,
    replay_missed=10_000,
    replay_after=1.0,
    targets=("chatapp", "chatapp-pg"),
    # The replay cap (10,000 by default) must not cut the missed messages plus the live ones sent
    # while they are replayed: the point is to time a complete catch-up.
    server_args=("--replay-max", "50000"),
    needs=DURABLE_HISTORY,
    needs_flag="--replay-max",
    description="10,000 messages are sent to the room before workload (c) starts; 1 s into (c) a client "
    "that missed them resumes (with last_id just before them) and gets them replayed, then live traffic",
)
EVENT_LOOP_U = replace(
    HISTORY_F,
    key="u",
    title="(u) asyncio's event loop: throughput",
    server_args=("--event-loop", "asyncio"),
    needs="a choice of event loop",
    needs_flag="--event-loop",
    description="workload (a) against a server started with --event-loop asyncio (every other chatapp "
    "run uses uvloop), to show what uvloop gives",
)
EVENT_LOOP_U_LATENCY = replace(
    HISTORY_F_LATENCY,
    key="u-c",
    title="(u) asyncio's event loop: latency",
    server_args=("--event-loop", "asyncio"),
    needs="a choice of event loop",
    needs_flag="--event-loop",
    description="workload (c) against a server started with --event-loop asyncio, to compare with (c)",
)
TLS_T = replace(
    HISTORY_F,
    key="t",
    title="(t) TLS: throughput",
    server_args=("--tls", "self-signed", "--tls-port", "0", "--no-plain"),
    needs="TLS",
    needs_flag="--tls-cert",
    description="workload (a) with every client over TLS 1.3 (a server started with --tls self-signed "
    "--no-plain), to compare with (a) itself, which runs over plain TCP",
)
CHURN_H = Workload(
    key="h",
    title="(h) sign-in churn with catch-up replays",
    kind="churn",
    clients=300,
    senders=30,
    rate=5.0,
    duration=30.0,
    signin_rate=20.0,
    churn_missed=2000,
    targets=("chatapp",),
    repeats=2,
    server_args=TEST_ARGON2_ARGS,
    description="300 clients signed in, 30 of them each sending 5 msg/s to the room for 30 s; meanwhile 20 "
    "password logins per second (test argon2 parameters) of accounts that each missed about 2,000 "
    "messages, each taking its replay up to synced and quitting. The same run without the sign-ins "
    "(h0) is the baseline; best of 2 runs each",
)
CHURN_H0 = replace(
    CHURN_H,
    key="h0",
    title="(h0) the same without churn",
    signin_rate=0.0,
    description="workload (h) without the sign-ins: its baseline",
)
REGISTRATIONS_R = Workload(
    key="r",
    title="(r) 500 registrations at once",
    kind="registrations",
    clients=500,
    targets=("chatapp", "chatapp-pg"),
    server_args=(*TEST_ARGON2_ARGS, "--registrations-per-address", "1000"),
    repeats=2,
    description="500 connections, greeted, each send register at the same moment (test argon2 "
    "parameters); the time until the last one is signed in (its synced); best of 2",
)
SWEEP_POINTS = (50, 100, 250, 1000)
"""N for the chart, besides (b) at N=500 (same S=5, M=100)."""


def sweep(points: tuple[int, ...] = SWEEP_POINTS) -> list[Workload]:
    return [
        replace(
            THROUGHPUT_B,
            key=f"n{n}",
            title=f"sweep N={n}",
            kind="sweep",
            clients=n,
            rounds=2,
            repeats=1,
            naive_rounds=1,
            description=f"N={n}, S=5, M=100 closed loop; 2 rounds (1 against the naive baseline)",
        )
        for n in points
    ]


def default_suite() -> list[Workload]:
    return [
        THROUGHPUT_A,
        THROUGHPUT_B,
        LATENCY_C,
        STORM_E,
        HISTORY_F,
        HISTORY_F_LATENCY,
        EVENT_LOOP_U,
        EVENT_LOOP_U_LATENCY,
        TLS_T,
        REPLAY_G,
        CHURN_H0,
        CHURN_H,
        REGISTRATIONS_R,
        CONNECTIONS_D,
        *sweep(),
    ]


def quick_suite() -> list[Workload]:
    """A small version of every workload, to check the machinery in seconds (``--quick``)."""
    return [
        replace(THROUGHPUT_A, clients=20, senders=4, messages=50, rounds=2, repeats=2),
        replace(THROUGHPUT_B, clients=60, senders=3, messages=40, rounds=2, repeats=1),
        replace(LATENCY_C, clients=20, senders=4, messages=20, repeats=1),
        replace(STORM_E, clients=20, senders=4, messages=20, storm_logins=4, storm_after=0.3, repeats=1),
        replace(CONNECTIONS_D, title="(d) 200 idle clients", clients=200, hold=0.2),
        replace(HISTORY_F, clients=20, senders=4, messages=50, rounds=2, repeats=1),
        replace(HISTORY_F_LATENCY, clients=20, senders=4, messages=20, repeats=1),
        replace(EVENT_LOOP_U, clients=20, senders=4, messages=50, rounds=2, repeats=1),
        replace(EVENT_LOOP_U_LATENCY, clients=20, senders=4, messages=20, repeats=1),
        replace(TLS_T, clients=20, senders=4, messages=50, rounds=2, repeats=1),
        replace(REPLAY_G, clients=20, senders=4, messages=20, replay_missed=500, replay_after=0.2),
        replace(CHURN_H0, clients=30, senders=5, duration=2.0, churn_missed=200, repeats=1),
        replace(CHURN_H, clients=30, senders=5, duration=2.0, churn_missed=200, signin_rate=5.0, repeats=1),
        replace(REGISTRATIONS_R, clients=40, repeats=1),
        *[replace(w, rounds=1) for w in sweep((20, 40))],
    ]
