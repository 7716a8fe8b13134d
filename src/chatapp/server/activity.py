"""The activity log: one structured line per event, on stderr.

Lines are ``key=value`` pairs (logfmt) so they can be grepped and parsed:
``event=login user=alice peer=127.0.0.1:50312 session=7``. Values are quoted
when they contain whitespace, and every character that could end or reorder a
line (controls, Unicode line separators, bidi controls) is written as an escape,
so a username or a peer-supplied string cannot forge a log line. Never pass a secret (password,
token) here: nothing in this module could tell it from any other value.
"""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys

log = logging.getLogger("chatapp.activity")

# Everything that could end a line or reorder one for some reader of the log is written as an
# escape: C0 and C1 controls (U+0085 among them), DEL, the Unicode line and paragraph separators,
# and the bidirectional controls. The backslash is escaped too, so an escape is never ambiguous.
_ESCAPED = [*range(0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, 0x2028, 0x2029]
_ESCAPED += [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ESCAPES = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _ESCAPED} | {ord("\\"): "\\\\"}


def _format_value(value: object) -> str:
    text = str(value).translate(_ESCAPES)
    # Quoted when a reader splitting on whitespace (any of Unicode's) or on '=' would cut it.
    if not text or '"' in text or "=" in text or any(c.isspace() for c in text):
        return '"' + text.replace('"', '\\"') + '"'
    return text


def format_event(event: str, fields: dict[str, object]) -> str:
    parts = [f"event={event}"]
    parts.extend(f"{key}={_format_value(value)}" for key, value in fields.items() if value is not None)
    return " ".join(parts)


def record(event: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one activity event (cheap when the level is off)."""
    if log.isEnabledFor(level):
        log.log(level, format_event(event, fields))


def configure_logging(level: str) -> logging.handlers.QueueListener:
    """Send every chatapp log line to stderr as ``time level logger message``.

    The event loop only queues each record; a listener thread formats it and
    writes it (the write and its flush are what a log line costs, and thousands
    of clients signing in at once make thousands of lines). The returned
    listener is started; stop it at exit to write what is still queued.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, handler)
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(records)]
    root.setLevel(level.upper())
    # SQLAlchemy, asyncio and websockets are chatty at debug and info; their warnings still come through.
    for noisy in ("sqlalchemy", "aiosqlite", "asyncio", "alembic", "websockets"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    listener.start()
    return listener
