"""What the orchestrator asks the load driver to do: one :class:`DriverSpec` per run, as JSON."""

from __future__ import annotations

from typing import Literal

import msgspec

Target = Literal["chatapp", "baseline"]


class StormSpec(msgspec.Struct, frozen=True):
    usernames: list[str]
    password: str
    start_after: float = 1.0
    """Seconds after the send phase starts."""


class ReplaySpec(msgspec.Struct, frozen=True):
    """History replay: a client comes back after missing ``missed`` messages, during the send phase.

    Before the N clients connect, a filler (its own account, ``filler_token``) sends ``missed``
    messages to the room; during the send phase the laggard (``laggard_token``, another account)
    resumes with ``last_id`` just before them, and gets them all replayed before live traffic.
    """

    filler_token: str
    laggard_token: str
    missed: int = 10_000
    start_after: float = 1.0
    """Seconds after the send phase starts."""
    window: int = 256


class DriverSpec(msgspec.Struct, frozen=True):
    target: Target
    host: str
    port: int
    clients: int
    senders: int = 0
    messages: int = 0
    """Per sender and round."""
    rounds: int = 1
    """The send phase is repeated this many times on the same connections (more time measured)."""
    warmup_rounds: int = 0
    """Rounds sent before the clock starts, as the measured ones are: every server process has
    opened its connections and read what it caches, and run its message path. Their messages are
    checked (each once, in order) but not counted, timed or measured."""
    rate: float | None = None
    """Messages per second per sender (open loop); None sends as fast as the window allows."""
    window: int = 16
    """Closed loop: a sender's messages in flight at most."""
    text_size: int = 64
    tokens: list[str] = []
    """Resume tokens, one per client (chatapp)."""
    usernames: list[str] = []
    """One per client; the baseline puts them in its frames."""
    server_pid: int | None = None
    ports: list[int] = []
    """Several server processes on ``host`` (the scaling section): client ``i`` connects to
    ``ports[i % len(ports)]``, so a room has members on every process; empty: ``port`` alone."""
    server_pids: list[int] = []
    """The other server processes: their CPU and memory are added to ``server_pid``'s."""
    watched_pids: dict[str, int] = {}
    """Other processes by name (PostgreSQL's postmaster, Redis) whose CPU, their children's included,
    is read at the send phase's boundaries."""
    per_address: int = 20
    connect_concurrency: int = 100
    connect_timeout: float = 120.0
    settle_timeout: float = 60.0
    run_timeout: float = 120.0
    hold: float = 0.0
    """Seconds to stay connected and idle after settling (connection workloads)."""
    storm: StormSpec | None = None
    replay: ReplaySpec | None = None
    verify: bool = True
    tls: bool = False
    """Connect over TLS (the server's certificate is not verified: this measures the cost of TLS; the
    tests check the trust)."""
    groups: int = 1
    """Clients in as many rooms apart, on servers that share nothing (the scaling section's control):
    client ``i`` is in group ``i mod groups`` (with as many ``ports``, on that group's server) and
    gets only the messages of the senders in its group."""
    decode_live: bool = False
    """Decode every delivery through the protocol object while the clock runs instead of only counting
    it: not for the suite, only to measure what that costs the driver (``python -m bench.driver_cost``)."""

    def senders_for(self, index: int) -> list[int]:
        """The senders whose messages client ``index`` gets: those of its group."""
        return [sid for sid in range(self.senders) if sid % self.groups == index % self.groups]

    def group_sizes(self) -> list[int]:
        """How many clients each group has."""
        return [len(range(group, self.clients, self.groups)) for group in range(self.groups)]
