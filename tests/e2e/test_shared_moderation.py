"""Moderation and administration across server processes (``--redis-url``): two real processes on
one PostgreSQL database and the worker's private Redis. What a moderator or an admin does through
one process holds on the other at once: a suspension closes the user's connection there and keeps
them out everywhere, a server-wide mute, a promotion, an address ban; a kick, a room ban, a topic, a
removed message and a deleted room reach the room's members there; and a suspension or a mute made
while Redis was away is made good when the processes are back on it (read from the database).

Where a test must know that the other process has applied an event before it tries something
there, it waits for a later event from the same process to arrive there (the events of one
process come in the order it told them), never for a time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chatapp.protocol import (
    Bye,
    ByeReason,
    Error,
    ErrorCode,
    Join,
    ListRooms,
    Login,
    Message,
    Presence,
    Resume,
    RoomList,
    Send,
    SetTopic,
    TopicChanged,
    Who,
    WhoList,
)
from chatapp.protocol.moderation_frames import (
    Admin,
    AdminDone,
    DeleteMessage,
    DeleteRoom,
    MessageRemoved,
    RoomDeleted,
    RoomEvent,
)
from tests.server.moderation_helpers import join, moderate
from tests.support.databases import ScratchDatabase, run_sql
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

pytest.importorskip("redis")

TIMEOUT = 15.0
NOISE = (Presence, Message, RoomEvent, TopicChanged)


async def until(client: WireClient, match: Callable[[object], bool], timeout: float = TIMEOUT) -> object:
    """The first frame that matches, passing over the others."""
    while True:
        frame = await client.recv(timeout)
        if match(frame):
            return frame


def two(
    server_factory: type[ServerProcess], database: ScratchDatabase, redis: RedisServer, *args: str
) -> tuple[ServerProcess, ServerProcess]:
    first, second = (server_factory(database, "--redis-url", redis.url, *args).start() for _ in range(2))
    return first, second


RULE = """
[[rule]]
name = "{word}"
words = ["{word}"]
action = "reject"
"""


async def registered(
    server: ServerProcess, name: str, role: str | None = None, address: str = "127.0.0.1"
) -> WireClient:
    """A user signed in on ``server``; with ``role``, given it in the database and signed in again."""
    client = await WireClient.connect(server.host, server.port, local_addr=address)
    await client.register(name)
    if role is None:
        return client
    await client.close()
    sql = "UPDATE users SET role = :role WHERE username = :name"
    run_sql(server.url, sql, {"role": role, "name": name}, fetch=False)
    client = await WireClient.connect(server.host, server.port, local_addr=address)
    await client.login(name)
    return client


async def act(client: WireClient, **fields: object) -> AdminDone:
    await client.send(Admin(ref="act", **fields))  # type: ignore[arg-type]
    return await client.expect(AdminDone, skip=NOISE)


async def barrier(admin: WireClient, watcher: WireClient, text: str) -> None:
    """The admin (on one process) sets general's topic, and ``watcher`` (on the other) sees it: every
    event the admin's process told before has been applied on the watcher's."""
    await admin.send(SetTopic(room="general", text=text, ref=admin.next_ref()))
    await until(watcher, lambda f: isinstance(f, TopicChanged) and f.text == text)


async def refused(client: WireClient, frame: object, code: str) -> Error:
    """Send ``frame`` and expect an error with ``code``, whatever events come first."""
    await client.send(frame)  # type: ignore[arg-type]
    error = await until(client, lambda f: isinstance(f, Error))
    assert isinstance(error, Error) and error.code == code, error
    return error


async def sends(client: WireClient, room: str = "general", text: str = "hello") -> str:
    """Send a message: ``sent``, or the refusal's code."""
    ref = client.next_ref()
    await client.send(Send(room=room, text=f"{text} {ref}", ref=ref))
    frame = await until(client, lambda f: (isinstance(f, Message) and f.ref == ref) or isinstance(f, Error))
    return frame.code if isinstance(frame, Error) else "sent"


async def test_server_moderation_on_one_process_holds_on_the_other(
    server_factory: type[ServerProcess],
    postgres_database: ScratchDatabase,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    rules = tmp_path / "filters.toml"  # one file for both processes, as on one machine
    rules.write_text(RULE.format(word="zanzibarite"))
    first, second = two(server_factory, postgres_database, redis_server, "--filter-file", str(rules))
    alice = await registered(first, "alice", "admin")
    bob = await registered(second, "bob")
    dave = await registered(second, "dave")
    carol = await registered(second, "carol", address="127.0.0.2")
    token = bob.last_token

    # A server-wide mute through the first process refuses bob's messages on the second; lifted, too.
    assert (await act(alice, action="mute", user="bob", reason="shouting")).action == "mute"
    await barrier(alice, bob, "muted")
    assert await sends(bob) == ErrorCode.MUTED
    await act(alice, action="unmute", user="bob")
    await barrier(alice, bob, "unmuted")
    assert await sends(bob) == "sent"

    # A promotion is live on the other process at once: dave, signed in before it, acts as a moderator.
    await act(alice, action="promote", user="dave", role="moderator")
    await barrier(alice, dave, "promoted")
    await dave.send(Admin(action="mute", user="carol", ref="dave"))
    assert (await dave.expect(AdminDone, skip=NOISE)).user == "carol"
    assert await sends(carol) == ErrorCode.MUTED
    await barrier(dave, alice, "carol muted")  # the other way: alice's process has dave's mute
    await act(alice, action="unmute", user="carol")
    await barrier(alice, carol, "carol unmuted")
    assert await sends(carol) == "sent"

    # A suspension: bob's connection on the second process is closed with the same bye as on one
    # process, and he cannot come back on either, by password or by token.
    await act(alice, action="suspend", user="bob", reason="spam")
    bye = await bob.expect(Bye, skip=NOISE)
    assert (bye.reason, bye.message) == (ByeReason.SUSPENDED, "suspended by alice until lifted: spam")
    assert await bob.closed()
    for server in (second, first):
        again = await WireClient.connect(server.host, server.port)
        await again.send(Login(username="bob", password=PASSWORD, ref=1))
        refusal = await again.expect_error(ErrorCode.SUSPENDED)
        assert refusal.message == "this account is suspended by alice until lifted: spam"
        await again.send(Resume(token=token, ref=2))
        await again.expect_error(ErrorCode.SUSPENDED)
        await again.close()

    # An address ban through the first process closes carol's connection from it on the second, and
    # the second refuses new connections from it before anything else.
    done = await act(alice, action="ban_address", address="127.0.0.2", reason="abuse")
    assert done.count == 0  # closed by the other process: none on this one
    bye = await carol.expect(Bye, skip=NOISE)
    assert bye.reason == ByeReason.ADDRESS_BANNED and bye.message == "this address is banned: abuse"
    refused_here = await WireClient.connect(second.host, second.port, local_addr="127.0.0.2", greet=False)
    assert (await refused_here.expect(Bye)).reason == ByeReason.ADDRESS_BANNED
    await refused_here.close()
    await act(alice, action="unban_address", address="127.0.0.2")
    await barrier(alice, dave, "unbanned")
    welcome = await WireClient.connect(second.host, second.port, local_addr="127.0.0.2")
    await welcome.close()

    # The content filters reloaded through the first process are reloaded by the second too (from
    # its own file): dave's word there is refused once it has (it reads the file in a thread).
    rules.write_text(RULE.format(word="zanzibarite") + RULE.format(word="quokka"))
    assert (await act(alice, action="reload_filters")).count == 2
    while (said := await sends(dave, text="a quokka")) == "sent":
        pass
    assert said == ErrorCode.FILTERED

    # A disconnect through the first process closes dave's connection on the second.
    done = await act(alice, action="disconnect", user="dave")
    assert done.count == 1
    bye = await dave.expect(Bye, skip=NOISE)
    assert (bye.reason, bye.message) == (ByeReason.DISCONNECTED, "disconnected by alice")

    for client in (alice, bob, dave, carol):
        await client.close()


async def test_room_moderation_on_one_process_reaches_members_on_the_other(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    first, second = two(server_factory, postgres_database, redis_server)
    alice = await registered(first, "alice")
    bob = await registered(second, "bob")
    carol = await registered(second, "carol")
    for client in (alice, bob, carol):
        await join(client, "rust")  # alice made it: she owns it

    # A kick: bob (on the second process) is told and out of the room; the room hears him leave on
    # both processes; he may come back.
    await moderate(alice, "rust", "kick", "bob", reason="calm down")
    told = await bob.expect(RoomEvent, skip=(Presence,))
    assert (told.action, told.by, told.reason) == ("kick", "alice", "calm down")
    assert (await carol.expect(RoomEvent, skip=(Presence,))).action == "kick"
    await until(carol, lambda f: isinstance(f, Presence) and (f.event, f.username) == ("leave", "bob"))
    await until(alice, lambda f: isinstance(f, Presence) and (f.event, f.username) == ("leave", "bob"))
    await refused(bob, Send(room="rust", text="am I out?"), ErrorCode.NOT_IN_ROOM)
    await join(bob, "rust")  # read the room's sanctions on the second process (none yet)

    # A room ban: out, and the second process refuses him the room at once.
    await moderate(alice, "rust", "ban", "bob", reason="flooding")
    assert (await bob.expect(RoomEvent, skip=(Presence,))).action == "ban"
    refusal = await refused(bob, Join(room="rust"), ErrorCode.BANNED)
    assert "flooding" in refusal.message
    await refused(bob, Send(room="rust", text="let me in"), ErrorCode.BANNED)
    await moderate(alice, "rust", "unban", "bob")
    assert (await bob.expect(RoomEvent, skip=(Presence,))).action == "unban"
    await join(bob, "rust")

    # The topic and a removed message reach the members on the other process.
    await alice.send(SetTopic(room="rust", text="borrowing", ref=alice.next_ref()))
    topic = await until(carol, lambda f: isinstance(f, TopicChanged))
    assert isinstance(topic, TopicChanged) and (topic.text, topic.by) == ("borrowing", "alice")
    await carol.send(Send(room="rust", text="oops", ref="oops"))
    said = await until(carol, lambda f: isinstance(f, Message) and f.ref == "oops")
    assert isinstance(said, Message)
    await until(alice, lambda f: isinstance(f, Message) and f.id == said.id)
    await alice.send(DeleteMessage(id=said.id, ref=alice.next_ref()))
    removed = await until(bob, lambda f: isinstance(f, MessageRemoved))
    assert isinstance(removed, MessageRemoved) and (removed.id, removed.by) == (said.id, "alice")

    # The room deleted through the first process (carol banned from it first): its member on the
    # second is told and out of it.
    await moderate(alice, "rust", "ban", "carol")
    await until(carol, lambda f: isinstance(f, RoomEvent) and f.action == "ban")
    await refused(carol, Join(room="rust"), ErrorCode.BANNED)
    await alice.send(DeleteRoom(room="rust", reason="done", ref=alice.next_ref()))
    deleted = await until(bob, lambda f: isinstance(f, RoomDeleted))
    assert isinstance(deleted, RoomDeleted) and (deleted.room, deleted.by) == ("rust", "alice")
    await refused(bob, Send(room="rust", text="anyone?"), ErrorCode.NOT_IN_ROOM)
    await alice.send(ListRooms(ref="rooms"))  # answered once the deletion is done (frames in turn)
    rooms = await until(alice, lambda f: isinstance(f, RoomList))
    assert isinstance(rooms, RoomList) and [room.name for room in rooms.rooms] == ["general"]
    # A room of the same name made again starts clean on the second process: carol's ban was the
    # gone room's. (Her join, like any, may come before the second process heard the deletion is
    # done: it was told to forget the room's sanctions already when the deletion began.)
    await join(carol, "rust")
    await carol.send(Send(room="rust", text="a new room", ref="new"))
    await until(carol, lambda f: isinstance(f, Message) and f.ref == "new")

    for client in (alice, bob, carol):
        await client.close()


async def test_a_suspension_and_a_mute_made_while_redis_was_away_are_made_good(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    first, second = two(server_factory, postgres_database, redis_server)
    alice = await registered(first, "alice", "admin")
    bob = await registered(second, "bob")
    carol = await registered(second, "carol")
    try:
        redis_server.stop()  # the events told now are lost
        await act(alice, action="mute", user="carol")
        await act(alice, action="suspend", user="bob", reason="spam")
        redis_server.start()
        # The second process, subscribed again, reads the sanctions from the database: bob's
        # connection is closed, and carol's mute (read in the same pass) is in force there.
        bye = await bob.expect(Bye, skip=NOISE)
        assert (bye.reason, bye.message) == (ByeReason.SUSPENDED, "suspended by alice until lifted: spam")
        assert await sends(carol) == ErrorCode.MUTED
    finally:
        if not redis_server.running:
            redis_server.start()
    for client in (alice, bob, carol):
        await client.close()
    first.stop()
    second.stop()
    assert "event=control_resync" in second.log


async def test_the_room_status_limit_counts_the_members_online_on_every_process(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    limit = ("--room-status-limit", "2")
    first, second = (
        server_factory(postgres_database, "--redis-url", redis_server.url, *limit).start() for _ in range(2)
    )
    alice = await registered(first, "alice")
    bob = await registered(second, "bob")
    await until(alice, lambda f: isinstance(f, Presence) and (f.event, f.username) == ("online", "bob"))
    # A third member online, on alice's process: two here, three in all, over the limit of 2.
    carol = await registered(first, "carol")
    await alice.send(Who(room="general", ref="who"))
    heard = []
    while not isinstance(frame := await alice.recv(TIMEOUT), WhoList):
        heard.append(frame)
    assert [user.username for user in frame.users] == ["alice", "bob", "carol"]
    assert not [f for f in heard if isinstance(f, Presence) and f.username == "carol"], heard
    # Nor on bob's process, once it knows carol is online.
    while True:
        await bob.send(Who(room="general", ref="who"))
        while not isinstance(frame := await bob.recv(TIMEOUT), WhoList):
            assert not (isinstance(frame, Presence) and frame.username == "carol"), frame
        if "carol" in [user.username for user in frame.users]:
            break
    for client in (alice, bob, carol):
        await client.close()
