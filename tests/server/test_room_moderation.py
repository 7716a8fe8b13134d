"""Room moderation over the protocol: kick, ban, mute (and undo), op, deop, transfer; who may do
which to whom; what the room, the target and the actor are told; the audit trail."""

from __future__ import annotations

import asyncio

from chatapp.protocol import (
    History,
    HistoryPage,
    Join,
    Joined,
    Message,
    Presence,
    Send,
    SetTopic,
    TopicChanged,
    Who,
    WhoList,
)
from chatapp.protocol.moderation_frames import ListSanctions, Moderate, RoomEvent, SanctionList
from tests.server.moderation_helpers import (
    Connect,
    audit_rows,
    event,
    join,
    make_role,
    moderate,
    online,
    refused,
)
from tests.support.databases import ScratchDatabase


async def test_a_kicked_user_is_out_at_once_and_may_rejoin(
    connect: Connect, database: ScratchDatabase
) -> None:
    alice, bob, carol = [await online(connect, name) for name in ("alice", "bob", "carol")]
    for client in (alice, bob, carol):
        await join(client, "rust")
    own = await moderate(alice, "rust", "kick", "bob", reason="spam")
    assert (own.room, own.action, own.by, own.user, own.reason) == ("rust", "kick", "alice", "bob", "spam")
    told = await event(bob, "kick")
    assert (told.by, told.reason, told.ref) == ("alice", "spam", None)
    assert (await event(carol, "kick")).user == "bob"
    left = await carol.expect(Presence)
    while (left.event, left.username) != ("leave", "bob"):
        left = await carol.expect(Presence)
    await refused(bob, Send(room="rust", text="still here?"), "not_in_room")
    await alice.send(Send(room="rust", text="bye bob"))
    assert (await carol.expect(Message, skip=(Presence,))).text == "bye bob"
    await join(bob, "rust")  # a kick is not a ban
    await bob.send(Send(room="rust", text="back"))
    assert (await carol.expect(Message, skip=(Presence,))).text == "back"
    assert audit_rows(database) == [("alice", "kick", "bob", "rust", "spam")]


async def test_who_may_kick_whom(connect: Connect) -> None:
    alice, bob, carol = [await online(connect, name) for name in ("alice", "bob", "carol")]
    for client in (alice, bob, carol):
        await join(client, "rust")
    error = await refused(carol, Moderate(room="rust", action="kick", user="bob"), "forbidden")
    assert "kick" in error.message
    # A stranger learns nothing of accounts from a refusal.
    await refused(carol, Moderate(room="rust", action="kick", user="nobody-here"), "forbidden")
    await moderate(alice, "rust", "op", "bob")
    await event(carol, "op")
    await refused(bob, Moderate(room="rust", action="kick", user="alice"), "forbidden")  # the owner
    await refused(bob, Moderate(room="rust", action="op", user="carol"), "forbidden")  # owners only
    await refused(bob, Moderate(room="rust", action="kick", user="nobody-here"), "no_such_user")
    await refused(alice, Moderate(room="rust", action="kick", user="alice"), "forbidden")  # oneself
    await refused(alice, Moderate(room="rust", action="kick", user="bob", duration=5), "bad_frame")
    await refused(alice, Moderate(room="rust", action="kick", user="bob", reason="x" * 301), "text_too_long")
    await refused(alice, Moderate(room="nope", action="kick", user="bob"), "no_such_room")
    await moderate(bob, "rust", "kick", "carol")  # an operator kicks a member
    await refused(bob, Moderate(room="rust", action="kick", user="carol"), "not_in_room")


async def test_a_ban_keeps_a_user_out_of_joining_sending_reading_and_who_until_lifted(
    connect: Connect,
) -> None:
    alice, bob = [await online(connect, name) for name in ("alice", "bob")]
    await join(alice, "rust")
    await join(bob, "rust")
    own = await moderate(alice, "rust", "ban", "bob", reason="flood", duration=3600)
    assert own.until is not None
    told = await event(bob, "ban")
    assert (told.reason, told.until) == ("flood", own.until)
    error = await refused(bob, Join(room="rust"), "banned")
    assert error.until == own.until and "flood" in error.message
    assert (await refused(bob, Send(room="rust", text="hi"), "banned")).until == own.until
    await refused(bob, History(room="rust"), "banned")
    await refused(bob, Who(room="rust"), "banned")
    await alice.send(ListSanctions(room="rust", ref="s"))
    listing = await alice.expect(SanctionList, skip=(Presence,))
    assert [(s.user, s.kind, s.by, s.reason, s.until) for s in listing.sanctions] == [
        ("bob", "ban", "alice", "flood", own.until)
    ]
    await refused(bob, ListSanctions(room="rust"), "forbidden")
    await moderate(alice, "rust", "unban", "bob")
    await event(bob, "unban")  # told though no longer in the room
    await join(bob, "rust")


async def test_a_ban_ends_by_itself(connect: Connect) -> None:
    alice, bob = [await online(connect, name) for name in ("alice", "bob")]
    await join(alice, "rust")
    await join(bob, "rust")
    await moderate(alice, "rust", "ban", "bob", duration=1)
    await refused(bob, Join(room="rust"), "banned")
    await asyncio.sleep(1.2)
    await join(bob, "rust")
    await bob.send(Send(room="rust", text="I served my time"))
    assert (await alice.expect(Message, skip=(Presence, RoomEvent))).text == "I served my time"


async def test_a_user_may_be_banned_before_joining_and_while_offline(connect: Connect) -> None:
    alice = await online(connect, "alice")
    await join(alice, "rust")
    carol = await online(connect, "carol")
    await carol.close()
    await moderate(alice, "rust", "ban", "carol", reason="known troll")
    carol = await connect()
    await carol.login("carol")
    error = await refused(carol, Join(room="rust"), "banned")
    assert error.until is None and "until it is lifted" in error.message


async def test_a_muted_user_reads_but_cannot_send(connect: Connect) -> None:
    alice, bob = [await online(connect, name) for name in ("alice", "bob")]
    await join(alice, "rust")
    await join(bob, "rust")
    own = await moderate(alice, "rust", "mute", "bob", duration=600)
    await event(bob, "mute")
    assert (await refused(bob, Send(room="rust", text="hi"), "muted")).until == own.until
    await alice.send(Send(room="rust", text="you can read this"))
    assert (await bob.expect(Message, skip=(Presence,))).text == "you can read this"
    await bob.send(History(room="rust", ref="h"))
    assert (await bob.expect(HistoryPage)).messages[-1].text == "you can read this"
    await bob.send(Send(room="general", text="other rooms are fine"))
    assert (await bob.expect(Message, skip=(Presence,))).text == "other rooms are fine"
    await moderate(alice, "rust", "unmute", "bob")
    await event(bob, "unmute")
    await bob.send(Send(room="rust", text="thanks"))
    assert (await alice.expect(Message, skip=(Presence,))).text == "thanks"


async def test_operators_deop_and_transfer(connect: Connect, database: ScratchDatabase) -> None:
    alice, bob, carol = [await online(connect, name) for name in ("alice", "bob", "carol")]
    for client in (alice, bob, carol):
        await join(client, "rust")
    await moderate(alice, "rust", "op", "bob")
    await bob.send(SetTopic(room="rust", text="ops may set it", ref="t"))
    assert (await bob.expect(TopicChanged, skip=(Presence, RoomEvent))).ref == "t"
    await carol.send(Who(room="rust", ref="w"))
    who = await carol.expect(WhoList, skip=(Presence, RoomEvent, TopicChanged))
    roles = {(u.username, u.role) for u in who.users}
    assert roles == {("alice", "owner"), ("bob", "operator"), ("carol", None)}
    await moderate(alice, "rust", "deop", "bob")
    await refused(bob, Moderate(room="rust", action="kick", user="carol"), "forbidden")
    await refused(alice, Moderate(room="rust", action="transfer", user="dave-is-nobody"), "no_such_user")
    await refused(alice, Moderate(room="rust", action="transfer", user="alice"), "forbidden")
    await moderate(alice, "rust", "transfer", "bob", reason="my holiday")
    await bob.send(Join(room="rust", ref="again"))
    joined = await bob.expect(Joined, skip=(Presence, RoomEvent, TopicChanged))
    assert joined.role == "owner"
    await refused(alice, Moderate(room="rust", action="op", user="carol"), "forbidden")  # no longer owner
    await moderate(alice, "rust", "kick", "carol")  # but an operator
    # An admin may not deop the owner: ownership is transferred, never taken away.
    await make_role(database, "carol", "admin")
    await carol.close()
    admin = await connect()
    await admin.login("carol")
    await refused(admin, Moderate(room="rust", action="deop", user="bob"), "forbidden")
    await moderate(admin, "rust", "kick", "alice")  # from outside the room
    assert (await event(alice, "kick")).by == "carol"


async def test_roles_need_membership_and_equals_cannot_act_on_each_other(connect: Connect) -> None:
    alice, bob, carol, dave = [await online(connect, name) for name in ("alice", "bob", "carol", "dave")]
    for client in (alice, bob, carol):
        await join(client, "rust")
    await refused(alice, Moderate(room="rust", action="op", user="dave"), "not_in_room")
    await refused(alice, Moderate(room="rust", action="transfer", user="dave"), "not_in_room")
    await moderate(alice, "rust", "op", "bob")
    await moderate(alice, "rust", "op", "carol")
    await refused(bob, Moderate(room="rust", action="ban", user="carol"), "forbidden")  # an equal
    await refused(bob, Moderate(room="rust", action="deop", user="carol"), "forbidden")  # owners only
    await moderate(bob, "rust", "ban", "dave", reason="pre-emptive")  # not a member: still banned
    await event(dave, "ban")
    await refused(dave, Join(room="rust"), "banned")
    await alice.send(ListSanctions(room="rust"))
    sanctions = await alice.expect(SanctionList, skip=(Presence, RoomEvent))
    assert [(s.user, s.by) for s in sanctions.sanctions] == [("dave", "bob")]
