"""The staff's lists on a running server: users (paged, searched), the audit log (paged), and
``reload_filters`` on a server without a content filter."""

from __future__ import annotations

from chatapp.protocol.moderation_frames import AuditPage, ListUsers, ReadAudit, UserList
from tests.server.conftest import Dial, ServerFactory
from tests.server.test_administration import NOISE, admin, member, refused
from tests.support.wire import WireClient


async def users(client: WireClient, **fields: object) -> UserList:
    await client.send(ListUsers(ref="u", **fields))  # type: ignore[arg-type]
    return await client.expect(UserList, skip=NOISE)


async def test_users_are_listed_by_name_in_pages_and_searched_in_any_case(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    mod = await member(server, dial, "Mod", "moderator")
    for name in ("Alice", "malice", "bob", "Carol_al"):
        await (await dial(server)).register(name)
    await admin(mod, action="suspend", user="malice")
    await admin(mod, action="suspend", user="bob", duration=60)

    first = await users(mod, limit=2)
    assert [u.username for u in first.users] == ["Alice", "bob"] and first.has_more
    rest = await users(mod, after="BOB", limit=10)
    assert [u.username for u in rest.users] == ["Carol_al", "malice", "Mod"] and not rest.has_more
    found = await users(mod, query="AL")
    assert [u.username for u in found.users] == ["Alice", "Carol_al", "malice"]
    by_name = {u.username: u for u in found.users}
    assert by_name["malice"].suspended_until == ""  # until lifted
    assert by_name["Alice"].suspended_until is None and by_name["Alice"].role == "user"
    assert (await users(mod, query="b")).users[0].suspended_until not in (None, "")
    # LIKE's wildcards are searched as themselves.
    assert [u.username for u in (await users(mod, query="_")).users] == ["Carol_al"]
    assert (await users(mod, query="%")).users == []

    for limit in (0, 101):
        await mod.send(ListUsers(limit=limit, ref="bad"))
        await mod.expect_error("bad_frame", skip=NOISE)
    await mod.send(ListUsers(query="q" * 65, ref="long"))
    await mod.expect_error("bad_frame", skip=NOISE)


async def test_admins_page_through_the_audit_log_newest_first(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    alice = await member(server, dial, "alice", "admin", address="127.0.0.3")
    mod = await member(server, dial, "mod", "moderator")
    await member(server, dial, "bob")
    await admin(alice, action="mute", user="bob", reason="too loud")
    await admin(alice, action="unmute", user="bob")
    await admin(alice, action="ban_address", address="192.0.2.0/24", reason="botnet")

    await alice.send(ReadAudit(limit=2, ref="a"))
    page = await alice.expect(AuditPage, skip=NOISE)
    assert [(e.actor, e.action, e.target) for e in page.events] == [
        ("alice", "ban_address", "192.0.2.0/24"),
        ("alice", "server_unmute", "bob"),
    ]
    assert page.has_more and page.events[0].reason == "botnet" and page.events[0].address == "127.0.0.3"
    await alice.send(ReadAudit(before=page.events[-1].id, limit=100, ref="b"))
    older = await alice.expect(AuditPage, skip=NOISE)
    assert [(e.action, e.target, e.reason) for e in older.events][0] == ("server_mute", "bob", "too loud")
    # Promotions by the console are there too; nothing is left after the oldest.
    assert [e.actor for e in older.events if e.action == "promote"] == ["console", "console"]
    assert not older.has_more

    await mod.send(ReadAudit(ref="m"))
    await mod.expect_error("forbidden", skip=NOISE)


async def test_reload_filters_without_a_filter_is_refused_clearly(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    alice = await member(server, dial, "alice", "admin")
    mod = await member(server, dial, "mod", "moderator")
    assert "no message filters" in await refused(alice, "unknown_type", action="reload_filters")
    await refused(mod, "forbidden", action="reload_filters")


async def test_pages_fit_in_a_small_frame_and_say_there_is_more(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server(max_frame=1024)
    alice = await member(server, dial, "alice", "admin")
    for i in range(6):
        await admin(alice, action="ban_address", address=f"192.0.2.{i}", reason="r" * 250)
    await alice.send(ReadAudit(limit=100, ref="a"))
    page = await alice.expect(AuditPage, skip=NOISE)
    assert 1 <= len(page.events) < 7 and page.has_more and alice.last_size <= 1024
    listed = await users(alice, limit=100)
    assert listed.users and alice.last_size <= 1024
