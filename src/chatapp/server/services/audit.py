"""The audit trail: every moderation and admin action, every flagged filter hit, every sanction.

One call, :meth:`AuditTrail.record`, writes both the row of ``audit_events``
(which admins page through with ``audit`` and ``chatapp-admin audit``) and an
activity log line (``event=audit ...``). Never pass a password or a token: a
reset's new password, say, is not a reason.
"""

from __future__ import annotations

import logging

from chatapp.clock import utc_now, wire_timestamp
from chatapp.protocol.moderation_frames import AuditEntry
from chatapp.server import activity
from chatapp.server.store import AuditDraft, AuditRecord, Store

log = logging.getLogger("chatapp.audit")

CONSOLE = "console"
"""The actor name of ``chatapp-admin`` (the server machine's operator)."""
SERVER = "server"
"""The actor name of the server itself (a filter that flags a message)."""


class AuditTrail:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def record(
        self,
        actor: str,
        action: str,
        *,
        target: str | None = None,
        room: str | None = None,
        reason: str | None = None,
        address: str | None = None,
    ) -> None:
        """Log the action and store its row. A failed write is logged, not raised: the action it
        records has happened already, and its log line stands."""
        activity.record(
            "audit", actor=actor, action=action, target=target, room=room, reason=reason, addr=address
        )
        draft = AuditDraft(
            created_at=utc_now(),
            actor=actor,
            action=action,
            target=target,
            room=room,
            reason=reason,
            address=address,
        )
        try:
            await self._store.record_audit(draft)
        except Exception:
            log.exception("could not store the audit event of %s by %s", action, actor)


def audit_entry(record: AuditRecord) -> AuditEntry:
    """An audit event as the ``audit_page`` frame carries it."""
    return AuditEntry(
        id=record.id,
        at=wire_timestamp(record.created_at),
        actor=record.actor,
        action=record.action,
        target=record.target,
        room=record.room,
        reason=record.reason,
        address=record.address,
    )
