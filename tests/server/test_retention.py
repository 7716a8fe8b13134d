"""--history-days: messages older than the retention period are deleted in the background."""

from __future__ import annotations

from datetime import timedelta

from chatapp.clock import utc_now
from chatapp.protocol import History, HistoryPage, Presence
from chatapp.server.store import MessageDraft, Store
from tests.server.conftest import Dial, ServerFactory
from tests.support.databases import ScratchDatabase


async def test_old_messages_are_pruned_at_start(
    start_server: ServerFactory, dial: Dial, database: ScratchDatabase
) -> None:
    url = database.url
    store = await Store.open(url)
    try:
        user = await store.create_user("oldtimer", "not-a-real-hash", utc_now())
        general = await store.get_room("general")
        assert general is not None
        now = utc_now()
        await store.insert_messages(
            [
                MessageDraft(
                    sender_id=user.id, text="ancient", created_at=now - timedelta(days=3), room_id=general.id
                ),
                MessageDraft(
                    sender_id=user.id, text="recent", created_at=now - timedelta(hours=2), room_id=general.id
                ),
            ]
        )
    finally:
        await store.close()

    server = await start_server(history_days=1)
    reader = await dial(server)
    await reader.register("reader")
    await reader.expect(Presence)
    await reader.send(History(room="general"))
    page = await reader.expect(HistoryPage)
    assert [m.text for m in page.messages] == ["recent"]
