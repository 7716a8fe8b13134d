"""PostgreSQL for the benchmark: a private server, and each run's database made from a template.

The durable workloads run a second chatapp target, ``chatapp-pg``: the same
server on PostgreSQL. The suite starts its own PostgreSQL (the tests' support
module: ``initdb`` into the work directory, a free port on 127.0.0.1) when the
binaries and asyncpg are installed; otherwise those runs are left out and the
report says why.

Durability is set to match what the SQLite runs give (``synchronous=NORMAL``
in WAL mode: a commit is written to the OS at once and survives the server
process dying, not a power cut): ``synchronous_commit=on`` (a commit waits for
its WAL to be written) and ``fsync=off`` (not for it to reach the disk).

The accounts a workload needs are copied from its SQLite template (same users,
tokens and messages), once per template, into a PostgreSQL template database;
every run gets ``CREATE DATABASE ... TEMPLATE`` of it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
from pathlib import Path

from sqlalchemy import delete, insert, select, text
from tests.support.postgres import PostgresServer, find_bindir

from bench import procstat
from chatapp.server.store import Store, create_engine
from chatapp.server.store.models import Base

TARGET = "chatapp-pg"
BENCH_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "on",
    "full_page_writes": "off",
    "shared_buffers": "256MB",
}


def unavailable() -> str | None:
    """Why PostgreSQL cannot be measured here; None if it can."""
    if find_bindir() is None:
        return "PostgreSQL is not installed (apt-get install postgresql)"
    if importlib.util.find_spec("asyncpg") is None:
        return "asyncpg is not installed (pip install -e '.[postgres]')"
    return None


class BenchPostgres:
    def __init__(self, workdir: Path) -> None:
        bindir = find_bindir()
        assert bindir is not None
        workdir.chmod(0o755)  # the server may run as the postgres user (see tests/support/postgres.py)
        self.server = PostgresServer(workdir / "postgres", bindir, BENCH_SETTINGS).start()
        self._templates: dict[Path, str] = {}
        self._names = itertools.count(1)

    def database_for(self, sqlite_template: Path) -> str:
        """A new database holding what the SQLite template holds; its URL."""
        template = self._templates.get(sqlite_template)
        if template is None:
            template = f"accounts{len(self._templates) + 1}"
            self.server.psql(f'CREATE DATABASE "{template}"')
            asyncio.run(copy_rows(f"sqlite+aiosqlite:///{sqlite_template}", self.server.url(template)))
            self._templates[sqlite_template] = template
        name = f"run{next(self._names)}"
        self.server.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        return self.server.url(name)

    def cpu_seconds(self) -> float | None:
        """CPU seconds the PostgreSQL server's processes have used so far (the postmaster, its
        backends alive now and those reaped). None without ``/proc``."""
        pid = self.server.pid
        return procstat.tree_cpu(pid) if pid is not None else None

    def drop(self, url: str) -> None:
        self.server.psql(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')

    def stop(self) -> None:
        self.server.stop()


async def copy_rows(source_url: str, target_url: str) -> None:
    """Migrate the target database, then copy every row of the store's tables into it, ids included."""
    await (await Store.open(target_url)).close()
    source, target = create_engine(source_url), create_engine(target_url)
    tables = Base.metadata.sorted_tables  # parents before children
    try:
        async with source.connect() as reading, target.begin() as writing:
            for table in reversed(tables):
                await writing.execute(delete(table))  # what the migration made ('general')
            for table in tables:
                rows = [dict(row._mapping) for row in await reading.execute(select(table))]
                for start in range(0, len(rows), 5000):
                    await writing.execute(insert(table), rows[start : start + 5000])
            # Rows came with their ids: the sequences go on from the highest (tables with one: a file's
            # id, say, is a random string).
            for table in tables:
                if table.autoincrement_column is not None and table.autoincrement_column.name == "id":
                    await writing.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"GREATEST((SELECT max(id) FROM {table.name}), 1))"
                        )
                    )
    finally:
        await source.dispose()
        await target.dispose()
