"""``chatapp-client``: command line, logging, and the run from connect to goodbye.

Exit status: 0 after leaving normally, 1 when the server cannot be reached or
signing in fails without a way to ask again (or line mode could not send
everything), 2 for a usage error, 130 when interrupted at a prompt (Ctrl-C).
Nothing prints a traceback: unexpected errors go to the log file (under the
user's state directory by default) and the terminal gets one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import Input, create_input
from prompt_toolkit.output import Output, create_output

from .e2e.agent import E2eSession
from .e2e.store import device_dir
from .input_history import history_path, open_history
from .net.errors import ConnectError
from .options import (
    PROG,
    TLS_PORT,
    ClientOptions,
    default_data_dir,
    default_download_dir,
    default_log_file,
    parse_args,
)
from .settings_store import SettingsStore

__all__ = ["TLS_PORT", "ClientOptions", "connect_failure", "main", "parse_args", "run", "setup_logging"]
from .ui.devicekeys import unlock
from .ui.ignores import ignore_file
from .ui.linemode import LineMode, LineOptions
from .ui.lineoutput import OutputOptions
from .ui.screen import ChatScreen
from .ui.sentences import describe_bye
from .ui.signin import SignInCancelled, SignInFailed, SignInOptions, sign_in
from .ui.trust import ask_trust

log = logging.getLogger("chatapp.client")


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


def line_options(options: ClientOptions) -> LineOptions:
    """Line mode's part of the options (``--room``, ``--json``, ``--no-echo``, ``--no-replay``)."""
    output = OutputOptions(json=options.json, echo=options.echo, replay=options.replay)
    return LineOptions(room=options.room, output=output)


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
            session.files.download_dir = options.download_dir or default_download_dir()

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
                for problem in options.settings.problems:
                    fail(problem)
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
                return await LineMode(session, stdin, stdout, stderr, options=line_options(options)).run()
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
                settings = SettingsStore(options.settings, options.config)
                history = await open_history(history_path(options.host, options.port),
                                             lambda: settings.current.history_size)
                ignores = ignore_file(options.data_dir or default_data_dir(), options.host, options.port,
                                      session.username or "")
                screen = ChatScreen(session, error_log=error_log, handle_sigint=True, e2e_off=off,
                                    settings=settings, history=history, ignore_file=ignores)
                previous = on_signal[0]
                on_signal[0] = screen.leave
                try:
                    farewell = await screen.run()
                finally:
                    on_signal[0] = previous
                    await asyncio.to_thread(history.close)  # the lines typed last are on disk
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
