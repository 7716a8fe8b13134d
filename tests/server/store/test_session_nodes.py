"""Session rows name the server process (node) that opened or last resumed them: a process ends
only its own at shutdown, and the sessions of a process found dead are ended by another, once.

Two processes are two values of ``store.node`` on one store (what each process's store writes);
``any_store`` runs this on every session backend of both databases.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from chatapp.server.store import Store
from chatapp.server.store.models import UserSession
from tests.server.store.helpers import make_session, token

HOUR = timedelta(hours=1)


async def end_reason(store: Store, n: int) -> str | None:
    found = await store.find_session(token(n))
    assert found is not None
    return found[0].end_reason


async def test_a_process_ends_only_its_own_sessions_and_a_lost_ones_once(
    any_store: Store, now: datetime
) -> None:
    store = any_store
    alice = await store.create_user("Alice", "h", now)
    store.node = "aaaa"
    await make_session(store, alice, now, n=1)
    await make_session(store, alice, now, n=2)
    store.node = "bbbb"
    await make_session(store, alice, now, n=3)
    resumed = await make_session(store, alice, now, n=4)
    await store.end_session(resumed.id, "disconnect", now)
    store.node = "aaaa"  # resumed on the first process: now it is that one's
    assert await store.reopen_session_with_rooms(resumed.id, "1.2.3.4:5", now + HOUR) is not None

    assert sorted(node or "" for node in await store.open_session_nodes()) == ["aaaa", "bbbb"]

    store.node = "bbbb"
    assert await store.end_open_sessions("shutdown", now + HOUR, own_only=True) == 1
    assert [await end_reason(store, n) for n in (1, 2, 3, 4)] == [None, None, "shutdown", None]

    # "aaaa" died: another process ends its sessions; a second one doing the same ends none.
    assert await store.end_node_sessions("aaaa", "node_lost", now + 2 * HOUR) == 3
    assert await store.end_node_sessions("aaaa", "node_lost", now + 2 * HOUR) == 0
    reasons = [await end_reason(store, n) for n in (1, 2, 3, 4)]
    assert reasons == ["node_lost", "node_lost", "shutdown", "node_lost"]
    assert await store.open_session_nodes() == []


async def test_without_own_only_every_open_session_ends_as_before(any_store: Store, now: datetime) -> None:
    store = any_store
    alice = await store.create_user("Alice", "h", now)
    store.node = "aaaa"
    await make_session(store, alice, now, n=1)
    store.node = "bbbb"
    await make_session(store, alice, now, n=2)

    assert await store.end_open_sessions("server_restart", now + HOUR) == 2
    assert await store.open_session_nodes() == []


async def test_rows_without_a_node_are_ended_as_a_lost_nodes(store: Store, now: datetime) -> None:
    alice = await store.create_user("Alice", "h", now)
    await make_session(store, alice, now, n=1)
    async with store.backend.writing() as session:  # a row from before revision 0012
        await session.execute(update(UserSession).values(node=None))

    assert await store.open_session_nodes() == [None]
    assert await store.end_node_sessions(None, "node_lost", now + HOUR) == 1
    assert await end_reason(store, 1) == "node_lost"
