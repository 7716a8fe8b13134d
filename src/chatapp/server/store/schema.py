"""At open: make sure the database's schema is the one this code expects, migrating it if allowed.

Migrations run under a lock (see ``migrations/env.py``): servers starting at
once on one empty database take turns, and all but the first find nothing to do.
"""

from __future__ import annotations

from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from .errors import SchemaOutOfDate
from .migrate import SchemaState, schema_state, upgrade
from .records import OpenedDatabase


async def prepare_schema(engine: AsyncEngine, url: str, *, migrate: bool) -> OpenedDatabase:
    """Check (and with ``migrate`` upgrade) the schema; what was found and done, for the log.

    :class:`SchemaOutOfDate` if the database was migrated by a newer chatapp, or
    without ``migrate`` if it is not at the latest revision.
    """
    state = await schema_state(engine)
    if state.unknown:
        raise SchemaOutOfDate(_newer_schema_message(url, state), state)
    migrated_from = None
    if migrate:
        if not state.up_to_date:
            before = await upgrade(engine)
            # Read under the lock: another server may have migrated it in the meantime.
            if set(before) != set(state.heads):
                migrated_from = _describe(before)
    elif not state.up_to_date:
        raise SchemaOutOfDate(_out_of_date_message(url, state), state)
    return OpenedDatabase(display_url(url), _describe(state.heads), migrated_from)


def display_url(url: str) -> str:
    """``url`` with its password masked."""
    return make_url(url).render_as_string(hide_password=True)


def _describe(revisions: tuple[str, ...]) -> str:
    return ", ".join(revisions) if revisions else "none (no chatapp tables yet)"


def _out_of_date_message(url: str, state: SchemaState) -> str:
    display = display_url(url)
    return (
        f"the database schema at {display} is out of date "
        f"(revision {_describe(state.current)}, this version of chatapp needs {_describe(state.heads)}). "
        f"Run `alembic upgrade head` from the chatapp source tree with CHATAPP_DATABASE_URL={display}, "
        "or start the server without --no-migrate to upgrade it at start."
    )


def _newer_schema_message(url: str, state: SchemaState) -> str:
    return (
        f"the database at {display_url(url)} is at revision {_describe(state.unknown)}, which this version "
        f"of chatapp does not know (it knows up to {_describe(state.heads)}): it was probably migrated by a "
        "newer chatapp. Run that version, or restore a backup made before the upgrade."
    )
