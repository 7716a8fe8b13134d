from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, make_url

from chatapp.server.store import (
    SchemaOutOfDate,
    Store,
    create_engine,
    head_revision,
    schema_state,
    upgrade,
)
from chatapp.server.store.migrate import MIGRATIONS_DIR, alembic_config
from chatapp.server.store.models import Base
from chatapp.server.store.unenforced import schema_filter
from tests.support.databases import ScratchDatabase

# Migrations start from nothing, on PostgreSQL as on a new SQLite file.
pytestmark = pytest.mark.empty_database

REPO_ROOT = Path(__file__).resolve().parents[3]
ALEMBIC = Path(sys.executable).with_name("alembic")
APP_TABLES = {"users", "sessions", "rooms", "memberships", "messages"}


def alembic_cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATAPP_DATABASE_URL": url}
    return subprocess.run(
        [str(ALEMBIC), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


async def test_open_without_migrate_refuses_an_empty_database(db_url: str, database: ScratchDatabase) -> None:
    with pytest.raises(SchemaOutOfDate) as caught:
        await Store.open(db_url, migrate=False)

    message = str(caught.value)
    assert "alembic upgrade head" in message
    # The URL, with any password masked: the message goes to a terminal and a log.
    assert f"CHATAPP_DATABASE_URL={make_url(db_url).render_as_string(hide_password=True)}" in message
    assert "chatapp-test-password" not in message
    assert "--no-migrate" in message
    assert caught.value.state.current == ()
    assert not database.tables() & APP_TABLES


async def test_open_migrates_a_fresh_database_and_then_does_nothing(
    db_url: str, database: ScratchDatabase
) -> None:
    store = await Store.open(db_url)
    assert store.opened is not None and store.opened.migrated_from == "none (no chatapp tables yet)"
    await store.close()
    assert database.tables() >= APP_TABLES
    assert database.revisions() == [head_revision()]
    schema = database.path.read_bytes() if database.path is not None else None

    store = await Store.open(db_url, migrate=True)
    assert store.opened is not None and store.opened.migrated_from is None
    await store.close()
    store = await Store.open(db_url, migrate=False)
    await store.close()

    assert database.revisions() == [head_revision()]
    if database.path is not None:
        assert database.path.read_bytes() == schema


async def test_open_refuses_a_database_from_a_newer_version(db_url: str, database: ScratchDatabase) -> None:
    await (await Store.open(db_url)).close()
    database.execute("UPDATE alembic_version SET version_num = 'f00d'")

    for migrate in (True, False):
        with pytest.raises(SchemaOutOfDate, match="f00d.*newer chatapp"):
            await Store.open(db_url, migrate=migrate)


async def test_upgrade_leaves_the_callers_logging_alone(db_url: str) -> None:
    logger = logging.getLogger("chatapp.test.sentinel")
    root_handlers = list(logging.getLogger().handlers)

    await (await Store.open(db_url)).close()

    assert not logger.disabled
    assert logging.getLogger().handlers == root_handlers


async def test_upgrade_is_idempotent_on_a_shared_engine(db_url: str, database: ScratchDatabase) -> None:
    engine = create_engine(db_url)
    try:
        assert await upgrade(engine) == ()  # it found nothing
        assert await upgrade(engine) == (head_revision(),)  # it found the schema up to date
        state = await schema_state(engine)
        if database.is_sqlite:
            async with engine.connect() as connection:
                foreign_keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
            # The migration switches enforcement off on its connection; the pool must get it back on.
            assert foreign_keys == 1
    finally:
        await engine.dispose()
    assert state.up_to_date and state.current == (head_revision(),)


async def test_models_and_migrations_agree(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)

        def diff(connection: Connection) -> list[object]:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_object": schema_filter(connection.dialect.name),
                },
            )
            return list(compare_metadata(context, Base.metadata))

        async with engine.connect() as connection:
            assert await connection.run_sync(diff) == []
    finally:
        await engine.dispose()


def test_alembic_cli_upgrade_and_downgrade(db_url: str, database: ScratchDatabase) -> None:
    url = db_url

    up = alembic_cli("upgrade", "head", url=url)
    assert up.returncode == 0, up.stderr
    # alembic.ini's logging sections are in effect: the CLI reports what it ran.
    assert "Running upgrade  -> 0001" in up.stderr
    assert "Running upgrade 0001 -> 0002" in up.stderr
    assert f"-> {head_revision()}" in up.stderr
    assert database.tables() >= APP_TABLES
    assert database.revisions() == [head_revision()]

    down = alembic_cli("downgrade", "base", url=url)
    assert down.returncode == 0, down.stderr
    assert not database.tables() & APP_TABLES
    assert database.revisions() == []


def test_offline_sql_renders_for_postgresql() -> None:
    # Without a server: the DDL an operator gets from `alembic upgrade head --sql`.
    output = io.StringIO()
    config = alembic_config()
    config.output_buffer = output
    config.set_main_option("sqlalchemy.url", "postgresql+asyncpg://chat@localhost/chat")

    command.upgrade(config, "head", sql=True)

    sql = output.getvalue()
    assert "CREATE TABLE users" in sql
    assert "TIMESTAMP WITH TIME ZONE" in sql
    assert "CONSTRAINT uq_users_username_key UNIQUE (username_key)" in sql
    assert "ON DELETE CASCADE" in sql
    assert "ON DELETE SET NULL" in sql
    assert "id SERIAL NOT NULL" in sql  # made 64-bit by revision 0004:
    assert (
        "ALTER COLUMN id TYPE BIGINT" in sql and "ALTER SEQUENCE IF EXISTS messages_id_seq AS bigint" in sql
    )
    assert "AUTOINCREMENT" not in sql
    assert "INSERT INTO rooms" in sql and "'general'" in sql


BROKEN_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("scratch", sa.Column("x", sa.Integer()))
    raise RuntimeError("broken migration")


def downgrade():
    pass
"""


async def test_a_failing_upgrade_leaves_the_database_untouched(
    db_url: str, database: ScratchDatabase, tmp_path: Path
) -> None:
    extra = tmp_path / "versions"
    extra.mkdir()
    (extra / "9999_broken.py").write_text(BROKEN_REVISION.replace("{head}", head_revision()))
    config = alembic_config()
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", os.pathsep.join([str(MIGRATIONS_DIR / "versions"), str(extra)])
    )

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    engine = create_engine(db_url)
    try:
        async with engine.connect() as connection:
            with pytest.raises(RuntimeError, match="broken migration"):
                await connection.run_sync(run)
    finally:
        await engine.dispose()
    # Every real revision ran in the same transaction as the broken one, so they are gone too.
    assert not database.tables() & (APP_TABLES | {"scratch"})


def test_autogenerate_writes_portable_types(tmp_path: Path) -> None:
    # Against an empty history, autogenerate renders the whole schema through env.py.
    versions = tmp_path / "versions"
    versions.mkdir()
    config = alembic_config()
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(versions))
    config.set_main_option("sqlalchemy.url", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")

    command.revision(
        config, message="everything", autogenerate=True, rev_id="9999", version_path=str(versions)
    )

    script = (versions / "9999_everything.py").read_text()
    assert "sa.DateTime(timezone=True)" in script
    assert "chatapp" not in script
