"""The command line of ``chatapp-admin``: its subcommands, and the one frame each of them is.

Every subcommand is a question of the protocol (``admin``, ``users``,
``user_sessions``, ``address_bans``, ``audit``, ``ping``), asked of the
running server through its control socket or, without one, answered from the
database: both ways start from the same :class:`Command`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from chatapp import __version__
from chatapp.admin.durations import parse_duration
from chatapp.protocol import ClientFrame, Ping
from chatapp.protocol.limits import ADMIN_PAGE_MAX
from chatapp.protocol.moderation_frames import Admin, ListAddressBans, ListUsers, ReadAudit, UserSessions
from chatapp.server.config import CONTROL_SOCKET_OFF, ENV_PREFIX, control_socket_path, database_url_from_env
from chatapp.server.tls import self_signed_paths

REF = "chatapp-admin"
"""The ``ref`` of the one question a run asks: its answer carries it back."""


@dataclass(frozen=True, slots=True)
class Command:
    """What one run of chatapp-admin does."""

    name: str
    """The subcommand, as typed."""
    frame: ClientFrame
    database_url: str
    control_socket: Path | None
    """Where the running server would be (None: ``--control-socket none``, the database only)."""
    needs_server: bool = False
    """Nothing to do on the database alone (``reload-filters``, ``ping``)."""


@dataclass(frozen=True, slots=True)
class ShowFingerprint:
    """``chatapp-admin fingerprint``: no question to anyone, a file to read."""

    certificate: Path


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _page_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= ADMIN_PAGE_MAX:
        raise argparse.ArgumentTypeError(f"a page is 1 to {ADMIN_PAGE_MAX} entries, not {text!r}")
    return value


def _an_id(what: str) -> Callable[[str], int]:
    """The argparse type of an id (of an audit event, of a session): a whole number from 1."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{what} is a whole number from 1, not {text!r}")
        return value

    return parse


Build = Callable[[argparse.Namespace], ClientFrame]


def _common_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """``--database-url`` and ``--control-socket``, taken before or after the subcommand."""
    default = None if defaults else argparse.SUPPRESS
    parser.add_argument(
        "--database-url",
        default=default,
        metavar="URL",
        help=f"the server's database, as chatapp-server takes it (env {ENV_PREFIX}DATABASE_URL; "
        "default: the SQLite file in the user data dir)",
    )
    parser.add_argument(
        "--control-socket",
        default=default,
        metavar="PATH",
        help=f"the running server's control socket (env {ENV_PREFIX}CONTROL_SOCKET; default: control.sock "
        "beside the SQLite database file, or in the user data dir for PostgreSQL; "
        f"'{CONTROL_SOCKET_OFF}': act on the database alone)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatapp-admin",
        description="Administer a chatapp server from its machine. With the server running (its control "
        "socket answers), a change takes effect at once; without one, it is made in the database alone "
        "and a server started later has it. Prints the answer; exit code 0 when done, 1 when refused "
        "or failed, 2 for a usage error.",
    )
    parser.add_argument("--version", action="version", version=f"chatapp-admin {__version__}")
    _common_options(parser, defaults=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help: str, build: Build, *, needs_server: bool = False) -> argparse.ArgumentParser:
        child = sub.add_parser(name, help=help, description=help)
        _common_options(child, defaults=False)
        child.set_defaults(build=build, needs_server=needs_server)
        return child

    def reason_and_duration(child: argparse.ArgumentParser, what: str) -> None:
        child.add_argument(
            "--for",
            dest="duration",
            type=_duration,
            metavar="DURATION",
            help=f"how long the {what} lasts: 30s, 10m, 2h, 7d, 2w (default: until lifted)",
        )
        child.add_argument("--reason", metavar="TEXT", help="why (at most 300 characters; shown to the user)")

    promote = command(
        "promote",
        "give a user a server role (admin, moderator, or user: none); a signed-in user has it at once",
        lambda a: Admin(action="promote", user=a.name, role=a.role, ref=REF),
    )
    promote.add_argument("name", help="the username")
    promote.add_argument("--role", required=True, choices=("admin", "moderator", "user"), help="the new role")

    demote = command(
        "demote",
        "take a user's server role away (the same as promote NAME --role user)",
        lambda a: Admin(action="promote", user=a.name, role="user", ref=REF),
    )
    demote.add_argument("name", help="the username")

    suspend = command(
        "suspend",
        "suspend an account: its sessions end at once and it cannot sign in until the suspension ends",
        lambda a: Admin(action="suspend", user=a.name, duration=a.duration, reason=a.reason, ref=REF),
    )
    suspend.add_argument("name", help="the username")
    reason_and_duration(suspend, "suspension")

    unsuspend = command(
        "unsuspend", "lift an account's suspension", lambda a: Admin(action="unsuspend", user=a.name, ref=REF)
    )
    unsuspend.add_argument("name", help="the username")

    mute = command(
        "mute",
        "mute an account server-wide: it can read, but its messages are refused everywhere",
        lambda a: Admin(action="mute", user=a.name, duration=a.duration, reason=a.reason, ref=REF),
    )
    mute.add_argument("name", help="the username")
    reason_and_duration(mute, "mute")

    unmute = command(
        "unmute", "lift an account's server-wide mute", lambda a: Admin(action="unmute", user=a.name, ref=REF)
    )
    unmute.add_argument("name", help="the username")

    disconnect = command(
        "disconnect",
        "end a user's sessions (or one of them): its connection is closed and its token no longer resumes",
        lambda a: Admin(action="disconnect", user=a.name, session=a.session, ref=REF),
    )
    disconnect.add_argument("name", help="the username")
    disconnect.add_argument(
        "--session",
        type=_an_id("a session id"),
        metavar="ID",
        help="only this session (an id that 'sessions' lists)",
    )

    ban = command(
        "ban-address",
        "ban an IP address or CIDR range: its connections are closed and new ones refused",
        lambda a: Admin(
            action="ban_address", address=a.address, duration=a.duration, reason=a.reason, ref=REF
        ),
    )
    ban.add_argument("address", metavar="ADDR", help="an IPv4 or IPv6 address, or a range: 203.0.113.0/24")
    reason_and_duration(ban, "ban")

    unban = command(
        "unban-address",
        "lift the ban of an address or range (exactly as it was banned)",
        lambda a: Admin(action="unban_address", address=a.address, ref=REF),
    )
    unban.add_argument("address", metavar="ADDR", help="the banned address or range")

    command("address-bans", "list the address bans in force", lambda a: ListAddressBans(ref=REF))

    reset = command(
        "reset-password",
        "give an account a new random password, printed once; its sessions end",
        lambda a: Admin(action="reset_password", user=a.name, ref=REF),
    )
    reset.add_argument("name", help="the username")

    users = command(
        "users",
        "list accounts by name, with their role and whether they are online or suspended",
        lambda a: ListUsers(query=a.search, after=a.after, limit=a.limit, ref=REF),
    )
    users.add_argument("--search", metavar="Q", help="only names that contain Q (any case)")
    users.add_argument(
        "--limit", type=_page_size, metavar="N", help=f"at most N (1 to {ADMIN_PAGE_MAX}; default 50)"
    )
    users.add_argument("--after", metavar="NAME", help="the next page: names after NAME (the last one shown)")

    sessions = command(
        "sessions",
        "list a user's sessions that can still be used, with the addresses they were used from",
        lambda a: UserSessions(user=a.name, ref=REF),
    )
    sessions.add_argument("name", help="the username")

    audit = command(
        "audit",
        "read the audit log, newest first: every moderation and admin action",
        lambda a: ReadAudit(before=a.before, limit=a.limit, ref=REF),
    )
    audit.add_argument(
        "--limit", type=_page_size, metavar="N", help=f"at most N events (1 to {ADMIN_PAGE_MAX}; default 50)"
    )
    audit.add_argument(
        "--before", type=_an_id("an event id"), metavar="ID", help="the next page: events older than event ID"
    )

    command(
        "reload-filters",
        "make the running server read its filter file again (a server reads it when it starts)",
        lambda a: Admin(action="reload_filters", ref=REF),
        needs_server=True,
    )
    fingerprint = sub.add_parser(
        "fingerprint",
        help="print the SHA-256 fingerprint of the server's TLS certificate (no server needed)",
        description="Print the SHA-256 fingerprint of the server's TLS certificate, as the server logs "
        "it and clients show it (SHA256: then hex pairs joined by colons). It reads the certificate "
        "file: --tls self-signed's, beside the SQLite database file (for PostgreSQL, in the user data "
        "dir), or the one given.",
    )
    _common_options(fingerprint, defaults=False)
    fingerprint.add_argument(
        "--tls-cert", metavar="PATH", help="a PEM certificate file (default: --tls self-signed's)"
    )
    command(
        "ping",
        "check that the server answers on the control socket",
        lambda a: Ping(ref=REF),
        needs_server=True,
    )
    return parser


def parse_command(
    argv: Sequence[str] | None = None, environ: dict[str, str] | None = None
) -> Command | ShowFingerprint:
    """The command a command line asks for; exits with a usage message (2) if it is wrong."""
    env = dict(os.environ) if environ is None else environ
    args = build_parser().parse_args(argv)
    database_url = args.database_url or database_url_from_env(env)
    if args.command == "fingerprint":
        given = args.tls_cert or env.get(ENV_PREFIX + "TLS_CERT", "")
        return ShowFingerprint(Path(given) if given else self_signed_paths(database_url)[0])
    setting = args.control_socket or env.get(ENV_PREFIX + "CONTROL_SOCKET", "")
    return Command(
        name=args.command,
        frame=args.build(args),
        database_url=database_url,
        control_socket=control_socket_path(setting, database_url),
        needs_server=args.needs_server,
    )
