"""Fixtures for every test: databases on both backends, and server subprocesses.

A test (or a fixture it uses) that asks for ``database`` runs twice: on a fresh
SQLite file and on a fresh database of a private PostgreSQL server, started
once per session (``tests/support/postgres.py``) when its binaries are present.
Without them the PostgreSQL variants are left out (deselected), and one line
at the top and one at the end of the run say how many and how to get them. A
test about SQLite itself (its fast paths, pragmas, WAL, the file) is marked
``@pytest.mark.sqlite_only`` and runs once; ``postgres_database`` gives a test
about PostgreSQL alone its database.

By default a PostgreSQL database comes migrated to the latest schema revision
(made from a template, which is much cheaper than migrating each time; the
server then finds nothing to migrate); ``@pytest.mark.empty_database`` asks for
an empty one, as a new SQLite file is.
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import postgres
from tests.support import redis as redis_support
from tests.support.databases import (
    BACKENDS,
    POSTGRESQL,
    SQLITE,
    PostgresDatabases,
    ScratchDatabase,
    in_thread,
)
from tests.support.server import ServerProcess


def _postgres_unavailable() -> str | None:
    """What to do to run the PostgreSQL variants here; None if they can run."""
    if postgres.find_bindir() is None:
        return "install PostgreSQL (apt-get install -y postgresql) to run them"
    if importlib.util.find_spec("asyncpg") is None:
        return "install the driver (pip install -e '.[postgres]', as make test does) to run them"
    return None


def pytest_report_header(config: pytest.Config) -> str:
    why = _postgres_unavailable()
    if why is not None:
        lines = [f"postgresql: not found; the PostgreSQL variants of the tests are left out: {why}"]
    else:
        where = postgres.find_bindir()
        lines = [f"postgresql: {where} (store and server tests run on SQLite and on PostgreSQL)"]
    redis_why = _redis_unavailable()
    if redis_why is not None:
        lines.append(f"redis: not found; the several-process tests are skipped: {redis_why}")
    else:
        lines.append(f"redis: {redis_support.find_binary()} (the several-process tests run on a private one)")
    return "\n".join(lines)


def _redis_unavailable() -> str | None:
    """What to do to run the tests that need Redis here; None if they can run."""
    if redis_support.find_binary() is None:
        return redis_support.INSTALL_HINT
    if importlib.util.find_spec("redis") is None or importlib.util.find_spec("hiredis") is None:
        return "install the client (pip install -e '.[redis]', as make test does) to run them"
    return None


STORE_PATHS = ((SQLITE, "fast"), (SQLITE, "sqlalchemy"), (POSTGRESQL, "fast"), (POSTGRESQL, "sqlalchemy"))
"""A test that compares a database's own backend (SQLite's fast paths, asyncpg's batch insert) with
the generic SQLAlchemy backend (fixture ``store_path``) runs each on each database."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    only_sqlite = metafunc.definition.get_closest_marker("sqlite_only") is not None
    if "store_path" in metafunc.fixturenames:
        combinations = [c for c in STORE_PATHS if c[0] == SQLITE or not only_sqlite]
        ids = [f"{backend}-{path}" for backend, path in combinations]
        metafunc.parametrize(("backend", "store_path"), combinations, indirect=["backend"], ids=ids)
        return
    metafunc.parametrize("backend", (SQLITE,) if only_sqlite else BACKENDS, indirect=True)


def _require_postgres() -> None:
    # One place that skips, so that pytest -ra sums every skipped PostgreSQL variant in one line.
    if (why := _postgres_unavailable()) is not None:
        pytest.skip(f"PostgreSQL: {why}")


_LEFT_OUT = pytest.StashKey[int]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _postgres_unavailable() is None:
        return
    keep, left_out = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("backend") == POSTGRESQL
        wants_postgres = {"postgres_database", "postgres_databases"} & set(getattr(item, "fixturenames", ()))
        (left_out if on_postgres or wants_postgres else keep).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = keep
        config.stash[_LEFT_OUT] = len(left_out)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    left_out = config.stash.get(_LEFT_OUT, 0)
    if left_out:
        terminalreporter.write_line(f"{left_out} PostgreSQL variants not run: {_postgres_unavailable()}")
    elif _xdist_controller(config) and (why := _postgres_unavailable()) is not None:
        # Under pytest-xdist the workers collect and leave the variants out; the controller says so.
        terminalreporter.write_line(f"PostgreSQL variants not run: {why}")


def _xdist_controller(config: pytest.Config) -> bool:
    """Whether this process hands the tests to pytest-xdist's workers (and runs none itself)."""
    return not hasattr(config, "workerinput") and bool(config.getoption("numprocesses", None))


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: every test that uses it runs on both (see the module doc)."""
    name: str = request.param
    if name == POSTGRESQL:
        _require_postgres()
    return name


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    """The session's PostgreSQL server, started on first use, and its supply of fresh databases."""
    _require_postgres()
    bindir = postgres.find_bindir()
    assert bindir is not None
    base = Path(tempfile.mkdtemp(prefix="chatapp-pg-"))
    base.chmod(0o755)  # the server may run as the postgres user (see tests/support/postgres.py)
    server = postgres.PostgresServer(base / "cluster", bindir).start()
    try:
        databases = PostgresDatabases(server, _migrate)
        try:
            yield databases
        finally:
            databases.close()
    finally:
        server.stop()


def _migrate(url: str) -> None:
    from chatapp.server.store import create_engine, upgrade

    async def run() -> None:
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    in_thread(run)


@pytest.fixture
def redis_server(redis_process: redis_support.RedisServer) -> redis_support.RedisServer:
    """This worker's private Redis server, emptied for this test (the keys of earlier tests'
    processes, such as presence still within its TTL, would speak of users of another database);
    a test that stops it must start it again before it ends (``restart``)."""
    redis_process.flush()
    return redis_process


@pytest.fixture(scope="session")
def redis_process() -> Iterator[redis_support.RedisServer]:
    """This worker's private Redis server process, started on first use (each pytest-xdist
    worker has its own)."""
    if (why := _redis_unavailable()) is not None:
        pytest.skip(f"Redis: {why}")
    binary = redis_support.find_binary()
    assert binary is not None
    server = redis_support.RedisServer(Path(tempfile.mkdtemp(prefix="chatapp-redis-")), binary).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ScratchDatabase]:
    """A fresh database for this test: an SQLite file under ``tmp_path``, or a PostgreSQL database."""
    if backend == SQLITE:
        path = tmp_path / "data" / "chat.db"
        yield ScratchDatabase(SQLITE, f"sqlite+aiosqlite:///{path}", path)
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.take(migrated=request.node.get_closest_marker("empty_database") is None)
    try:
        yield ScratchDatabase(POSTGRESQL, databases.server.url(name))
    finally:
        databases.give_back(name)


@pytest.fixture
def postgres_database(request: pytest.FixtureRequest) -> Iterator[ScratchDatabase]:
    """A fresh PostgreSQL database (migrated), for a test about PostgreSQL alone."""
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.take(migrated=True)
    try:
        yield ScratchDatabase(POSTGRESQL, databases.server.url(name))
    finally:
        databases.give_back(name)


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[ServerProcess]]:
    """Start servers as subprocesses; every one started is killed at the end of the test."""
    started: list[ServerProcess] = []

    class _Tracked(ServerProcess):
        def start(self, timeout: float = 30.0) -> ServerProcess:
            if self not in started:
                started.append(self)
            return super().start(timeout)

    yield _Tracked
    for proc in started:
        proc.close()


@pytest.fixture
def server(server_factory: type[ServerProcess], database: ScratchDatabase) -> ServerProcess:
    """A running server subprocess on a fresh database (each backend in turn)."""
    return server_factory(database).start()
