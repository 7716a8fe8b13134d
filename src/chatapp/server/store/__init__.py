"""Persistence: SQLAlchemy models, the :class:`Store` repository, and schema migrations.

Everything outside this package talks to the database through :class:`Store`
and the records it returns.
"""

from __future__ import annotations

from .engine import create_engine
from .migrate import SchemaState, head_revision, schema_state, upgrade
from .repository import (
    SchemaOutOfDate,
    SessionRecord,
    Store,
    StoreError,
    UsernameTaken,
    UserRecord,
)

__all__ = [
    "SchemaOutOfDate",
    "SchemaState",
    "SessionRecord",
    "Store",
    "StoreError",
    "UserRecord",
    "UsernameTaken",
    "create_engine",
    "head_revision",
    "schema_state",
    "upgrade",
]
