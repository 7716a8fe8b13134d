"""``chatapp-client``'s options: flags, environment variables, their defaults and checks."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import platformdirs

from chatapp import __version__
from chatapp.fingerprint import parse_fingerprint
from chatapp.protocol import DEFAULT_ROOM, ProtocolError
from chatapp.protocol.rules import check_room

from .net.known_servers import KnownServers
from .net.known_servers import default_path as default_known_servers
from .net.tls import AskTrust, TlsSettings, verified_context
from .settings import Loaded, Settings, load
from .settings import default_path as default_config

ENV_PREFIX = "CHATAPP_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7777
TLS_PORT = 7778
"""The server's default TLS port: connecting to it turns TLS on unless --no-tls says otherwise."""
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
PROG = "chatapp-client"


@dataclasses.dataclass(frozen=True, slots=True)
class ClientOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    user: str | None = None
    password_stdin: bool = False
    register: bool = False
    takeover: bool = False
    log_file: Path | None = None
    debug: bool = False
    tls: bool = False
    ca_file: Path | None = None
    accept_fingerprint: str | None = None
    """Canonical form (:func:`chatapp.fingerprint.parse_fingerprint`)."""
    known_servers: Path | None = None
    """The known-servers file; None for the one in the user's data directory."""
    data_dir: Path | None = None
    """Where this device's end-to-end keys and messages live; None for the user's data directory."""
    new_device: bool = False
    room: str = DEFAULT_ROOM
    """Line mode: the room plain lines go to."""
    json: bool = False
    """Line mode: one JSON object per event."""
    echo: bool = True
    """Line mode: print one's own messages."""
    replay: bool = True
    """Line mode: print the messages missed since the last session."""
    config: Path | None = dataclasses.field(default=None, compare=False)
    """The settings file (``--config``); None: none is read or written. (Its values are in the fields
    above already, so two options that connect the same way compare equal.)"""
    settings: Loaded = dataclasses.field(default_factory=lambda: Loaded(Settings()), compare=False)
    """What was read from it, with what was wrong in it."""
    download_dir: Path | None = None
    """Where ``/download`` saves files; None for :func:`default_download_dir`."""

    def tls_settings(self, ask: AskTrust | None) -> TlsSettings | None:
        if not self.tls:
            return None
        return TlsSettings(
            ca_file=self.ca_file, known_servers=KnownServers(self.known_servers),
            accept_fingerprint=self.accept_fingerprint, ask=ask,
        )


def default_log_file() -> Path:
    return platformdirs.user_state_path("chatapp", appauthor=False) / "client.log"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="The terminal client of chatapp. Without --user it asks whether to log in or register.",
        epilog="Passwords are never taken as arguments (they would end up in the shell history): "
        "type them at the hidden prompt or pipe them in with --password-stdin.",
    )
    parser.add_argument(
        "--host",
        help=f"server address (env {ENV_PREFIX}HOST; default: the settings' host, else {DEFAULT_HOST})",
    )
    parser.add_argument(
        "--port", type=int,
        help=f"server port (env {ENV_PREFIX}PORT; default: the settings' port, else {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE",
        help=f"the settings file (TOML; env {ENV_PREFIX}CONFIG; default {default_config()}); /set changes it",
    )
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument(
        "--tls", action="store_const", const=True, dest="tls",
        help=f"connect with TLS (env {ENV_PREFIX}TLS=1; the default on port {TLS_PORT}): the certificate "
        "must verify against the system's CAs (or --ca-file), else it is trusted on first use and pinned "
        f"in {default_known_servers()}",
    )
    tls.add_argument(
        "--no-tls", action="store_const", const=False, dest="tls",
        help=f"connect without TLS, even on port {TLS_PORT} (env {ENV_PREFIX}TLS=0)",
    )
    parser.add_argument(
        "--ca-file", type=Path,
        help="verify the server's certificate against these CA certificates (PEM) instead of the "
        "system's (implies --tls)",
    )
    parser.add_argument(
        "--accept-fingerprint", metavar="SHA256:...",
        help="trust a certificate that does not verify if it has this SHA-256 fingerprint, and remember it "
        "(what line mode needs the first time, as it never asks; a changed remembered one is still refused; "
        "implies --tls)",
    )
    parser.add_argument(
        "--user",
        help=f"username; skips the log in / register menu (env {ENV_PREFIX}USER; default: the settings' "
        "user)",
    )
    parser.add_argument(
        "--password-stdin", action="store_true",
        help="read the password from the first line of standard input (for scripts; needs --user)",
    )
    parser.add_argument(
        "--register", action="store_true", help="create the account --user instead of logging in"
    )
    parser.add_argument(
        "--takeover", action="store_true",
        help="if the account is signed in elsewhere, end that session instead of being refused "
        "(without it the sign-in dialogue asks; with --password-stdin the login is refused)",
    )
    parser.add_argument(
        "--log-file", type=Path,
        help=f"where to log connection events and unexpected errors (default {default_log_file()})",
    )
    parser.add_argument(
        "--debug", action="store_true", help="log every frame (passwords and tokens stay hidden)"
    )
    parser.add_argument(
        "--data-dir", type=Path,
        help=f"where this device keeps its end-to-end encryption keys, the messages it decrypted and the "
        f"/ignore lists (env {ENV_PREFIX}DATA_DIR; default {default_data_dir()}); another directory is "
        "another device",
    )
    parser.add_argument(
        "--new-device", action="store_true",
        help="start a new device here when the password does not open this one's keys (it was changed "
        "elsewhere, or reset): the encrypted messages kept on the old one can then no longer be read here",
    )
    bots = parser.add_argument_group(
        "line mode", "when standard output is not a terminal (scripts, pipes, bots): see docs/client.md"
    )
    bots.add_argument(
        "--room", metavar="NAME",
        help=f"join NAME and send the lines of standard input there (default {DEFAULT_ROOM}; /join ROOM "
        "in the input moves on to another)",
    )
    bots.add_argument(
        "--json", action="store_true",
        help="print one JSON object per event (messages with ids and timestamps, direct messages, actions, "
        "presence, errors, refusals) instead of lines for people",
    )
    bots.add_argument("--no-echo", action="store_true", help="do not print your own messages")
    replay = bots.add_mutually_exclusive_group()
    replay.add_argument(
        "--since-last", action="store_true",
        help="print the messages missed since your last session first (the default)",
    )
    replay.add_argument(
        "--no-replay", action="store_true", help="print only what arrives live, not the missed messages"
    )
    parser.add_argument(
        "--download-dir", type=Path,
        help=f"where /download saves files when no directory is given (env {ENV_PREFIX}DOWNLOAD_DIR; "
        f"default {default_download_dir()}); created 0700 if missing",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return parser


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> ClientOptions:
    parser = build_parser()
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    config: Path = args.config or _env_path(env.get(ENV_PREFIX + "CONFIG")) or default_config()
    loaded = load(config)
    settings = loaded.settings
    host = args.host or env.get(ENV_PREFIX + "HOST") or settings.host or DEFAULT_HOST
    port = args.port
    if port is None:
        raw = env.get(ENV_PREFIX + "PORT")
        if raw:
            try:
                port = int(raw)
            except ValueError:
                parser.error(f"{ENV_PREFIX}PORT={raw!r} is not a port number")
        else:
            port = settings.port or DEFAULT_PORT
    if not 1 <= port <= 65535:
        parser.error("the port must be between 1 and 65535")
    user = args.user or env.get(ENV_PREFIX + "USER") or settings.user or None
    if args.password_stdin and not user:
        parser.error("--password-stdin needs --user (or CHATAPP_USER)")
    if args.register and not user:
        parser.error("--register needs --user (or CHATAPP_USER); without it the client asks")
    if args.register and args.takeover:
        parser.error("--takeover is for logging in; a new account is signed in nowhere else")
    tls: bool | None = args.tls
    if tls is None:
        raw = env.get(ENV_PREFIX + "TLS", "").strip().lower()
        if raw in TRUE_WORDS:
            tls = True
        elif raw in FALSE_WORDS:
            tls = False
        elif raw:
            parser.error(f"{ENV_PREFIX}TLS={raw!r}: use 1 or 0")
    wants_tls = args.ca_file is not None or args.accept_fingerprint is not None
    if tls is False and wants_tls:
        parser.error("--ca-file and --accept-fingerprint are for TLS; they cannot go with --no-tls")
    if tls is None:
        tls = port == TLS_PORT or wants_tls
    accept: str | None = None
    if args.accept_fingerprint is not None:
        accept = parse_fingerprint(args.accept_fingerprint)
        if accept is None:
            parser.error("--accept-fingerprint: not a SHA-256 fingerprint (SHA256: and 32 hex pairs)")
    if args.ca_file is not None:
        try:
            verified_context(args.ca_file)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            parser.error(f"--ca-file {args.ca_file}: not a readable PEM file of CA certificates ({exc})")
    room = DEFAULT_ROOM
    if args.room is not None:
        room = args.room.removeprefix("#")
        try:
            check_room(room)
        except ProtocolError as exc:
            parser.error(f"--room {args.room!r}: {exc.message}")
    return ClientOptions(
        host=host, port=port, user=user, password_stdin=args.password_stdin, register=args.register,
        takeover=args.takeover, log_file=args.log_file, debug=args.debug, tls=tls, ca_file=args.ca_file,
        accept_fingerprint=accept, data_dir=args.data_dir or _env_path(env.get(ENV_PREFIX + "DATA_DIR")),
        new_device=args.new_device, config=config, settings=loaded, room=room, json=args.json,
        echo=not args.no_echo, replay=not args.no_replay,
        download_dir=args.download_dir or _env_path(env.get(ENV_PREFIX + "DOWNLOAD_DIR")),
    )


def _env_path(raw: str | None) -> Path | None:
    return Path(raw) if raw else None


def default_data_dir() -> Path:
    return platformdirs.user_data_path("chatapp", appauthor=False)


def default_download_dir() -> Path:
    """``~/Downloads/chatapp`` (the platform's downloads directory): files from others kept together."""
    return platformdirs.user_downloads_path() / "chatapp"
