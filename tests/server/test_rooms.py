"""Rooms: join (and create), leave, list, topic, who; memberships outlive connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chatapp.protocol import (
    Away,
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
    await alice.expect_error("text_too_long", skip=(Presence,))


async def test_who_lists_online_members_with_away(connect: Connect) -> None:
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


async def test_answers_to_topic_and_away_carry_the_ref_on_the_requesters_copy_only(
    connect: Connect,
) -> None:
    alice = await online(connect, "alice")
    await join(alice, "rust")
    bob = await online(connect, "bob")
    await join(bob, "rust")
    await alice.expect(Presence)  # bob online in general
    await alice.expect(Presence)  # bob joined rust
    await alice.send(SetTopic(room="rust", text="crabs", ref="t1"))
    for client, ref in ((alice, "t1"), (bob, None)):
        changed = await client.expect(TopicChanged)
        assert (changed.room, changed.text, changed.by, changed.ref) == ("rust", "crabs", "alice", ref)
    await alice.send(Away(text="lunch", ref="a1"))
    for client, ref in ((alice, "a1"), (bob, None)):
        events = [await client.expect(Presence), await client.expect(Presence)]
        assert {(p.event, p.room, p.username, p.text, p.ref) for p in events} == {
            ("away", "general", "alice", "lunch", ref),
            ("away", "rust", "alice", "lunch", ref),
        }


async def test_the_requester_hears_its_away_even_in_a_room_too_big_for_status_events(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server(room_status_limit=1)
    alice = await dial(server)
    await alice.register("alice")
    await alice.expect(Presence)
    bob = await dial(server)
    await bob.register("bob")  # two online in general: over the limit, no status events
    await alice.send(Away(text="afk", ref=5))
    presence = await alice.expect(Presence)
    assert (presence.event, presence.username, presence.ref) == ("away", "alice", 5)
    await bob.send(Send(room="general", text="anyone?"))
    assert (await bob.expect(Message)).text == "anyone?"  # no away event came before it


async def test_joins_leaves_away_and_topics_are_rate_limited(start_server: ServerFactory, dial: Dial) -> None:
    """Each of them is announced to a whole room: one frame from a client would otherwise make
    thousands of frames a second."""
    server = await start_server(status_burst=4, status_rate=0.5)
    alice = await dial(server)
    await alice.register("alice")
    await alice.expect(Presence)
    await join(alice, "rust")
    await alice.send(Leave(room="rust"))
    await alice.expect(Left, skip=(Presence,))
    await alice.send(Away(text="x"))
    await alice.expect(Presence)
    await alice.send(SetTopic(room="general", text="x"))
    await alice.expect_error("forbidden")  # it took a token all the same: it was a request
    for frame in (Away(), Join(room="rust"), Leave(room="general"), SetTopic(room="rust", text="y")):
        await alice.send(frame)
        error = await alice.expect_error("rate_limited")
        assert error.retry_after and 0 < error.retry_after <= 2.0
    await alice.send(Send(room="general", text="messages have their own budget"))
    assert (await alice.expect(Message)).text == "messages have their own budget"
