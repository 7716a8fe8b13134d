"""Every server setting in one frozen dataclass, filled from flags and ``CHATAPP_*`` env vars.

This is the only module that reads the environment or the command line. The
resulting :class:`Config` is passed down to whatever needs a setting, so tests
build one directly with short timeouts and cheap hashing.

Precedence: command-line flag, then environment variable, then default.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import platformdirs

from chatapp import __version__
from chatapp.protocol.limits import MAX_FRAME_BYTES, MAX_TEXT_CHARS
from chatapp.server import descriptors
from chatapp.server.capacity import HEADROOM, connections_allowed
from chatapp.server.store.engine import is_sqlite, sqlite_file
from chatapp.server.web_origin import parse_origin

ENV_PREFIX = "CHATAPP_"


def default_database_url() -> str:
    """An SQLite file in the user's data directory (created on demand)."""
    path = Path(_data_directory()) / "chatapp.db"
    return f"sqlite+aiosqlite:///{path}"


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The database URL the server would use, for tools such as alembic's env.py."""
    env = os.environ if environ is None else environ
    return env.get(ENV_PREFIX + "DATABASE_URL") or default_database_url()


TLS_PORT = 7778
"""The TLS listener's default port (the client turns TLS on by default for it)."""
TLS_CERT_NAME = "tls-cert.pem"
TLS_KEY_NAME = "tls-key.pem"
"""The files of ``--tls self-signed``, in the server's data directory."""

PORT_OFF = -1
"""The value of ``--web-port`` and ``--web-tls-port`` when they are not given: no listener."""

CONTROL_SOCKET_NAME = "control.sock"
CONTROL_SOCKET_OFF = "none"
"""The ``--control-socket`` value that turns the control socket off."""


def control_socket_path(setting: str, database_url: str) -> Path | None:
    """Where the control socket of ``chatapp-admin`` is (None: turned off).

    ``setting`` is ``--control-socket`` as given ("" for the default): the
    default is ``control.sock`` in the directory of the SQLite database file,
    so that each database has its own; for PostgreSQL (or an SQLite database
    in memory) it is in the user's data directory, where the default database
    would be. The server and chatapp-admin both call this, so that they agree.
    """
    if setting == CONTROL_SOCKET_OFF:
        return None
    if setting:
        return Path(setting).absolute()
    return server_data_directory(database_url) / CONTROL_SOCKET_NAME


def server_data_directory(database_url: str) -> Path:
    """Where the server keeps its own files (the control socket, the self-signed TLS certificate):
    the directory of the SQLite database file, so that each database has its own; for PostgreSQL
    (or an SQLite database in memory), the user's data directory, where the default database
    would be. The server and chatapp-admin both call this, so that they agree."""
    database = sqlite_file(database_url) if is_sqlite(database_url) else None
    return database.absolute().parent if database is not None else Path(_data_directory())


def _data_directory() -> str:
    return platformdirs.user_data_dir("chatapp", appauthor=False)


def _setting(
    default: Any, help: str, *, choices: Sequence[str] | None = None, shown: str | None = None
) -> Any:
    """``shown``: the default as --help says it, when not its value (a port that is off)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "shown": shown})


@dataclasses.dataclass(frozen=True, slots=True)
class Config:
    host: str = _setting("127.0.0.1", "address to listen on")
    port: int = _setting(7777, "TCP port to listen on (0 picks a free one)")
    database_url: str = _setting(
        "",
        "sqlite+aiosqlite:///PATH, or postgresql+asyncpg://USER:PASSWORD@HOST/DATABASE with the postgres "
        "extra (pip install 'chatapp[postgres]') (default: an SQLite file in the user data dir)",
    )
    log_level: str = _setting("info", "log level", choices=("debug", "info", "warning", "error"))
    duplicate_login: str = _setting(
        "reject",
        "what a second login of a signed-in account does: 'reject' it, or 'replace' the first session",
        choices=("reject", "replace"),
    )
    control_socket: str = _setting(
        "",
        "Unix socket chatapp-admin uses to act on this running server, made with mode 0600 "
        f"('{CONTROL_SOCKET_OFF}' turns it off) (default: {CONTROL_SOCKET_NAME} beside the SQLite "
        "database file; for PostgreSQL, in the user data dir)",
    )
    migrate: bool = _setting(
        True, "bring the database schema up to date at start (--no-migrate refuses instead)"
    )
    max_frame: int = _setting(MAX_FRAME_BYTES, "largest frame in bytes")
    max_text: int = _setting(MAX_TEXT_CHARS, "longest message text in characters")
    max_unauthenticated_frames: int = _setting(20, "frames a connection may send before signing in")
    max_invalid_frames: int = _setting(10, "invalid frames in a row that close a connection")
    auth_timeout: float = _setting(30.0, "seconds a connection may stay unauthenticated")
    ping_interval: float = _setting(45.0, "seconds of silence before the server pings a client")
    ping_timeout: float = _setting(30.0, "seconds to wait for any traffic after a ping before closing")
    send_queue_limit: int = _setting(1024 * 1024, "bytes of unsent output after which a client is cut off")
    close_grace: float = _setting(
        2.0,
        "seconds a closing connection gets to flush its last frames (and, when the client closed "
        "its side, for its messages to be stored and acknowledged first)",
    )
    session_ttl: float = _setting(24 * 3600.0, "seconds a resume token stays valid")
    shutdown_timeout: float = _setting(4.0, "seconds graceful shutdown waits before closing the rest")
    max_connections: int = _setting(
        0,
        "simultaneous connections in all (0: as many as the open-file limit allows, "
        f"less {HEADROOM} descriptors kept for the server itself)",
    )
    max_connections_per_address: int = _setting(64, "simultaneous connections from one IP address")
    max_connections_per_subnet: int = _setting(
        256, "simultaneous connections from one network (see --ipv4-subnet-prefix, --ipv6-subnet-prefix)"
    )
    ipv4_subnet_prefix: int = _setting(24, "prefix length of the IPv4 networks counted per subnet")
    ipv6_subnet_prefix: int = _setting(64, "prefix length of the IPv6 networks counted per subnet")
    send_rate: float = _setting(20.0, "messages per second one connection may send (sustained)")
    send_burst: int = _setting(60, "messages one connection may send in a burst")
    status_rate: float = _setting(
        2.0, "joins, leaves, away/back and topic changes per second one connection may make (sustained)"
    )
    status_burst: int = _setting(
        20, "joins, leaves, away/back and topic changes one connection may make at once"
    )
    account_send_rate: float = _setting(
        0.0,
        "messages per second one account may send over all its connections and reconnections "
        "(sustained; 0: the same as --send-rate)",
    )
    account_send_burst: int = _setting(
        0, "messages one account may send in a burst, over all its connections (0: the same as --send-burst)"
    )
    repeat_limit: int = _setting(
        5,
        "identical messages one account may send within --repeat-window, to any rooms or people "
        "(0: no limit)",
    )
    repeat_window: float = _setting(60.0, "seconds over which identical messages are counted")
    login_failures_per_account: int = _setting(5, "failed logins for one account before delays start")
    login_failures_per_address: int = _setting(20, "failed logins from one address before delays start")
    login_delay_max: float = _setting(900.0, "longest delay in seconds imposed after failed logins")
    login_failure_decay: float = _setting(
        600.0, "seconds after which one failed login is forgiven (per account and per address)"
    )
    registrations_per_address: int = _setting(10, "accounts one address may create per hour")
    history: bool = _setting(
        True, "store messages (--no-history: relay only, no history or replay; for measuring)"
    )
    sqlite_synchronous: str = _setting(
        "normal",
        "SQLite durability: 'normal' (a commit survives a crash of the server; WAL synced at checkpoints) "
        "or 'full' (also a power cut; each commit waits for the disk)",
        choices=("normal", "full"),
    )
    history_days: int = _setting(0, "delete messages older than this many days (0: keep forever)")
    replay_max: int = _setting(10_000, "most missed messages replayed on a resume or login")
    replay_budget: int = _setting(
        20_000,
        "missed messages replayed to one account per hour at most, over all its resumes and logins "
        "(the newest are kept)",
    )
    sqlite_busy_timeout: float = _setting(
        5.0, "seconds an SQLite write waits for a lock held by another process before it fails"
    )
    room_status_limit: int = _setting(
        500, "rooms with more online members get no online/offline/away/back events (0: no limit)"
    )
    max_rooms_per_user: int = _setting(100, "rooms one user may be a member of")
    room_creations_per_hour: int = _setting(10, "rooms one user may create per hour")
    argon2_memory_kib: int = _setting(19 * 1024, "argon2id memory cost in KiB (OWASP: 19 MiB)")
    argon2_time_cost: int = _setting(2, "argon2id iterations (OWASP: 2)")
    argon2_parallelism: int = _setting(1, "argon2id lanes (OWASP: 1)")
    hash_workers: int = _setting(
        0, "password hashes computed at once (0: one fewer than the CPU cores, at least 1)"
    )
    filter_file: str = _setting(
        "",
        "TOML file of content rules (words or RE2 patterns to reject, mask or flag) applied to "
        "messages, direct messages, topics, away texts and profiles; read again on SIGHUP (default: none)",
    )
    min_password_score: int = _setting(
        3,
        "lowest zxcvbn strength score (0 to 4) a new password may have, at registration and passwd "
        "(zxcvbn measures its first 100 characters)",
    )
    plain: bool = _setting(
        True,
        "serve plain TCP on --port (--no-plain: TLS only; passwords and messages cross a plain "
        "connection in clear, so it is warned about when --host is not a loopback address)",
    )
    tls: str = _setting(
        "",
        "'self-signed': serve TLS on --tls-port with an ECDSA P-256 key and a self-signed certificate "
        f"made on first start ({TLS_KEY_NAME}, mode 0600, and {TLS_CERT_NAME}, beside the SQLite database "
        "file; for PostgreSQL, in the user data dir) and reused after; its SHA-256 fingerprint is logged "
        "(default: no TLS unless --tls-cert is given)",
        choices=("self-signed",),
    )
    tls_cert: str = _setting(
        "", "PEM certificate (the server's first, then any intermediates) to serve TLS with (needs --tls-key)"
    )
    tls_key: str = _setting("", "PEM private key of --tls-cert (unencrypted)")
    tls_port: int = _setting(
        TLS_PORT, "TCP port of the TLS listener, when --tls or --tls-cert is given (0 picks a free one)"
    )
    tls_handshake_timeout: float = _setting(
        5.0, "seconds a TLS connection may take to finish its handshake before it is closed"
    )
    web_port: int = _setting(
        PORT_OFF,
        "TCP port serving the web client over plain HTTP: its files, and protocol v1 over a WebSocket "
        "at /ws (0 picks a free one; behind a reverse proxy that serves TLS, or on a loopback address)",
        shown="off",
    )
    web_tls_port: int = _setting(
        PORT_OFF,
        "TCP port serving the web client over HTTPS (and wss:// at /ws), with the certificate of "
        "--tls self-signed or --tls-cert (0 picks a free one)",
        shown="off",
    )
    web_origin: tuple[str, ...] = _setting(
        (),
        "origin (scheme://host[:port]) whose pages may open the web client's WebSocket; repeatable "
        "(env: separated by commas); give the public origin when behind a reverse proxy",
        shown="the origin of the request itself: its scheme and Host header",
    )
    web_request_timeout: float = _setting(
        10.0, "seconds a web connection gets to send its whole HTTP request before it is closed"
    )
    server_name: str = _setting("chatapp", "name announced in the welcome frame")
    event_loop: str = _setting(
        "auto",
        "event loop: 'uvloop' (faster; the 'fast' extra), 'asyncio' (the standard library's), "
        "or 'auto' (uvloop when installed)",
        choices=("auto", "uvloop", "asyncio"),
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or default_database_url()

    @property
    def tls_enabled(self) -> bool:
        return bool(self.tls or self.tls_cert)

    @property
    def web_enabled(self) -> bool:
        return self.web_port != PORT_OFF or self.web_tls_port != PORT_OFF

    @property
    def resolved_control_socket(self) -> Path | None:
        return control_socket_path(self.control_socket, self.resolved_database_url)

    @property
    def resolved_account_send_rate(self) -> float:
        return self.account_send_rate or self.send_rate

    @property
    def resolved_account_send_burst(self) -> int:
        return self.account_send_burst or self.send_burst

    @property
    def resolved_hash_workers(self) -> int:
        # One core short of all of them: the event loop keeps one even during a login storm.
        return self.hash_workers or max(1, (os.cpu_count() or 1) - 1)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _converter(kind: type) -> Callable[[str], Any]:
    if kind is bool:
        return _parse_bool
    return _parse_list if kind is tuple else kind


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatapp-server",
        description="Run the chatapp server. Every flag can also be set with the environment "
        f"variable shown (flags win). Version {__version__}.",
    )
    for field in dataclasses.fields(Config):
        kind = type(field.default)
        env = ENV_PREFIX + field.name.upper()
        meta = field.metadata
        if kind is bool:
            parser.add_argument(
                _flag(field.name),
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{meta['help']} (env {env}; default {'on' if field.default else 'off'})",
            )
            continue
        shown = meta["shown"] if meta["shown"] is not None else repr(field.default)
        if isinstance(field.default, tuple):  # repeatable: each flag adds one
            parser.add_argument(
                _flag(field.name),
                dest=field.name,
                action="append",
                default=None,
                metavar=field.name.upper(),
                help=f"{meta['help']} (env {env}; default {shown})",
            )
            continue
        parser.add_argument(
            _flag(field.name),
            dest=field.name,
            type=_converter(kind),
            choices=meta["choices"],
            default=None,
            metavar=None if meta["choices"] else field.name.upper(),
            help=f"{meta['help']} (env {env}; default {shown})",
        )
    parser.add_argument("--version", action="version", version=f"chatapp-server {__version__}")
    return parser


def load_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Build the config from command-line flags and the environment.

    Exits with a usage message (argparse) on a bad flag or env value.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Config):
        given = getattr(args, field.name)
        if given is not None:
            values[field.name] = tuple(given) if isinstance(given, list) else given
            continue
        raw = env.get(ENV_PREFIX + field.name.upper())
        if raw is None or raw == "":
            continue
        try:
            value = _converter(type(field.default))(raw)
        except ValueError:
            parser.error(
                f"{ENV_PREFIX}{field.name.upper()}={raw!r} is not a valid {type(field.default).__name__}"
            )
        choices = field.metadata["choices"]
        if choices and value not in choices:
            parser.error(f"{ENV_PREFIX}{field.name.upper()} must be one of {', '.join(choices)}")
        values[field.name] = value
    config = Config(**values)
    problem = validate(config, descriptors.hard_limit())
    if problem:
        parser.error(problem)
    return config


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
            return f"{_flag(name)} must be positive"
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
            return f"{_flag(name)} must be at least 1"
    for name in ("account_send_rate", "account_send_burst", "repeat_limit"):
        if getattr(config, name) < 0:
            return f"{_flag(name)} must be 0 or more"
    if not 0 <= config.min_password_score <= 4:
        return "--min-password-score must be between 0 and 4"
    if not 0 <= config.ipv4_subnet_prefix <= 32:
        return "--ipv4-subnet-prefix must be between 0 and 32"
    if not 0 <= config.ipv6_subnet_prefix <= 128:
        return "--ipv6-subnet-prefix must be between 0 and 128"
    return _check_descriptors(config, descriptor_limit)


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
            return f"{_flag(name)} must be between 0 and 65535"
    if config.web_tls_port != PORT_OFF and not config.tls_enabled:
        return "--web-tls-port needs a certificate: give --tls self-signed, or --tls-cert and --tls-key"
    taken = {"--port": config.port if config.plain else PORT_OFF}
    if config.tls_enabled:
        taken["--tls-port"] = config.tls_port
    taken["--web-port"] = config.web_port
    taken["--web-tls-port"] = config.web_tls_port
    seen: dict[int, str] = {}
    for flag, port in taken.items():
        if port in (PORT_OFF, 0):
            continue
        if port in seen:
            return f"{seen[port]} and {flag} are both {port}: each listener needs a port of its own"
        seen[port] = flag
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
