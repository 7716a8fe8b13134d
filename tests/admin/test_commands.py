"""chatapp-admin's command line: durations, the frame each subcommand is, options, usage errors, --help."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatapp.admin.commands import REF, Command, parse_command
from chatapp.admin.durations import UNITS, parse_duration
from chatapp.protocol import Ping
from chatapp.protocol.limits import DURATION_MAX
from chatapp.protocol.moderation_frames import Admin, ListAddressBans, ListUsers, ReadAudit, UserSessions

DB = "sqlite+aiosqlite:////srv/chat/chat.db"


def command(*argv: str) -> Command:
    return parse_command(["--database-url", DB, *argv], {})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("7d", 604800),
        ("2w", 1209600),
        (" 1S ", 1),
        ("3650d", 315360000),
    ],
)
def test_durations_in_each_unit(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "1.5h", "-1h", "0s", "1y", "1h30m", "ten minutes", "4000d"])
def test_what_is_not_a_duration_the_server_takes_is_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**13), st.sampled_from(sorted(UNITS)))
def test_a_number_and_a_unit_is_its_seconds_or_refused_when_out_of_range(number: int, unit: str) -> None:
    seconds = number * UNITS[unit]
    if len(str(number)) <= 12 and 1 <= seconds <= DURATION_MAX:
        assert parse_duration(f"{number}{unit}") == seconds
    else:
        with pytest.raises(ValueError):
            parse_duration(f"{number}{unit}")


@given(st.text(max_size=30))
def test_any_text_is_a_duration_or_a_value_error(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert 1 <= seconds <= DURATION_MAX


@pytest.mark.parametrize(
    ("argv", "frame"),
    [
        (["promote", "al", "--role", "admin"], Admin(action="promote", user="al", role="admin", ref=REF)),
        (
            ["promote", "al", "--role", "moderator"],
            Admin(action="promote", user="al", role="moderator", ref=REF),
        ),
        (["demote", "alice"], Admin(action="promote", user="alice", role="user", ref=REF)),
        (
            ["suspend", "mallory", "--for", "2h", "--reason", "spam"],
            Admin(action="suspend", user="mallory", duration=7200, reason="spam", ref=REF),
        ),
        (["suspend", "mallory"], Admin(action="suspend", user="mallory", ref=REF)),
        (["unsuspend", "mallory"], Admin(action="unsuspend", user="mallory", ref=REF)),
        (["mute", "mallory", "--for", "10m"], Admin(action="mute", user="mallory", duration=600, ref=REF)),
        (["unmute", "mallory"], Admin(action="unmute", user="mallory", ref=REF)),
        (["disconnect", "bob"], Admin(action="disconnect", user="bob", ref=REF)),
        (["disconnect", "bob", "--session", "7"], Admin(action="disconnect", user="bob", session=7, ref=REF)),
        (
            ["ban-address", "203.0.113.0/24", "--for", "7d", "--reason", "flood"],
            Admin(action="ban_address", address="203.0.113.0/24", duration=604800, reason="flood", ref=REF),
        ),
        (["unban-address", "2001:db8::/64"], Admin(action="unban_address", address="2001:db8::/64", ref=REF)),
        (["address-bans"], ListAddressBans(ref=REF)),
        (["reset-password", "bob"], Admin(action="reset_password", user="bob", ref=REF)),
        (["users"], ListUsers(ref=REF)),
        (
            ["users", "--search", "al", "--limit", "5", "--after", "ab"],
            ListUsers(query="al", after="ab", limit=5, ref=REF),
        ),
        (["sessions", "bob"], UserSessions(user="bob", ref=REF)),
        (["audit"], ReadAudit(ref=REF)),
        (["audit", "--limit", "10", "--before", "42"], ReadAudit(before=42, limit=10, ref=REF)),
        (["reload-filters"], Admin(action="reload_filters", ref=REF)),
        (["ping"], Ping(ref=REF)),
    ],
)
def test_each_subcommand_is_one_frame(argv: list[str], frame: object) -> None:
    assert command(*argv).frame == frame


def test_only_what_has_nothing_to_do_in_the_database_needs_a_server() -> None:
    assert command("reload-filters").needs_server and command("ping").needs_server
    assert not command("suspend", "x").needs_server and not command("users").needs_server


def test_the_control_socket_is_beside_the_sqlite_database_as_the_server_makes_it() -> None:
    assert command("users").control_socket == Path("/srv/chat/control.sock")


def test_options_come_from_flags_before_or_after_the_subcommand_then_the_environment(tmp_path: Path) -> None:
    env = {"CHATAPP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/env.db"}
    from_env = parse_command(["users"], env)
    assert from_env.database_url == env["CHATAPP_DATABASE_URL"]
    assert from_env.control_socket == tmp_path / "control.sock"
    after = parse_command(["users", "--control-socket", str(tmp_path / "s.sock")], env)
    assert after.control_socket == tmp_path / "s.sock"
    with_socket = {**env, "CHATAPP_CONTROL_SOCKET": "/x.sock"}
    assert parse_command(["--control-socket", "none", "users"], with_socket).control_socket is None
    assert parse_command(["users"], with_socket).control_socket == Path("/x.sock")
    postgres = parse_command(["--database-url", "postgresql+asyncpg://u@h/chat", "users"], {})
    assert postgres.control_socket is not None and postgres.control_socket.name == "control.sock"


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["suspend", "x", "--for", "soon"], "is not a duration"),
        (["promote", "x"], "--role"),
        (["promote", "x", "--role", "god"], "invalid choice"),
        (["users", "--limit", "1000"], "a page is 1 to 100"),
        (["audit", "--before", "zero"], "an event id"),
        (["disconnect", "bob", "--session", "-3"], "a session id"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_a_usage_error_exits_2_with_a_sentence(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        command(*argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err


SUBCOMMANDS = [
    "promote",
    "demote",
    "suspend",
    "unsuspend",
    "mute",
    "unmute",
    "disconnect",
    "ban-address",
    "unban-address",
    "address-bans",
    "reset-password",
    "users",
    "sessions",
    "audit",
    "reload-filters",
    "ping",
]


def test_every_subcommand_is_listed_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_command(["--help"], {})
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_has_its_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_command([name, "--help"], {})
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: chatapp-admin {name}")
    assert "--database-url" in out and "--control-socket" in out
    if name in ("suspend", "mute", "ban-address"):
        assert "--for DURATION" in out and "--reason TEXT" in out
