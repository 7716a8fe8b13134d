"""Account sanctions, roles, ending all of a user's sessions and address bans in the store: an
expired sanction is as good as none."""

from __future__ import annotations

from datetime import datetime, timedelta

from chatapp.server.store import Store


async def test_sanctions_in_force_are_read_and_expired_ones_are_none(store: Store, now: datetime) -> None:
    bob = await store.create_user("bob", "h", now)
    eve = await store.create_user("eve", "h", now)
    later = now + timedelta(hours=1)
    await store.set_account_sanction(bob.id, "suspend", reason="spam", actor="alice", now=now, until=later)
    await store.set_account_sanction(eve.id, "suspend", reason=None, actor="console", now=now, until=None)
    await store.set_account_sanction(bob.id, "mute", reason=None, actor="alice", now=now, until=None)

    suspended = await store.account_sanctions("suspend", now)
    assert [(s.username, s.actor, s.reason, s.until) for s in suspended] == [
        ("bob", "alice", "spam", later),
        ("eve", "console", None, None),
    ]
    assert [s.username for s in await store.account_sanctions("suspend", later)] == ["eve"]
    assert await store.account_sanction(bob.id, "suspend", later) is None
    found = await store.account_sanction(bob.id, "mute", later)
    assert found is not None and found.kind == "mute"
    # A new one replaces the old; lifting says whether one was in force.
    await store.set_account_sanction(bob.id, "suspend", reason="again", actor="mod", now=now, until=None)
    again = await store.account_sanction(bob.id, "suspend", later)
    assert again is not None and (again.reason, again.actor) == ("again", "mod")
    assert await store.lift_account_sanction(bob.id, "suspend", now)
    assert not await store.lift_account_sanction(bob.id, "suspend", now)
    await store.set_account_sanction(eve.id, "mute", reason=None, actor="mod", now=now, until=later)
    assert not await store.lift_account_sanction(eve.id, "mute", later)  # it had ended by itself


async def test_all_of_a_users_sessions_end_and_their_tokens_with_them(store: Store, now: datetime) -> None:
    bob = await store.create_user("bob", "h", now)
    other = await store.create_user("other", "h", now)
    expires = now + timedelta(days=1)
    first = await store.sign_in(bob.id, "t1", "10.0.0.1:1", now, expires)
    await store.sign_in(bob.id, "t2", "10.0.0.2:2", now, expires)
    await store.end_session(first.session.id, "disconnect", now)  # resumable still
    await store.sign_in(other.id, "t3", "10.0.0.3:3", now, expires)

    assert await store.revoke_all_sessions(bob.id, "suspended", now) == 2
    assert await store.live_sessions(bob.id, now, 10) == []
    assert await store.reopen_session_with_rooms(first.session.id, "10.0.0.1:5", now) is None
    assert len(await store.live_sessions(other.id, now, 10)) == 1
    assert await store.revoke_all_sessions(bob.id, "suspended", now) == 0


async def test_roles_are_stored(store: Store, now: datetime) -> None:
    bob = await store.create_user("bob", "h", now)
    await store.set_role(bob.id, "moderator")
    found = await store.find_user("BOB")
    assert found is not None and found.role == "moderator"


async def test_address_bans_replace_by_network_and_expired_ones_go(store: Store, now: datetime) -> None:
    later = now + timedelta(minutes=5)
    await store.add_address_ban("192.0.2.0/24", reason="bots", actor="mod", now=now, until=later)
    await store.add_address_ban("2001:db8::/32", reason=None, actor="mod", now=now, until=None)
    replaced = await store.add_address_ban(
        "192.0.2.0/24", reason="more bots", actor="alice", now=now, until=later
    )
    assert replaced.reason == "more bots"
    bans = await store.address_bans(now)
    assert [(b.network, b.actor, b.reason) for b in bans] == [
        ("192.0.2.0/24", "alice", "more bots"),
        ("2001:db8::/32", "mod", None),
    ]
    assert [b.network for b in await store.address_bans(later)] == ["2001:db8::/32"]
    assert not await store.remove_address_ban("192.0.2.0/24", later)  # gone with its time
    assert await store.remove_address_ban("2001:db8::/32", later)
    assert await store.address_bans(later) == []
