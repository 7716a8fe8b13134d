"""Bring a database schema to the latest alembic revision, or tell how far it is.

The server does this at start (unless ``--no-migrate``), using alembic's
"connection sharing" recipe: the engine the server will use hands a connection
to ``env.py`` through ``Config.attributes``, so the upgrade runs on the same
database (even an in-memory one) and leaves the server's logging alone.

The alembic scripts live inside this package (``migrations/``) so an installed
wheel can migrate without the source tree; the ``alembic.ini`` and ``alembic/``
symlink at the repository root are for the ``alembic`` command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An alembic configuration for the bundled scripts, without any ini file."""
    config = Config()
    # ConfigParser interpolation: a '%' in the install path must not be read as one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def head_revision() -> str:
    """The revision the models of this version of chatapp correspond to."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no alembic revisions are bundled"
    return head


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: tuple[str, ...]
    """Revisions recorded in the database; empty for a database alembic never touched."""
    heads: tuple[str, ...]
    """The latest revisions this version of chatapp knows."""
    unknown: tuple[str, ...]
    """Recorded revisions this version does not know (a newer chatapp migrated the database)."""

    @property
    def up_to_date(self) -> bool:
        return set(self.current) == set(self.heads)


async def schema_state(engine: AsyncEngine) -> SchemaState:
    async with engine.connect() as connection:
        return await connection.run_sync(_schema_state)


def _schema_state(connection: Connection) -> SchemaState:
    script = ScriptDirectory.from_config(alembic_config())
    current = tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    known = {revision.revision for revision in script.walk_revisions()}
    return SchemaState(
        current=current,
        heads=tuple(sorted(script.get_heads())),
        unknown=tuple(revision for revision in current if revision not in known),
    )


BEFORE = "chatapp_revisions_before"
"""Where ``env.py`` leaves the revisions it found, read under the migration lock."""


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str, ...]:
    """Upgrade the schema to ``revision``; a no-op when it is already there. Returns the
    revisions the database was at (empty for a new database), as read under the lock.

    All pending revisions run in one transaction, so a failure leaves the database as it was
    (on SQLite too: see :mod:`chatapp.server.store.engine`). That transaction holds the
    migration lock (``env.py``): of several servers starting at once on one database, one
    migrates and the others wait for it, then find nothing to do.
    """
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    # connect(), not the cookbook's begin(): env.py must switch SQLite foreign
    # keys off before the transaction starts (see sqlite_foreign_keys_off),
    # then begins and commits the transaction itself.
    async with engine.connect() as connection:
        await connection.run_sync(run)
    return tuple(sorted(config.attributes.get(BEFORE, ())))
