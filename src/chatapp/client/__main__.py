"""``chatapp-client``: command line, logging, and the run from connect to goodbye.

Exit status: 0 after leaving normally, 1 when the server cannot be reached or
signing in fails without a way to ask again (or line mode could not send
everything), 2 for a usage error, 130 when interrupted at a prompt (Ctrl-C).
Nothing prints a traceback: unexpected errors go to the log file (under the
user's state directory by default) and the terminal gets one line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

import platformdirs
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import Input, create_input
from prompt_toolkit.output import Output, create_output

from chatapp import __version__
from chatapp.fingerprint import parse_fingerprint

from .e2e.agent import E2eSession
from .e2e.store import device_dir
from .net.errors import ConnectError
from .net.known_servers import KnownServers
from .net.known_servers import default_path as default_known_servers
from .net.tls import AskTrust, TlsSettings, verified_context
from .ui.devicekeys import unlock
from .ui.linemode import LineMode
from .ui.screen import ChatScreen
from .ui.sentences import describe_bye
from .ui.signin import SignInCancelled, SignInFailed, SignInOptions, sign_in
from .ui.trust import ask_trust

ENV_PREFIX = "CHATAPP_"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7777
TLS_PORT = 7778
"""The server's default TLS port: connecting to it turns TLS on unless --no-tls says otherwise."""
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
PROG = "chatapp-client"

log = logging.getLogger("chatapp.client")


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
    parser.add_argument("--host", help=f"server address (env {ENV_PREFIX}HOST; default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=int, help=f"server port (env {ENV_PREFIX}PORT; default {DEFAULT_PORT})"
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
    parser.add_argument("--user", help=f"username; skips the log in / register menu (env {ENV_PREFIX}USER)")
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
        help=f"where this device keeps its end-to-end encryption keys and the messages it decrypted (env "
        f"{ENV_PREFIX}DATA_DIR; default {default_data_dir()}); another directory is another device",
    )
    parser.add_argument(
        "--new-device", action="store_true",
        help="start a new device here when the password does not open this one's keys (it was changed "
        "elsewhere, or reset): the encrypted messages kept on the old one can then no longer be read here",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return parser


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> ClientOptions:
    parser = build_parser()
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    host = args.host or env.get(ENV_PREFIX + "HOST") or DEFAULT_HOST
    port = args.port
    if port is None:
        raw = env.get(ENV_PREFIX + "PORT")
        if raw:
            try:
                port = int(raw)
            except ValueError:
                parser.error(f"{ENV_PREFIX}PORT={raw!r} is not a port number")
        else:
            port = DEFAULT_PORT
    if not 1 <= port <= 65535:
        parser.error("the port must be between 1 and 65535")
    user = args.user or env.get(ENV_PREFIX + "USER") or None
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
    return ClientOptions(
        host=host, port=port, user=user, password_stdin=args.password_stdin, register=args.register,
        takeover=args.takeover, log_file=args.log_file, debug=args.debug, tls=tls, ca_file=args.ca_file,
        accept_fingerprint=accept, data_dir=args.data_dir or _env_path(env.get(ENV_PREFIX + "DATA_DIR")),
        new_device=args.new_device,
    )


def _env_path(raw: str | None) -> Path | None:
    return Path(raw) if raw else None


def default_data_dir() -> Path:
    return platformdirs.user_data_path("chatapp", appauthor=False)


def setup_logging(path: Path | None, debug: bool = False) -> Path | None:
    """Send all logging to a file (never to the terminal); returns its path, or None if unusable."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    target = path or default_log_file()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(target, encoding="utf-8", delay=True)
    except OSError:
        root.addHandler(logging.NullHandler())
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    return target


def read_password(stdin: TextIO) -> str | None:
    line = stdin.readline()
    if not line:
        return None
    return line.removesuffix("\n").removesuffix("\r")


@contextlib.contextmanager
def terminal(stdin: TextIO, stdout: TextIO, stdin_used: bool) -> Iterator[tuple[Input, Output] | None]:
    """The terminal to run the chat screen on, or None (line mode)."""
    if not _isatty(stdout):
        yield None
        return
    if _isatty(stdin) and not stdin_used:
        yield create_input(stdin), create_output(stdout)
        return
    try:
        tty = open("/dev/tty", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError:
        yield None
        return
    try:
        yield create_input(tty), create_output(stdout)
    finally:
        tty.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def connect_failure(address: str, exc: ConnectError) -> str:
    if exc.bye is not None:
        return f"cannot connect to {address}: {describe_bye(exc.bye, exc.bye_message)}"
    hint = " (is the server running? see --host and --port)" if "refused" in exc.detail else ""
    return f"cannot connect to {address}: {exc.detail}{hint}"


async def run(
    options: ClientOptions,
    *,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
    log_path: Path | None = None,
) -> int:
    """Everything from connecting to leaving; returns the exit status."""
    with _signals() as on_signal:
        return await _run(
            options, stdin=stdin, stdout=stdout, stderr=stderr, log_path=log_path, on_signal=on_signal
        )


@contextlib.contextmanager
def _signals() -> Iterator[list[Callable[[], object]]]:
    """SIGTERM and SIGHUP leave cleanly: the chat screen says quit; elsewhere the run is cancelled.

    Yields a one-element list holding what a signal does now (the screen swaps in its ``leave``).
    """
    task = asyncio.current_task()
    assert task is not None
    action: list[Callable[[], object]] = [task.cancel]
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            loop.add_signal_handler(sig, lambda: action[0]())
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
    try:
        yield action
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _run(
    options: ClientOptions,
    *,
    stdin: TextIO,
    stdout: TextIO,
    stderr: TextIO,
    log_path: Path | None,
    on_signal: list[Callable[[], object]],
) -> int:
    def fail(text: str) -> None:
        stderr.write(f"{PROG}: {text}\n")
        stderr.flush()

    password: str | None = None
    if options.password_stdin and not _isatty(stdin):
        password = read_password(stdin)
        if password is None:
            fail("--password-stdin: standard input is empty")
            return 1
    with terminal(stdin, stdout, stdin_used=password is not None) as term:
        tls = options.tls_settings(ask_trust if term is not None else None)  # line mode never asks
        async with E2eSession(options.host, options.port, tls=tls) as session:

            async def connected() -> bool:
                try:
                    await session.connect()
                except ConnectError as exc:
                    fail(connect_failure(session.address, exc))
                    return False
                return True

            signed_in: list[str] = []  # the password that signed in: it unlocks this device's keys

            def device_path() -> Path:
                return device_dir(options.data_dir or default_data_dir(), options.host, options.port,
                                  session.username or "")

            sign_in_options = SignInOptions(
                username=options.user, register=options.register, password=password, takeover=options.takeover
            )
            if term is None:
                if not await connected():
                    return 1
                if password is None:
                    fail("no terminal: use --user NAME --password-stdin to sign in from a script")
                    return 2
                try:
                    await sign_in(session, sign_in_options, signed_in.append)
                except SignInFailed as exc:
                    fail(str(exc))
                    return 1
                off = await unlock(session, device_path(), signed_in[-1], new_device=options.new_device,
                                   interactive=False)
                if off is not None:
                    fail(f"end-to-end encryption is off for this run: {off}")
                return await LineMode(session, stdin, stdout, stderr).run()
            term_input, term_output = term
            with create_app_session(input=term_input, output=term_output):
                if not await connected():  # may ask whether to trust the server's certificate
                    return 1
                try:
                    await sign_in(session, sign_in_options, signed_in.append)
                    off = await unlock(session, device_path(), signed_in[-1], new_device=options.new_device,
                                       interactive=True)
                except SignInCancelled as exc:
                    return 130 if exc.interrupted else 0
                except SignInFailed as exc:
                    fail(str(exc))
                    return 1
                error_log = str(log_path) if log_path else None
                screen = ChatScreen(session, error_log=error_log, handle_sigint=True, e2e_off=off)
                previous = on_signal[0]
                on_signal[0] = screen.leave
                try:
                    farewell = await screen.run()
                finally:
                    on_signal[0] = previous
    if farewell:
        stdout.write(farewell + "\n")
        stdout.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    log_path = setup_logging(options.log_file, options.debug)
    try:
        return asyncio.run(
            run(options, stdin=sys.stdin, stdout=sys.stdout, stderr=sys.stderr, log_path=log_path)
        )
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:  # SIGTERM or SIGHUP outside the chat screen
        return 143
    except Exception as exc:
        log.exception("unexpected error")
        where = f"; details in {log_path}" if log_path else ""
        sys.stderr.write(f"{PROG}: unexpected error ({type(exc).__name__}){where}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
