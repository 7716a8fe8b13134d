"""What the orchestrator asks the sign-in drivers to do, and the tagged JSON it sends them."""

from __future__ import annotations

import msgspec


class ChurnSpec(msgspec.Struct, frozen=True):
    host: str
    port: int
    tokens: list[str]
    """One pre-made resumable session per client."""
    usernames: list[str]
    """The clients' usernames, in the order of ``tokens``."""
    resume_last_id: int
    """The clients resume from here: nothing to replay."""
    chatters: int
    rate: float
    """Messages per second per chatter."""
    duration: float
    churn_usernames: list[str] = []
    churn_password: str = ""
    signin_rate: float = 0.0
    """Password logins per second (0: no churn, the baseline)."""
    settle: float = 60.0
    """Seconds to wait after the send phase for acknowledgments and sign-ins still pending."""
    per_address: int = 20
    connect_concurrency: int = 50
    connect_timeout: float = 120.0


class RegistrationSpec(msgspec.Struct, frozen=True):
    host: str
    port: int
    usernames: list[str]
    password: str
    per_address: int = 20
    timeout: float = 120.0


def wrap(spec: ChurnSpec | RegistrationSpec) -> bytes:
    """The bytes ``python -m bench.signins`` reads for ``spec``."""
    kind = "registrations" if isinstance(spec, RegistrationSpec) else "churn"
    return msgspec.json.encode({"kind": kind, "spec": spec})


def unwrap(raw: bytes) -> ChurnSpec | RegistrationSpec:
    """The spec :func:`wrap` made ``raw`` from."""
    tagged = msgspec.json.decode(raw)
    if tagged["kind"] == "registrations":
        return msgspec.convert(tagged["spec"], RegistrationSpec)
    return msgspec.convert(tagged["spec"], ChurnSpec)
