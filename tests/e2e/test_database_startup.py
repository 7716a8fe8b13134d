"""Start-up against a database that is not there as configured: one clear line and exit code 1.

A URL whose driver is not installed, a wrong password, a missing database, an
unreachable host, anything else that stops the start: ``chatapp-server:
cannot start: ...`` on stderr, no traceback (one only with ``--log-level
debug``). And servers started at once on one empty database both come up: the
migration takes a lock.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import make_url

from tests.support.databases import ScratchDatabase
from tests.support.postgres import PASSWORD, free_port
from tests.support.server import ServerProcess

QUIET = ("--log-level", "info")  # after FAST_ARGS' debug: the operator's default


def with_url(scratch: ScratchDatabase, **parts: object) -> ScratchDatabase:
    return dataclasses.replace(scratch, url=make_url(scratch.url).set(**parts).render_as_string(False))


def error_lines(server: ServerProcess) -> list[str]:
    return [line for line in server.log.splitlines() if line.startswith("chatapp-server:")]


def assert_one_clear_line(server: ServerProcess, *needles: str) -> str:
    assert "Traceback" not in server.log, server.log
    (line,) = error_lines(server)
    assert line.startswith("chatapp-server: cannot start: "), line
    for needle in needles:
        assert needle in line, line
    assert PASSWORD not in server.log and "wrong-password" not in server.log
    return line


def test_a_wrong_password(server_factory: type[ServerProcess], postgres_database: ScratchDatabase) -> None:
    server = server_factory(with_url(postgres_database, password="wrong-password"), *QUIET)
    assert server.start_expecting_failure() == 1
    assert_one_clear_line(server, "password authentication failed", "***")


def test_a_missing_database(server_factory: type[ServerProcess], postgres_database: ScratchDatabase) -> None:
    server = server_factory(with_url(postgres_database, database="no_such_database"), *QUIET)
    assert server.start_expecting_failure() == 1
    assert_one_clear_line(server, 'database "no_such_database" does not exist')


def test_an_unreachable_host(server_factory: type[ServerProcess], postgres_database: ScratchDatabase) -> None:
    server = server_factory(with_url(postgres_database, port=free_port()), *QUIET)  # nothing listens there
    assert server.start_expecting_failure() == 1
    assert_one_clear_line(server, "cannot open the database at postgresql+asyncpg://", "refused")


def test_a_driver_that_is_not_installed_names_the_extra(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, tmp_path: Path
) -> None:
    # A Python with chatapp importable but asyncpg hidden: a path entry that shadows it.
    shadow = tmp_path / "shadow" / "asyncpg"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'asyncpg'\", name='asyncpg')\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")])}
    server = server_factory(postgres_database, *QUIET, env=env)
    assert server.start_expecting_failure() == 1
    line = assert_one_clear_line(server, "asyncpg", "pip install 'chatapp[postgres]'")
    assert "cannot open" not in line


def test_any_other_failure_is_one_line_and_a_traceback_only_at_debug(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the database's directory should be\n")
    quiet = server_factory(blocked / "chat.db", *QUIET)
    assert quiet.start_expecting_failure() == 1
    assert_one_clear_line(quiet, str(blocked))

    debug = server_factory(blocked / "chat.db")  # FAST_ARGS: --log-level debug
    assert debug.start_expecting_failure() == 1
    assert "Traceback" in debug.log
    assert len(error_lines(debug)) == 1


@pytest.mark.empty_database
def test_two_servers_started_at_once_on_an_empty_database_both_serve(
    server_factory: type[ServerProcess], database: ScratchDatabase, tmp_path: Path
) -> None:
    # Each its own control socket: by default both would want the one beside the database.
    servers = [server_factory(database, "--control-socket", str(tmp_path / f"{n}.sock")) for n in (1, 2)]
    errors: list[BaseException] = []

    def start(server: ServerProcess) -> None:
        try:
            server.start(timeout=60)
        except BaseException as exc:  # reported below, with the log
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(server,)) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)

    assert errors == [], errors
    # One migrated the new database; the other waited for it and found nothing to do.
    migrations = sorted(
        "no migration needed" in line
        for server in servers
        for line in server.log.splitlines()
        if "event=database " in line
    )
    assert migrations == [False, True], [s.log for s in servers]
    assert all(server.stop() == 0 for server in servers)
