"""Persistence: the :class:`Store` interface, its backends, the SQLAlchemy models and migrations.

Everything outside this package talks to the database through :class:`Store`
(and :class:`MessageWriter`, which batches message writes) and the records
they return. The map of the modules is in docs/design.md ("The store").
"""

from __future__ import annotations

from .backend import Backend
from .engine import DEFAULT_BUSY_TIMEOUT_MS, create_engine
from .errors import (
    DeviceConflict,
    DisplayNameTaken,
    SchemaOutOfDate,
    StoreError,
    TooManyDevices,
    TooManyKeys,
    UploadRefused,
    UsernameTaken,
)
from .migrate import SchemaState, head_revision, schema_state, upgrade
from .records import (
    AccountSanctionRecord,
    AddressBanRecord,
    AuditDraft,
    AuditRecord,
    ClaimedKey,
    CommittedBatch,
    DeviceRecord,
    FileAccess,
    FileLimits,
    FileRecord,
    KeyRecord,
    MessageDraft,
    MessageOrigin,
    OpenedDatabase,
    ProfileRecord,
    RoomRecord,
    RoomSummary,
    Routed,
    SanctionRecord,
    SessionRecord,
    SignInRecord,
    StoredMessage,
    UserRecord,
    UserSummaryRecord,
    stored_from_draft,
)
from .startup import DatabaseUnavailable
from .store import Store
from .writer import SHARED_PACE, MessageWriter, WriteFailed, WriterClosed, WriterStats

__all__ = [
    "Routed",
    "CommittedBatch",
    "AccountSanctionRecord",
    "AddressBanRecord",
    "AuditDraft",
    "AuditRecord",
    "ClaimedKey",
    "DeviceConflict",
    "DeviceRecord",
    "FileAccess",
    "FileLimits",
    "FileRecord",
    "UploadRefused",
    "KeyRecord",
    "TooManyDevices",
    "TooManyKeys",
    "Backend",
    "DEFAULT_BUSY_TIMEOUT_MS",
    "DatabaseUnavailable",
    "DisplayNameTaken",
    "MessageDraft",
    "MessageOrigin",
    "MessageWriter",
    "SHARED_PACE",
    "OpenedDatabase",
    "ProfileRecord",
    "RoomRecord",
    "RoomSummary",
    "SanctionRecord",
    "SchemaOutOfDate",
    "SchemaState",
    "SessionRecord",
    "SignInRecord",
    "Store",
    "StoreError",
    "StoredMessage",
    "UserRecord",
    "UserSummaryRecord",
    "UsernameTaken",
    "WriteFailed",
    "WriterClosed",
    "WriterStats",
    "create_engine",
    "head_revision",
    "schema_state",
    "stored_from_draft",
    "upgrade",
]
