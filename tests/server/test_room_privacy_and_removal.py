"""Private rooms and invitations, deleting rooms, removing messages, over the protocol."""

from __future__ import annotations

from chatapp.protocol import (
    Direct,
    History,
    HistoryPage,
    Join,
    ListRooms,
    Message,
    Presence,
    RoomList,
    Send,
    SendDirect,
    Who,
)
from chatapp.protocol.moderation_frames import (
    DeleteMessage,
    DeleteRoom,
    MessageRemoved,
    Moderate,
    RoomDeleted,
    RoomEvent,
    RoomMode,
)
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
from tests.support.wire import WireClient


async def room_names(client: WireClient) -> dict[str, bool]:
    await client.send(ListRooms(ref="rooms"))
    listing = await client.expect(RoomList, skip=(Presence, RoomEvent, Message))
    return {room.name: room.private for room in listing.rooms}


async def test_a_private_room_is_hidden_and_needs_an_invitation(connect: Connect) -> None:
    alice, bob, carol = [await online(connect, name) for name in ("alice", "bob", "carol")]
    await join(alice, "secret")
    await join(bob, "secret")
    await alice.send(RoomMode(room="secret", private=True, ref="m"))
    own = await alice.expect(RoomEvent, skip=(Presence,))
    assert (own.action, own.by, own.ref) == ("private", "alice", "m")
    assert (await event(bob, "private")).user is None
    await refused(bob, RoomMode(room="secret", private=False), "forbidden")  # the owner's
    assert await room_names(bob) == {"general": False, "secret": True}  # a member sees it
    assert await room_names(carol) == {"general": False}
    await refused(carol, Who(room="secret"), "no_such_room")
    await refused(carol, Join(room="secret"), "invite_only")
    await refused(carol, Moderate(room="secret", action="invite", user="carol"), "no_such_room")
    await refused(bob, Moderate(room="secret", action="invite", user="carol"), "forbidden")  # a member


async def test_invitations_let_one_in_once(connect: Connect, database: ScratchDatabase) -> None:
    alice, carol = [await online(connect, name) for name in ("alice", "carol")]
    await join(alice, "secret")
    await alice.send(RoomMode(room="secret", private=True))
    await alice.expect(RoomEvent, skip=(Presence,))
    await moderate(alice, "secret", "invite", "carol", reason="welcome")
    invited = await event(carol, "invite")  # told, though not in the room
    assert (invited.room, invited.by, invited.reason) == ("secret", "alice", "welcome")
    assert await room_names(carol) == {"general": False, "secret": True}
    joined = await join(carol, "secret")
    assert (joined.private, joined.role) == (True, None)
    await carol.send(Send(room="secret", text="thanks"))
    assert (await alice.expect(Message, skip=(Presence,))).text == "thanks"
    await moderate(alice, "secret", "kick", "carol")
    await refused(carol, Join(room="secret"), "invite_only")  # the invitation was used up
    await moderate(alice, "secret", "invite", "carol")
    await moderate(alice, "secret", "uninvite", "carol")
    await refused(carol, Join(room="secret"), "invite_only")
    # Server staff see every room and walk in uninvited.
    await make_role(database, "carol", "moderator")
    await carol.close()
    moderator = await connect()
    await moderator.login("carol")
    assert await room_names(moderator) == {"general": False, "secret": True}
    assert (await join(moderator, "secret")).private is True


async def test_deleting_a_room_tells_its_members_and_takes_its_history(
    connect: Connect, database: ScratchDatabase
) -> None:
    alice, bob, carol = [await online(connect, name) for name in ("alice", "bob", "carol")]
    await join(alice, "doomed")
    await join(bob, "doomed")
    await alice.send(Send(room="doomed", text="last words"))
    await refused(bob, DeleteRoom(room="doomed"), "forbidden")
    await refused(alice, DeleteRoom(room="general"), "forbidden")
    await refused(alice, DeleteRoom(room="doomed", reason="x" * 301), "text_too_long")
    await alice.send(DeleteRoom(room="doomed", reason="done", ref="d"))
    own = await alice.expect(RoomDeleted, skip=(Presence, Message))
    assert (own.room, own.by, own.reason, own.ref) == ("doomed", "alice", "done", "d")
    told = await bob.expect(RoomDeleted, skip=(Presence, Message))
    assert (told.by, told.ref) == ("alice", None)
    await refused(bob, Send(room="doomed", text="hello?"), "not_in_room")
    # The room is gone from the store once the actor's next request is answered (one at a time).
    assert await room_names(alice) == {"general": False}
    assert await room_names(carol) == {"general": False}
    assert database.scalar("SELECT count(*) FROM messages WHERE text = 'last words'") == 0
    # A room of the same name later starts anew, owned by whoever makes it.
    joined = await join(bob, "doomed")
    assert (joined.created, joined.role) == (True, "owner")
    # A moderator may delete any room, from outside it.
    await make_role(database, "carol", "moderator")
    await carol.close()
    moderator = await connect()
    await moderator.login("carol")
    await moderator.send(DeleteRoom(room="doomed"))
    assert (await moderator.expect(RoomDeleted, skip=(Presence,))).by == "carol"
    assert (await bob.expect(RoomDeleted, skip=(Presence, Message))).by == "carol"
    assert await room_names(moderator) == {"general": False}
    assert [row[1] for row in audit_rows(database)] == ["delete_room", "delete_room"]


async def test_removing_a_room_message_leaves_a_tombstone(
    connect: Connect, database: ScratchDatabase
) -> None:
    alice, bob, carol = [await online(connect, name) for name in ("alice", "bob", "carol")]
    for client in (alice, bob):
        await join(client, "rust")
    await bob.send(Send(room="rust", text="spam spam", nonce="n1"))
    spam = await alice.expect(Message, skip=(Presence,))
    await bob.send(Send(room="rust", text="mine to take back"))
    mine = await alice.expect(Message, skip=(Presence,))
    await refused(carol, DeleteMessage(id=spam.id), "no_such_message")  # not in the room
    await refused(carol, DeleteMessage(id=spam.id + 1000), "no_such_message")
    await bob.send(DeleteMessage(id=mine.id, ref="own"))  # its sender
    removed = await bob.expect(MessageRemoved, skip=(Presence, Message))
    assert (removed.id, removed.by, removed.room, removed.ref) == (mine.id, "bob", "rust", "own")
    assert (await alice.expect(MessageRemoved, skip=(Presence, Message))).id == mine.id
    await join(carol, "rust")
    await refused(carol, DeleteMessage(id=spam.id), "forbidden")  # a member, not its sender
    await alice.send(DeleteMessage(id=spam.id))  # the owner
    assert (await carol.expect(MessageRemoved, skip=(Presence,))).by == "alice"
    await carol.send(History(room="rust", ref="h"))
    page = await carol.expect(HistoryPage, skip=(Presence, MessageRemoved))
    tombstones = [(m.id, m.text, m.removed_by) for m in page.messages]
    assert tombstones == [(spam.id, "", "alice"), (mine.id, "", "bob")]
    # A resend of the removed message is still recognised: the sender gets the tombstone back.
    await bob.send(Send(room="rust", text="spam spam", nonce="n1", ref="again"))
    echo = await bob.expect(Message, skip=(Presence, MessageRemoved))
    assert (echo.id, echo.text, echo.removed_by, echo.ref) == (spam.id, "", "alice", "again")
    assert database.scalar("SELECT count(*) FROM messages WHERE text LIKE 'spam%'") == 0
    assert [row[:3] for row in audit_rows(database)] == [("alice", "delete_message", str(spam.id))]


async def test_a_direct_message_is_removed_by_its_sender_only(connect: Connect) -> None:
    alice, bob, carol = [await online(connect, name) for name in ("alice", "bob", "carol")]
    await bob.send(SendDirect(to="alice", text="oops, wrong person"))
    dm = await alice.expect(Direct, skip=(Presence,))
    await refused(alice, DeleteMessage(id=dm.id), "forbidden")  # its recipient
    await refused(carol, DeleteMessage(id=dm.id), "no_such_message")  # a stranger to it
    await bob.send(DeleteMessage(id=dm.id, ref="x"))
    assert (await bob.expect(MessageRemoved, skip=(Presence, Direct))).ref == "x"
    removed = await alice.expect(MessageRemoved, skip=(Presence,))
    assert (removed.id, removed.room, removed.by) == (dm.id, None, "bob")
    await alice.send(History(with_="bob"))
    page = await alice.expect(HistoryPage, skip=(Presence,))
    assert [(m.text, m.removed_by) for m in page.messages] == [("", "bob")]
