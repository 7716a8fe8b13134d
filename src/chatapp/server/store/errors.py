"""The errors the store raises itself; SQLAlchemy's own errors propagate unchanged."""

from __future__ import annotations

from .migrate import SchemaState


class StoreError(Exception):
    """Base of the errors the store raises itself."""


class UsernameTaken(StoreError):
    def __init__(self, username: str) -> None:
        super().__init__(f"the username {username!r} is taken")
        self.username = username


class SchemaOutOfDate(StoreError):
    """The database schema does not match this version of chatapp, and we may not migrate it."""

    def __init__(self, message: str, state: SchemaState) -> None:
        super().__init__(message)
        self.state = state
