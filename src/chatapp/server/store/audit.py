"""The audit log: moderation and admin actions, filter hits, sanctions (part of :class:`~.store.Store`)."""

from __future__ import annotations

from sqlalchemy import insert, select

from .backend import Backend
from .models import AuditEvent
from .records import AuditDraft, AuditRecord


class Audit:
    _backend: Backend

    async def record_audit(self, draft: AuditDraft) -> int:
        """Store one audit event; its id."""
        async with self._backend.writing() as session:
            result = await session.execute(
                insert(AuditEvent)
                .values(
                    created_at=draft.created_at,
                    actor=draft.actor,
                    action=draft.action,
                    target=draft.target,
                    room=draft.room,
                    reason=draft.reason,
                    address=draft.address,
                )
                .returning(AuditEvent.id)
            )
            return int(result.scalar_one())

    async def audit_page(self, *, before: int | None, limit: int) -> tuple[list[AuditRecord], bool]:
        """Up to ``limit`` events older than event ``before`` (all when None), newest first, and
        whether there are older ones."""
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
        if before is not None:
            query = query.where(AuditEvent.id < before)
        async with self._backend.reading() as session:
            rows = list(await session.scalars(query))
        records = [
            AuditRecord(
                id=row.id,
                created_at=row.created_at,
                actor=row.actor,
                action=row.action,
                target=row.target,
                room=row.room,
                reason=row.reason,
                address=row.address,
            )
            for row in rows[:limit]
        ]
        return records, len(rows) > limit
