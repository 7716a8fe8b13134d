"""``chatapp-admin``: ask the running server through its control socket, or change the database alone.

Exit codes: 0 done; 1 refused (the server's sentence is printed) or failed
(one line); 2 a usage error. Never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from chatapp.admin import live, offline
from chatapp.admin.commands import Command, ShowFingerprint, parse_command
from chatapp.admin.output import REFUSED, show
from chatapp.protocol import ServerFrame
from chatapp.server.tls import TlsSetupError, certificate_file_fingerprint

PROG = "chatapp-admin"


def main(argv: Sequence[str] | None = None) -> int:
    command = parse_command(argv)
    if isinstance(command, ShowFingerprint):
        return _show_fingerprint(command.certificate)
    _log_warnings_as_lines()
    try:
        return asyncio.run(run(command))
    except KeyboardInterrupt:
        return 130
    except (live.LiveFailure, offline.OfflineFailure) as failure:
        _say(str(failure))
        return REFUSED
    except Exception as error:  # whatever it was, one line and no traceback
        _say(f"failed: {type(error).__name__}: {' '.join(str(error).split())}".rstrip(": "))
        return REFUSED


async def run(command: Command) -> int:
    """Ask the server, or the database without one; print the answer; its exit code."""
    answer = await _ask(command)
    if answer is None:
        return REFUSED
    shown = show(command.frame, answer)
    out = sys.stdout if shown.code == 0 else sys.stderr
    for line in shown.lines:
        print(line if out is sys.stdout else f"{PROG}: {line}", file=out)
    return shown.code


async def _ask(command: Command) -> ServerFrame | None:
    path = command.control_socket
    if path is not None:
        try:
            return await live.ask(path, command.frame)
        except live.NoServer:
            where = f"no server is running at {path}"
    else:
        where = "no control socket (--control-socket none)"
    if command.needs_server:
        _say(f"{where}: {command.name} needs a running server" + _NEEDS_SERVER.get(command.name, ""))
        return None
    _say(f"{where}: changing the database directly")
    return await offline.answer(command.database_url, command.frame)


def _show_fingerprint(certificate: Path) -> int:
    try:
        fingerprint = certificate_file_fingerprint(certificate)
    except TlsSetupError as error:
        hint = "" if certificate.exists() else " (a server with --tls self-signed makes it on first start)"
        _say(f"{error}{hint}")
        return REFUSED
    print(fingerprint)
    return 0


_NEEDS_SERVER = {"reload-filters": " (a server reads its filter file when it starts)"}


def _say(line: str) -> None:
    print(f"{PROG}: {line}", file=sys.stderr)


class _OneLine(logging.Formatter):
    """A log record as one line: the parts used offline (the store, the audit trail) may log a
    failure with its traceback, which the operator of this tool is not shown."""

    def format(self, record: logging.LogRecord) -> str:
        return " ".join(record.getMessage().split())


def _log_warnings_as_lines() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine())
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
