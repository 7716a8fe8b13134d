"""Every server setting in one frozen dataclass, filled from flags and ``CHATAPP_*`` env vars.

The resulting :class:`Config` is passed down to whatever needs a setting, so
tests build one directly with short timeouts and cheap hashing. Reading it from
the command line and the environment is :mod:`.config_loading`'s job, checking
it :mod:`.config_checks`'.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import platformdirs

from chatapp.protocol.limits import MAX_FILE_SIZE_DEFAULT, MAX_FRAME_BYTES, MAX_TEXT_CHARS
from chatapp.server.capacity import HEADROOM
from chatapp.server.store.engine import is_sqlite, sqlite_file

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

FILES_DIR_NAME = "files"
"""The default ``--files-dir``, in the server's data directory."""

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
    redis_url: str = _setting(
        "",
        "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (or rediss:// for TLS, with ?ssl_ca_certs=FILE for "
        "a private CA; unix://PATH): run as one of several server "
        "processes on one PostgreSQL database, each process's messages, presence and moderation "
        "reaching the others through this Redis server, and the limits per address and per account "
        "counted there once for all; needs the redis extra (pip install 'chatapp[redis]') "
        "(default: none, one process)",
    )
    workers: int = _setting(
        1,
        "server processes to run on this machine, sharing the listening ports (SO_REUSEPORT) and "
        "supervised: a worker that dies is restarted; more than 1 needs --redis-url and a PostgreSQL "
        "database; each worker's control socket is --control-socket's path suffixed with .N",
    )
    reuse_port: bool = _setting(
        False,
        "let other server processes listen on the same ports (SO_REUSEPORT; --workers sets it): the "
        "kernel spreads new connections among them",
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
    files_dir: str = _setting(
        "",
        "directory of shared files: each file's bytes once, named by their SHA-256, and unfinished "
        "uploads; several server processes sharing a database must share it too (default: files/ "
        "beside the SQLite database file; for PostgreSQL, in the user data dir)",
    )
    max_file_size: int = _setting(
        MAX_FILE_SIZE_DEFAULT, "largest file in bytes a user may share (0: no file sharing)"
    )
    file_quota: int = _setting(
        250 * 1024 * 1024,
        "bytes one user's shared files may hold, unfinished uploads counted at their full size",
    )
    files_budget: int = _setting(
        10 * 1024**3, "bytes all shared files may hold together, unfinished uploads counted in full"
    )
    max_uploads: int = _setting(3, "unfinished uploads one user may have at once")
    file_expiry: float = _setting(
        3600.0,
        "seconds an unfinished upload is kept without a new chunk, and a finished one that no "
        "message shares",
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
    def resolved_files_dir(self) -> Path:
        if self.files_dir:
            return Path(self.files_dir).absolute()
        return server_data_directory(self.resolved_database_url) / FILES_DIR_NAME

    @property
    def files_enabled(self) -> bool:
        """File sharing needs stored messages: a file is read through the message that shares it."""
        return self.max_file_size > 0 and self.history

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


def flag(name: str) -> str:
    """The command-line flag of a setting: ``web_port`` is ``--web-port``."""
    return "--" + name.replace("_", "-")
