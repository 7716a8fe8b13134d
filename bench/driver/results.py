"""What the load driver measured: one :class:`DriverResult` per run, printed as JSON."""

from __future__ import annotations

import msgspec

from bench.stats import Latency


class ServerUsage(msgspec.Struct):
    cpu_connect: float | None = None
    cpu_send: float | None = None
    rss_before: int | None = None
    rss_ready: int | None = None
    rss_end: int | None = None
    peak_rss: int | None = None


class StormResult(msgspec.Struct):
    logins: int = 0
    ok: int = 0
    failed: dict[str, int] = {}
    start: float = 0.0
    """Seconds after the send phase started."""
    end: float = 0.0
    login_ms: Latency = msgspec.field(default_factory=Latency)
    window_latency_ms: Latency = msgspec.field(default_factory=Latency)
    """End-to-end latency of the messages sent while the storm was on."""


class ReplayResult(msgspec.Struct):
    missed: int = 0
    fill_seconds: float | None = None
    """Time for the filler to have all ``missed`` messages committed and echoed."""
    first_id: int = 0
    last_fill_id: int = 0
    start: float = 0.0
    """Seconds after the send phase started that the laggard sent ``resume``."""
    auth_ms: float | None = None
    """From ``resume`` to ``auth_ok``."""
    synced_ms: float | None = None
    """From ``resume`` to ``synced``: the whole replay."""
    replayed: int = 0
    has_more: bool = False
    received: int = 0
    """Every message the laggard got, replayed and live."""
    gaps: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    window_latency_ms: Latency = msgspec.field(default_factory=Latency)
    """End-to-end latency of the live messages (to everyone else) sent while the replay ran."""
    problems: list[str] = []


class DriverResult(msgspec.Struct):
    spec_target: str
    loop: str
    clients: int
    senders: int
    messages: int
    rounds: int = 1
    warmup_rounds: int = 0
    """Rounds before the measured ones: their messages are checked, not counted or timed."""
    ready_clients: int = 0
    connect_seconds: float | None = None
    ready_quantiles: dict[str, float] = {}
    """Seconds after the first connect by which 10%, 25%, ... of the N clients were signed in."""
    settle_seconds: float | None = None
    presence_received: int = 0
    expected: int = 0
    counted: int = 0
    send_seconds: float | None = None
    """Sum over rounds of first send to last delivery."""
    deliveries_per_s: float | None = None
    round_rates: list[float] = []
    latency_ms: Latency = msgspec.field(default_factory=Latency)
    max_send_lateness_ms: float | None = None
    verified: bool = False
    received_messages: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    id_order_violations: int = 0
    other_frames: dict[str, int] = {}
    disconnected: int = 0
    signin_retries: int = 0
    """Sign-ins answered ``server_error`` or ``rate_limited`` and tried again."""
    timed_out: bool = False
    problems: list[str] = []
    server: ServerUsage = msgspec.field(default_factory=ServerUsage)
    watched_cpu_send: dict[str, float] = {}
    """CPU seconds of each of the spec's ``watched_pids`` (children included) in the send phase."""
    driver_cpu_connect: float | None = None
    driver_cpu_send: float | None = None
    driver_sys_send: float | None = None
    """Of which in the kernel (socket reads and writes)."""
    driver_cpu_share: float | None = None
    """Driver CPU seconds per wall second of the send phase (1.0 is one core saturated)."""
    verify_seconds: float | None = None
    storm: StormResult | None = None
    replay: ReplayResult | None = None
