"""Presence shared by several server processes through Redis (``--redis-url``): who is online, away
texts and presence events across processes; duplicate login refused or replaced across processes;
the users of a process killed with SIGKILL drop out of ``who`` on the others within the TTL.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chatapp.protocol import (
    Away,
    Bye,
    ByeReason,
    ErrorCode,
    Join,
    Leave,
    Login,
    Presence,
    UserInfo,
    Who,
    Whois,
    WhoList,
)
from tests.support.databases import ScratchDatabase
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

pytest.importorskip("redis")

TIMEOUT = 15.0


async def until(client: WireClient, match: Callable[[object], bool], timeout: float = TIMEOUT) -> object:
    """The first frame that matches, passing over the others."""
    while True:
        frame = await client.recv(timeout)
        if match(frame):
            return frame


def presence(event: str, username: str, room: str = "general") -> Callable[[object], bool]:
    return lambda f: isinstance(f, Presence) and (f.event, f.username, f.room) == (event, username, room)


async def who(client: WireClient, room: str = "general") -> list[str]:
    await client.send(Who(room=room, ref=client.next_ref()))
    frame = await until(client, lambda f: isinstance(f, WhoList))
    assert isinstance(frame, WhoList)
    return [user.username for user in frame.users]


def start(
    server_factory: type[ServerProcess], database: ScratchDatabase, redis: RedisServer, count: int, *args: str
) -> list[ServerProcess]:
    return [server_factory(database, "--redis-url", redis.url, *args).start() for _ in range(count)]


async def test_users_on_two_processes_see_each_other_and_a_second_login_is_refused(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    first, second = start(server_factory, postgres_database, redis_server, 2)
    alice = await WireClient.connect(first.host, first.port)
    await alice.register("alice")
    bob = await WireClient.connect(second.host, second.port)
    await bob.register("bob")
    await until(alice, presence("online", "bob"))  # from the other process
    assert await who(alice) == ["alice", "bob"]
    assert await who(bob) == ["alice", "bob"]

    await alice.send(Join(room="lounge", ref=alice.next_ref()))
    await until(alice, presence("join", "alice", "lounge"))
    await bob.send(Join(room="lounge", ref=bob.next_ref()))
    await until(alice, presence("join", "bob", "lounge"))
    await bob.send(Away(text="lunch", ref=bob.next_ref()))
    away = await until(alice, presence("away", "bob"))
    assert isinstance(away, Presence) and away.text == "lunch"
    await alice.send(Whois(username="bob", ref=alice.next_ref()))
    info = await until(alice, lambda f: isinstance(f, UserInfo))
    assert isinstance(info, UserInfo) and info.online and info.away == "lunch"
    await bob.send(Leave(room="lounge", ref=bob.next_ref()))
    await until(alice, presence("leave", "bob", "lounge"))
    assert await who(alice, "lounge") == ["alice"]

    # --duplicate-login reject (the default): bob is online on the second process.
    again = await WireClient.connect(first.host, first.port)
    await again.send(Login(username="bob", password=PASSWORD, ref=again.next_ref()))
    await again.expect_error(ErrorCode.ALREADY_LOGGED_IN)
    await again.close()

    # Bob's session resumed on the first process: the second hands it over, and alice (on the
    # first) hears nothing of bob before the answer to her who.
    moved = await WireClient.connect(first.host, first.port)
    await moved.resume(bob.last_token)
    assert isinstance(await until(bob, lambda f: isinstance(f, Bye)), Bye)
    assert await bob.closed()
    await bob.close()
    await alice.send(Who(room="general", ref=alice.next_ref()))
    heard = []
    while not isinstance(frame := await alice.recv(TIMEOUT), WhoList):
        heard.append(frame)
    assert [user.username for user in frame.users] == ["alice", "bob"]
    assert not [f for f in heard if isinstance(f, Presence) and f.username == "bob"], heard

    await moved.close()
    await until(alice, presence("offline", "bob"))
    assert await who(alice) == ["alice"]
    await alice.close()


async def test_a_login_on_another_process_replaces_and_a_killed_process_drops_out(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    replace = ("--duplicate-login", "replace")
    first, second, third = start(server_factory, postgres_database, redis_server, 3, *replace)
    dave = await WireClient.connect(first.host, first.port)
    await dave.register("dave")
    carol = await WireClient.connect(second.host, second.port)
    await carol.register("carol")
    await until(dave, presence("online", "carol"))
    erin = await WireClient.connect(second.host, second.port)
    await erin.register("erin")
    await until(dave, presence("online", "erin"))

    # --duplicate-login replace: carol signs in on the third process; the second closes her old
    # session, and nobody hears her go offline.
    again = await WireClient.connect(third.host, third.port)
    await again.login("carol")
    bye = await until(carol, lambda f: isinstance(f, Bye))
    assert isinstance(bye, Bye) and bye.reason == ByeReason.REPLACED
    assert await carol.closed()
    await carol.close()
    # Erin's change comes after carol's old session's end from the same process, so by then dave
    # would have heard carol go offline, had she been announced.
    await erin.send(Away(text="brb", ref=erin.next_ref()))
    heard = []
    while not presence("away", "erin")(frame := await dave.recv(TIMEOUT)):
        heard.append(frame)
    assert not [f for f in heard if isinstance(f, Presence) and f.username == "carol"], heard
    assert await who(dave) == ["carol", "dave", "erin"]
    assert await who(again) == ["carol", "dave", "erin"]

    # The third process dies without a word: carol drops out of who within the TTL (3 s) and dave
    # hears she went offline; she never went offline while she was replaced.
    third.kill()
    frame = await until(dave, lambda f: isinstance(f, Presence) and f.username == "carol")
    assert isinstance(frame, Presence) and frame.event == "offline", frame
    assert await who(dave) == ["dave", "erin"]
    for client in (dave, erin, again):
        await client.close()
