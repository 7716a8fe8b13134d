"""Rooms: join (and create), leave, list, topic, who; memberships outlive connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chatapp.protocol import (
    HistoryPage,
    Join,
    Joined,
    Leave,
    Left,
    ListRooms,
    Message,
    Presence,
    RoomList,
    Send,
    SetTopic,
    TopicChanged,
    Who,
    WhoList,
)
from tests.server.conftest import Dial, ServerFactory
from tests.support.wire import WireClient

Connect = Callable[..., Awaitable[WireClient]]


async def online(connect: Connect, name: str) -> WireClient:
    client = await connect()
    await client.register(name)
    await client.expect(Presence)  # its own "online" in general
    return client


async def join(client: WireClient, room: str) -> Joined:
    await client.send(Join(room=room, ref=room))
    joined = await client.expect(Joined, skip=(Presence,))
    await client.expect(HistoryPage)
    presence = await client.expect(Presence)
    assert (presence.event, presence.room) == ("join", room)
    return joined


async def test_join_creates_a_room_owned_by_its_creator(connect: Connect) -> None:
    alice = await online(connect, "alice")
    joined = await join(alice, "rust")
    assert (joined.room, joined.created, joined.ref) == ("rust", True, "rust")
    bob = await online(connect, "bob")
    await alice.expect(Presence)  # bob online in general
    again = await join(bob, "rust")
    assert again.created is False
    presence = await alice.expect(Presence)
    assert (presence.event, presence.room, presence.username) == ("join", "rust", "bob")


async def test_messages_stay_in_their_room(connect: Connect) -> None:
    alice = await online(connect, "alice")
    bob = await online(connect, "bob")
    await alice.expect(Presence)
    await join(alice, "rust")
    await alice.send(Send(room="rust", text="only for rust"))
    assert (await alice.expect(Message)).room == "rust"
    await alice.send(Send(room="general", text="for everyone"))
    message = await bob.expect(Message)  # bob is not in rust: the first he sees is general's
    assert (message.room, message.text) == ("general", "for everyone")
    await bob.send(Send(room="rust", text="let me in"))
    await bob.expect_error("not_in_room")


async def test_leave_announces_and_stops_delivery(connect: Connect) -> None:
    alice = await online(connect, "alice")
    bob = await online(connect, "bob")
    await alice.expect(Presence)
    await join(alice, "rust")
    await join(bob, "rust")
    await alice.expect(Presence)  # bob joined
    await bob.send(Leave(room="rust", ref=1))
    presence = await bob.expect(Presence)
    assert (presence.event, presence.room, presence.username) == ("leave", "rust", "bob")
    assert (await bob.expect(Left)).ref == 1
    presence = await alice.expect(Presence)
    assert (presence.event, presence.username) == ("leave", "bob")
    await bob.send(Leave(room="rust"))
    await bob.expect_error("not_in_room")


async def test_room_names_are_validated(connect: Connect) -> None:
    alice = await online(connect, "alice")
    for bad in ("", "Upper", "#hash", "-dash", "x" * 33, "spa ce"):
        await alice.send(Join(room=bad))
        await alice.expect_error("invalid_room")


async def test_rooms_lists_topic_members_and_online(connect: Connect) -> None:
    alice = await online(connect, "alice")
    await join(alice, "rust")
    await alice.send(SetTopic(room="rust", text="crabs"))
    assert (await alice.expect(TopicChanged)).text == "crabs"
    bob = await online(connect, "bob")
    await bob.send(ListRooms(ref=7))
    listing = await bob.expect(RoomList)
    assert listing.ref == 7
    rooms = {r.name: r for r in listing.rooms}
    assert rooms["general"].members == 2 and rooms["general"].online == 2 and rooms["general"].joined
    assert (rooms["rust"].topic, rooms["rust"].members, rooms["rust"].online, rooms["rust"].joined) == (
        "crabs",
        1,
        1,
        False,
    )


async def test_only_the_owner_sets_the_topic(connect: Connect) -> None:
    alice = await online(connect, "alice")
    await join(alice, "rust")
    bob = await online(connect, "bob")
    await join(bob, "rust")
    await bob.send(SetTopic(room="rust", text="mine now", ref=3))
    assert (await bob.expect_error("forbidden")).ref == 3
    await bob.send(SetTopic(room="nowhere", text="x"))
    await bob.expect_error("no_such_room")
    await alice.send(SetTopic(room="rust", text="x" * 301))
    await alice.expect_error("bad_frame", skip=(Presence,))


async def test_who_lists_online_members_with_away(connect: Connect) -> None:
    from chatapp.protocol import Away

    alice = await online(connect, "alice")
    bob = await online(connect, "bob")
    await alice.expect(Presence)
    await bob.send(Away(text="lunch"))
    presence = await alice.expect(Presence)
    assert (presence.event, presence.username, presence.text) == ("away", "bob", "lunch")
    await alice.send(Who(room="general", ref="w"))
    who = await alice.expect(WhoList)
    assert who.ref == "w"
    assert [(u.username, u.away) for u in who.users] == [("alice", None), ("bob", "lunch")]
    await bob.send(Away())
    presence = await alice.expect(Presence)
    assert (presence.event, presence.username) == ("back", "bob")
    await alice.send(Who(room="nowhere"))
    await alice.expect_error("no_such_room")


async def test_memberships_survive_reconnects(connect: Connect) -> None:
    alice = await online(connect, "alice")
    await join(alice, "rust")
    await alice.close()
    again = await connect()
    await again.login("alice")
    events = {(p.event, p.room) for p in [await again.expect(Presence), await again.expect(Presence)]}
    assert events == {("online", "general"), ("online", "rust")}
    await again.send(Send(room="rust", text="still a member"))
    assert (await again.expect(Message)).room == "rust"


async def test_room_limits(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server(max_rooms_per_user=3, room_creations_per_hour=1)
    alice = await dial(server)
    await alice.register("alice")
    await alice.expect(Presence)
    await join(alice, "one")  # general + one
    await alice.send(Join(room="two"))
    error = await alice.expect_error("rate_limited")  # the second creation within the hour
    assert error.retry_after and error.retry_after > 3000
    bob = await dial(server)
    await bob.register("bob")
    await bob.expect(Presence)
    await join(bob, "two")
    await join(alice, "two")  # joining an existing room is not a creation
    await alice.send(Join(room="three"))
    await alice.expect_error("too_many_rooms")


async def test_large_rooms_get_no_status_events(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server(room_status_limit=2)
    alice = await dial(server)
    await alice.register("alice")
    await alice.expect(Presence)
    bob = await dial(server)
    await bob.register("bob")
    presence = await alice.expect(Presence)
    assert (presence.event, presence.username) == ("online", "bob")
    carol = await dial(server)
    await carol.register("carol")  # the third online member: over the limit
    await alice.send(Send(room="general", text="who is here?"))
    assert (await alice.recv()).text == "who is here?"  # type: ignore[union-attr]
    await alice.send(Who(room="general"))
    who = await alice.expect(WhoList, skip=(Message,))
    assert [u.username for u in who.users] == ["alice", "bob", "carol"]
