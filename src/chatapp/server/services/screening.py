"""Screening what users write against the content filter: refuse, mask, or let through and audit.

A ``reject`` hit is the ``filtered`` error with the rule's sentence, raised
before anything is stored or delivered; a ``mask`` hit gives back the text to
store and deliver instead; a ``flag`` hit lets the text through and writes an
audit event (actor ``server``, action ``filter_flag``, the rule's name as the
reason) in the background, so the sender never waits for it. A kind of text
no rule applies to costs one dictionary look-up.
"""

from __future__ import annotations

import asyncio

from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.server.filters import ContentFilter, Target
from chatapp.server.services.audit import SERVER, AuditTrail


class Screening:
    def __init__(self, filters: ContentFilter, audit: AuditTrail) -> None:
        self._filters = filters
        self._audit = audit
        self._pending: set[asyncio.Task[None]] = set()

    def check(self, user: str, target: Target, text: str, *, room: str | None = None) -> str:
        """The text to use (masked where a mask rule hit), or ``filtered`` if a reject rule hit."""
        if not self._filters.applies(target):
            return text
        verdict = self._filters.screen(target, text)
        if verdict.rejected is not None:
            raise ProtocolError(ErrorCode.FILTERED, verdict.rejected.message)
        for name in verdict.flagged:
            task = asyncio.create_task(
                self._audit.record(SERVER, "filter_flag", target=user, room=room, reason=name)
            )
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return verdict.text
