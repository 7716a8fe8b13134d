"""Why a database could not be opened, in one line a person can act on.

A URL whose driver is not installed, a wrong password, a missing database, an
unreachable host: each used to end the server with a long traceback through
SQLAlchemy and the driver. :meth:`Store.open` raises :class:`DatabaseUnavailable`
instead, whose message says what failed and what to do; the cause stays
attached for ``--log-level debug``.
"""

from __future__ import annotations

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InvalidRequestError, NoSuchModuleError

from .errors import StoreError

EXTRAS = {"asyncpg": "postgres"}
"""The chatapp extra that installs each driver we support beyond the default (aiosqlite)."""
SUPPORTED = "sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER:PASSWORD@HOST/DATABASE"

OPEN_ERRORS = (ImportError, ArgumentError, InvalidRequestError, OSError, DBAPIError, TimeoutError)
"""What making an engine and connecting raise for a bad URL or an unreachable database."""


class DatabaseUnavailable(StoreError):
    """The database could not be opened; the message is one line that says why."""


def describe_open_error(url: str, exc: BaseException, doing: str) -> str:
    """One line for ``exc``, raised while ``doing`` (e.g. "connect to") the database at ``url``."""
    if isinstance(exc, ArgumentError) and "parse" in str(exc):
        return f"the database URL could not be parsed; expected {SUPPORTED}"
    where = _display(url)
    if isinstance(exc, NoSuchModuleError):
        return f"the database URL {where} names a database SQLAlchemy does not know; expected {SUPPORTED}"
    if isinstance(exc, ImportError):
        return _missing_driver(url, exc)
    if isinstance(exc, InvalidRequestError) and "async" in str(exc):
        driver = make_url(url).get_driver_name()
        return (
            f"the database URL {where} uses the driver {driver!r}, which is not asynchronous; "
            f"expected {SUPPORTED}"
        )
    return f"cannot {doing} the database at {where}: {_reason(exc)}"


def _missing_driver(url: str, exc: ImportError) -> str:
    driver = make_url(url).get_driver_name()
    module = exc.name or driver
    extra = EXTRAS.get(module) or EXTRAS.get(driver)
    if extra is not None:
        return (
            f"the database URL needs the {module} driver, which is not installed: "
            f"pip install 'chatapp[{extra}]'"
        )
    return (
        f"the database URL needs the Python module {module!r}, which is not installed; "
        f"chatapp supports {SUPPORTED} (pip install 'chatapp[postgres]' for PostgreSQL)"
    )


def _reason(exc: BaseException) -> str:
    """The driver's own words, on one line: the innermost message, without SQLAlchemy's wrapping."""
    inner: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        inner = exc.orig
    text = " ".join(str(inner).split()) or type(inner).__name__
    if isinstance(inner, TimeoutError) and not str(inner):
        text = "timed out"
    return text


def _display(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:  # pragma: no cover - only URLs that parsed get here
        return "(unparsable URL)"
