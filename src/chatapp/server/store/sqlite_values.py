"""Values for the raw ``sqlite3`` fast paths, converted exactly as SQLAlchemy's SQLite dialect does.

The fast paths (message batches, session batches) bypass SQLAlchemy but share
tables with it, so a value must be stored as the ORM stores it and read as the
ORM reads it: a timestamp written as a ``datetime`` would otherwise be stored
by ``sqlite3``'s own adapter (with ``+00:00``, deprecated since Python 3.12)
and compare differently in SQL from the ORM's text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects import sqlite

from .models import require_aware

DIALECT = sqlite.dialect()


def bind(column: Any) -> Callable[[Any], Any]:
    """How a Python value of ``column`` is passed to ``sqlite3``."""
    # dialect_impl: a TypeDecorator's own bind_processor would use its generic impl, not SQLite's.
    process = column.type.dialect_impl(DIALECT).bind_processor(DIALECT)
    return process if process is not None else (lambda value: value)


def result(column: Any) -> Callable[[Any], Any]:
    """How a value of ``column`` read from ``sqlite3`` becomes a Python value."""
    process = column.type.dialect_impl(DIALECT).result_processor(DIALECT, None)
    return process if process is not None else (lambda value: value)


_second = -1
_second_text = ""


def utc_timestamp_text(moment: datetime) -> str:
    """``moment`` as the store's timestamp columns hold it in SQLite: the same text as
    :func:`bind` makes for them, several times faster.

    Every relayed message needs one: the date and time are formatted once per
    second, not per message.
    """
    global _second, _second_text
    if moment.tzinfo is not UTC:
        moment = require_aware(moment).astimezone(UTC)
    # Exact (a float timestamp is not) and cheap (comparing aware datetimes is not).
    second = moment.toordinal() * 86400 + moment.hour * 3600 + moment.minute * 60 + moment.second
    if second != _second:
        _second_text = (
            f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
        )
        _second = second
    return f"{_second_text}.{moment.microsecond:06d}"
