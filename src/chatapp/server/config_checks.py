"""What is wrong with a server config, as one sentence naming the flag: ranges, listeners that
exclude each other, origins, and the open-file limit the connections must fit in."""

from __future__ import annotations

import importlib.util

from chatapp.server.capacity import HEADROOM, connections_allowed
from chatapp.server.config import PORT_OFF, Config, flag
from chatapp.server.web_origin import parse_origin


def validate(config: Config, descriptor_limit: int | None = None) -> str | None:
    """Say what is wrong with a config, or None.

    ``descriptor_limit`` is the most files the server will be able to open
    (the hard limit, which it raises itself to at start; None: unknown or
    unlimited, not checked).
    """
    if not 0 <= config.port <= 65535:
        return "--port must be between 0 and 65535"
    problem = _check_listeners(config)
    if problem:
        return problem
    if config.max_frame < 1024:
        return "--max-frame must be at least 1024 bytes"
    if config.room_status_limit < 0:
        return "--room-status-limit must be 0 (no limit) or more"
    if config.history_days < 0:
        return "--history-days must be 0 (keep forever) or more"
    if config.max_text < 1:
        return "--max-text must be at least 1"
    if not 1 <= config.workers <= MAX_WORKERS:
        return f"--workers must be from 1 to {MAX_WORKERS}"
    if config.workers > 1 and not config.redis_url:
        return (
            "--workers more than 1 needs --redis-url and a PostgreSQL database (--database-url "
            "postgresql+asyncpg://...), through which the worker processes share messages and data"
        )
    problem = _check_files(config) or _check_redis(config)
    if problem:
        return problem
    for name in (
        "auth_timeout",
        "ping_interval",
        "ping_timeout",
        "session_ttl",
        "shutdown_timeout",
        "send_rate",
        "status_rate",
        "repeat_window",
        "close_grace",
        "login_delay_max",
        "login_failure_decay",
        "sqlite_busy_timeout",
        "tls_handshake_timeout",
        "web_request_timeout",
    ):
        if getattr(config, name) <= 0:
            return f"{flag(name)} must be positive"
    for name in (
        "send_queue_limit",
        "max_connections_per_address",
        "max_connections_per_subnet",
        "send_burst",
        "status_burst",
        "max_unauthenticated_frames",
        "max_invalid_frames",
        "argon2_memory_kib",
        "argon2_time_cost",
        "argon2_parallelism",
        "replay_max",
        "replay_budget",
        "max_rooms_per_user",
        "room_creations_per_hour",
        "login_failures_per_account",
        "login_failures_per_address",
    ):
        if getattr(config, name) < 1:
            return f"{flag(name)} must be at least 1"
    for name in ("account_send_rate", "account_send_burst", "repeat_limit"):
        if getattr(config, name) < 0:
            return f"{flag(name)} must be 0 or more"
    if not 0 <= config.min_password_score <= 4:
        return "--min-password-score must be between 0 and 4"
    if not 0 <= config.ipv4_subnet_prefix <= 32:
        return "--ipv4-subnet-prefix must be between 0 and 32"
    if not 0 <= config.ipv6_subnet_prefix <= 128:
        return "--ipv6-subnet-prefix must be between 0 and 128"
    return _check_descriptors(config, descriptor_limit)


def _check_files(config: Config) -> str | None:
    if config.max_file_size < 0:
        return "--max-file-size must be 0 (no file sharing) or more"
    for name in ("file_quota", "files_budget", "max_uploads"):
        if getattr(config, name) < 1:
            return f"{flag(name)} must be at least 1"
    if config.file_expiry <= 0:
        return "--file-expiry must be positive"
    return None


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
MAX_WORKERS = 64


def _check_redis(config: Config) -> str | None:
    if not config.redis_url:
        return None
    if not config.redis_url.startswith(REDIS_SCHEMES):
        return "--redis-url must be redis://HOST[:PORT][/DB], rediss://HOST[:PORT][/DB] or unix://PATH"
    if not config.resolved_database_url.startswith("postgresql"):
        return (
            "--redis-url needs a PostgreSQL database (--database-url postgresql+asyncpg://...): "
            "several processes share PostgreSQL, never an SQLite file"
        )
    if not config.history:
        return "--redis-url needs the message history: --no-history has no commits for the processes to share"
    if importlib.util.find_spec("redis") is None or importlib.util.find_spec("hiredis") is None:
        return "--redis-url needs the Redis client: pip install 'chatapp[redis]'"
    return None


def _check_listeners(config: Config) -> str | None:
    if not 0 <= config.tls_port <= 65535:
        return "--tls-port must be between 0 and 65535"
    if bool(config.tls_cert) != bool(config.tls_key):
        return "--tls-cert and --tls-key go together: give both, or neither"
    if config.tls_cert and config.tls:
        return "--tls self-signed and --tls-cert are exclusive: give one"
    if not config.plain and not config.tls_enabled:
        return "--no-plain leaves no listener: give --tls self-signed or --tls-cert and --tls-key"
    if config.plain and config.tls_enabled and config.port == config.tls_port != 0:
        return f"--port and --tls-port are both {config.port}: a listener is either plain or TLS"
    return _check_web(config)


def _check_web(config: Config) -> str | None:
    for name in ("web_port", "web_tls_port"):
        port = getattr(config, name)
        if port != PORT_OFF and not 0 <= port <= 65535:
            return f"{flag(name)} must be between 0 and 65535"
    if config.web_tls_port != PORT_OFF and not config.tls_enabled:
        return "--web-tls-port needs a certificate: give --tls self-signed, or --tls-cert and --tls-key"
    taken = {"--port": config.port if config.plain else PORT_OFF}
    if config.tls_enabled:
        taken["--tls-port"] = config.tls_port
    taken["--web-port"] = config.web_port
    taken["--web-tls-port"] = config.web_tls_port
    seen: dict[int, str] = {}
    for option, port in taken.items():
        if port in (PORT_OFF, 0):
            continue
        if port in seen:
            return f"{seen[port]} and {option} are both {port}: each listener needs a port of its own"
        seen[port] = option
    for origin in config.web_origin:
        if parse_origin(origin) is None:
            return f"--web-origin {origin!r} is not an origin: scheme://host[:port], scheme http or https"
    return None


def _check_descriptors(config: Config, descriptor_limit: int | None) -> str | None:
    if config.max_connections < 0:
        return "--max-connections must be 0 (as many as the open-file limit allows) or more"
    if descriptor_limit is None:
        return None
    allowed = connections_allowed(descriptor_limit)
    if allowed < 1:
        return (
            f"the open-file limit ({descriptor_limit}) leaves no descriptor for connections: the server "
            f"keeps {HEADROOM} for itself; raise it (ulimit -Hn, or LimitNOFILE= in a systemd unit)"
        )
    if config.max_connections > allowed:
        return (
            f"--max-connections {config.max_connections} is more than the open-file limit allows: "
            f"{descriptor_limit} descriptors less {HEADROOM} kept for the server leave {allowed}; "
            "raise the limit (ulimit -Hn, or LimitNOFILE= in a systemd unit) or lower --max-connections"
        )
    return None
