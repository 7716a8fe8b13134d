"""What the sign-in drivers measured, printed as JSON."""

from __future__ import annotations

import msgspec

from bench.stats import Latency


class Window(msgspec.Struct):
    start: float
    """Seconds after the send phase started."""
    latency_ms: Latency


class ChurnSignins(msgspec.Struct):
    attempted: int = 0
    ok: int = 0
    failed: dict[str, int] = {}
    unfinished: int = 0
    """Still waiting for ``synced`` when the run ended."""
    auth_ms: Latency = msgspec.field(default_factory=Latency)
    """From ``login`` to ``auth_ok``."""
    synced_ms: Latency = msgspec.field(default_factory=Latency)
    """From ``login`` to ``synced``: the sign-in with its whole replay."""
    replayed_mean: float | None = None
    has_more: int = 0
    """Sign-ins whose replay was cut (``synced.has_more``)."""


class ChurnResult(msgspec.Struct):
    kind: str = "churn"
    clients: int = 0
    ready_clients: int = 0
    connect_seconds: float | None = None
    chatters: int = 0
    sent: int = 0
    acked: int = 0
    errors: dict[str, int] = {}
    """Error frames the chatters got (a refused send is not acknowledged)."""
    send_seconds: float = 0.0
    ack_ms: Latency = msgspec.field(default_factory=Latency)
    windows: list[Window] = []
    signins: ChurnSignins | None = None
    disconnected: int = 0
    problems: list[str] = []


class RegistrationResult(msgspec.Struct):
    kind: str = "registrations"
    count: int = 0
    connected: int = 0
    ready: int = 0
    ready_seconds: float | None = None
    """From the moment every ``register`` was sent to the last ``synced``."""
    latency_ms: Latency = msgspec.field(default_factory=Latency)
    retries: int = 0
    failed: dict[str, int] = {}
    problems: list[str] = []
