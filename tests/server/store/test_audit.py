"""The audit log's table: events stored as given, read newest first in pages."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from chatapp.server.services.audit import AuditTrail, audit_entry
from chatapp.server.store import AuditDraft, Store


async def test_events_are_stored_and_paged_newest_first(store: Store, now: datetime) -> None:
    ids = [
        await store.record_audit(
            AuditDraft(created_at=now + timedelta(seconds=i), actor="alice", action="kick", target=f"u{i}")
        )
        for i in range(5)
    ]
    assert ids == sorted(ids)

    page, more = await store.audit_page(before=None, limit=2)
    assert [e.target for e in page] == ["u4", "u3"] and more
    page, more = await store.audit_page(before=page[-1].id, limit=2)
    assert [e.target for e in page] == ["u2", "u1"] and more
    page, more = await store.audit_page(before=page[-1].id, limit=2)
    assert [e.target for e in page] == ["u0"] and not more
    assert page[0].created_at == now and page[0].actor == "alice" and page[0].room is None


async def test_the_trail_stores_every_field_and_logs_a_line(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="chatapp.activity")
    await AuditTrail(store).record(
        "alice", "ban", target="bob", room="dev", reason="spam\nevent=forged", address="10.0.0.1"
    )
    (event,), more = await store.audit_page(before=None, limit=10)
    assert not more
    assert (event.actor, event.action, event.target, event.room, event.address) == (
        "alice", "ban", "bob", "dev", "10.0.0.1"
    )
    assert event.reason == "spam\nevent=forged"  # stored as given; escaped in the log line
    (line,) = [r.getMessage() for r in caplog.records if r.name == "chatapp.activity"]
    assert line.startswith("event=audit actor=alice action=ban target=bob room=dev")
    assert "\n" not in line and 'reason="spam\\x0aevent=forged"' in line
    entry = audit_entry(event)
    assert entry.actor == "alice" and entry.at.endswith("Z")


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        AuditDraft(created_at=datetime(2025, 1, 1), actor="a", action="b")  # noqa: DTZ001
