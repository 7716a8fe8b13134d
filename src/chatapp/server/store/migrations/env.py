"""alembic environment for chatapp (async engine; connection sharing).

Two ways in:

- programmatically (:func:`chatapp.server.store.migrate.upgrade`): the caller
  puts a live connection in ``config.attributes["connection"]``; this module
  neither creates an engine nor touches logging;
- the ``alembic`` command line: the URL is ``sqlalchemy.url`` if the ini sets
  one, else the server's own (``CHATAPP_DATABASE_URL`` or the default file).
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, make_url

from chatapp.server.config import database_url_from_env
from chatapp.server.store.engine import (
    begin_immediate,
    create_engine,
    sqlite_foreign_keys_off,
    take_migration_lock,
)
from chatapp.server.store.migrate import BEFORE
from chatapp.server.store.models import Base, UTCDateTime
from chatapp.server.store.unenforced import schema_filter

config = context.config
target_metadata = Base.metadata
shared_connection: Connection | None = config.attributes.get("connection")

# Only the CLI gets alembic's logging; a server running migrations at start keeps its own.
if config.config_file_name is not None and shared_connection is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or database_url_from_env()


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | bool:
    # Migrations must not import the models (they change; revisions must not),
    # so autogenerate writes the portable type UTCDateTime is built on.
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure_options(dialect_name: str) -> dict[str, Any]:
    return {
        # autogenerate must not propose foreign keys a database lacks on purpose (revision 0009).
        "include_object": schema_filter(dialect_name),
        "target_metadata": target_metadata,
        # SQLite can ALTER almost nothing; batch mode copies the table instead.
        "render_as_batch": True,
        "render_item": render_item,
        "compare_type": True,
    }


def run_migrations_offline() -> None:
    """Write the SQL to stdout (``alembic upgrade head --sql``) instead of running it."""
    url = database_url()
    context.configure(url=url, literal_binds=True, **configure_options(make_url(url).get_backend_name()))
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # Our SQLite engines emit a real BEGIN (see store.engine), so SQLite DDL
        # is transactional too: run every pending revision in one transaction.
        transactional_ddl=True,
        **configure_options(connection.dialect.name),
    )
    with sqlite_foreign_keys_off(connection):
        # One migration at a time per database: servers starting at once on an empty one wait
        # here for the first, then find the schema up to date (alembic reads the revision only
        # now, inside the transaction that holds the lock).
        begin_immediate(connection)  # SQLite: the write lock, taken at BEGIN
        with context.begin_transaction():
            take_migration_lock(connection)  # PostgreSQL: an advisory lock, until COMMIT
            config.attributes[BEFORE] = context.get_context().get_current_heads()
            context.run_migrations()
            if connection.dialect.name == "sqlite":
                violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if violations:
                    raise RuntimeError(f"migration would break foreign keys: {violations[:10]}")


async def run_async_migrations() -> None:
    engine = create_engine(database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    if shared_connection is not None:
        do_run_migrations(shared_connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
