"""asyncpg's errors as SQLAlchemy's: the store's callers see database errors one way, whichever
path (SQLAlchemy, or one of asyncpg's own) failed."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)
"""What asyncpg's own paths raise for a database that refuses or is gone."""


def as_sqlalchemy(exc: BaseException, statement: str) -> DBAPIError:
    """``exc`` as the SQLAlchemy error the generic path would raise (its ``orig`` is ``exc``)."""
    kind: type[DBAPIError] = DBAPIError
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        kind = IntegrityError
    elif isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InterfaceError | OSError):
        kind = OperationalError
    return kind(statement, None, exc, hide_parameters=True)
