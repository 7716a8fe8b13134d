"""Persistence: SQLAlchemy models, the :class:`Store` repository, and schema migrations.

Everything outside this package talks to the database through :class:`Store`
(and :class:`MessageWriter`, which batches message writes) and the records
they return.
"""

from __future__ import annotations

from .engine import DEFAULT_BUSY_TIMEOUT_MS, create_engine
from .migrate import SchemaState, head_revision, schema_state, upgrade
from .repository import (
    MessageDraft,
    RoomRecord,
    RoomSummary,
    SchemaOutOfDate,
    SessionRecord,
    Store,
    StoredMessage,
    StoreError,
    UsernameTaken,
    UserRecord,
    stored_from_draft,
)
from .writer import MessageWriter, WriteFailed, WriterClosed, WriterStats

__all__ = [
    "stored_from_draft",
    "DEFAULT_BUSY_TIMEOUT_MS",
    "MessageDraft",
    "MessageWriter",
    "RoomRecord",
    "RoomSummary",
    "SchemaOutOfDate",
    "SchemaState",
    "SessionRecord",
    "Store",
    "StoreError",
    "StoredMessage",
    "UserRecord",
    "UsernameTaken",
    "WriteFailed",
    "WriterClosed",
    "WriterStats",
    "create_engine",
    "head_revision",
    "schema_state",
    "upgrade",
]
