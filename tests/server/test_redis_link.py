"""A Redis pub/sub channel of several processes (:mod:`chatapp.server.redis_link`), against real
redis-server processes: the worker's own, and one of this module's that wants a password (and
knows ACL users), listens on a Unix socket and speaks TLS too.

Nothing here sleeps to assert: each waits for a condition, with a timeout.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("redis")
pytest.importorskip("hiredis")

import trustme  # noqa: E402

from chatapp.server import redis_link  # noqa: E402
from chatapp.server.redis_link import START_WITHIN, UNSENT_MOST, RedisLink  # noqa: E402
from tests.support import redis as redis_support  # noqa: E402
from tests.support.postgres import free_port  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

WAIT = 10.0
"""The longest a test waits for something that should happen (far longer than it takes)."""

PASSWORD = "right-horse-battery"
ALICE = "alice-staple-9"  # an ACL user's password
CAROL = "carol-no-channels-7"  # an ACL user who may not use pub/sub channels


async def until(condition: Callable[[], bool], within: float = WAIT) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.01)


class Heard:
    """What one link was given: messages and subscriptions, in the order they came."""

    def __init__(self) -> None:
        self.events: list[bytes | None] = []  # None: subscribed

    def received(self, data: bytes) -> None:
        self.events.append(data)

    def subscribed(self) -> None:
        self.events.append(None)

    @property
    def messages(self) -> list[bytes]:
        return [e for e in self.events if e is not None]

    @property
    def subscriptions(self) -> int:
        return self.events.count(None)


class Secured:
    def __init__(self, server: RedisServer, tls_port: int, socket_path: Path, ca: Path) -> None:
        self.server, self.tls_port, self.socket_path, self.ca = server, tls_port, socket_path, ca

    def url(self, password: str = PASSWORD, user: str = "") -> str:
        return f"redis://{user}:{password}@127.0.0.1:{self.server.port}/0"


@pytest.fixture(scope="module")
def secured(redis_process: RedisServer) -> Iterator[Secured]:
    """A second private Redis (this module's): a password for the default user, two ACL users,
    a Unix socket and a TLS port with a throwaway CA's certificate for 127.0.0.1."""
    binary = redis_support.find_binary()
    assert binary is not None
    base = Path(tempfile.mkdtemp(prefix="chatapp-redis-secured-"))
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(base / "ca.pem"))
    cert.private_key_pem.write_to_path(str(base / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(base / "server.pem"))
    tls_port = free_port()
    socket_path = base / "redis.sock"
    server = RedisServer(
        base,
        binary,
        [
            "--requirepass", PASSWORD,
            "--user", "alice", "on", f">{ALICE}", "~*", "&*", "+@all",
            "--user", "carol", "on", f">{CAROL}", "~*", "+@all",  # no "&": no channel at all
            "--unixsocket", str(socket_path), "--unixsocketperm", "700",
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(base / "server.pem"),
            "--tls-key-file", str(base / "server.key"),
            "--tls-ca-cert-file", str(base / "ca.pem"),
            "--tls-auth-clients", "no",
        ],  # fmt: skip
    ).start()
    try:
        yield Secured(server, tls_port, socket_path, base / "ca.pem")
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def no_asyncio_complaints(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No "Future exception was never retrieved", "Task was destroyed but it is pending" nor any
    other error the event loop logs about what was left behind."""
    caplog.set_level(logging.DEBUG, logger="chatapp.redis")
    yield
    gc.collect()
    complaints = [r for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in complaints] == []


@pytest.fixture
def short_start(monkeypatch: pytest.MonkeyPatch) -> float:
    """start() waits 1 s instead of 5 for a Redis that will not take this link (a few attempts)."""
    monkeypatch.setattr(redis_link, "START_WITHIN", 1.0)
    return 1.0


@pytest.fixture
def channel(request: pytest.FixtureRequest) -> str:
    return f"test:{request.node.originalname}"  # not its parameters: a password among them


async def linked(url: str, channel: str) -> tuple[RedisLink, Heard]:
    heard = Heard()
    link = RedisLink(url, heard.received, heard.subscribed, channel=channel)
    async with asyncio.timeout(START_WITHIN + WAIT):
        await link.start()
    return link, heard


async def test_every_message_arrives_once_in_publish_order_at_every_link(
    redis_server: RedisServer, channel: str
) -> None:
    (a, heard_a), (b, heard_b) = [await linked(redis_server.url, channel) for _ in range(2)]
    try:
        assert heard_a.events == [None] and heard_b.events == [None]  # subscribed, before anything
        sent = [b"a%d" % i for i in range(500)]
        for data in sent:  # in one turn of the loop: written together, read in few reads
            a.publish(data)
        b.publish(b"from b")
        await until(lambda: len(heard_a.messages) == len(heard_b.messages) == len(sent) + 1)
        # Each publisher's in its order, the publisher's own too; both links see the same order.
        assert heard_a.messages == heard_b.messages
        assert [m for m in heard_a.messages if m != b"from b"] == sent
        assert heard_a.messages.count(b"from b") == 1
        assert a.dropped == b.dropped == 0

        big = bytes(range(256)) * 4096  # 1 MiB, bytes of every value, over many reads
        a.publish(big)
        await until(lambda: len(heard_b.messages) == len(sent) + 2)
        assert heard_b.messages[-1] == big
    finally:
        await a.close()
        await b.close()


async def test_a_held_link_reads_nothing_meanwhile_then_all_of_it_in_one_read(
    redis_server: RedisServer, channel: str
) -> None:
    """``hold(seconds)``: what is published meanwhile waits, and is handed out after the hold, all
    of it in one read (before anything the first message's callback schedules runs); then the link
    reads as before. A hold left running when the link closes is simply dropped."""
    loop = asyncio.get_running_loop()
    heard: list[tuple[float, bytes]] = []

    def received(data: bytes) -> None:
        if not heard:  # runs after every message of the read that brought this one
            loop.call_soon(heard.append, (loop.time(), b"next turn"))
        heard.append((loop.time(), data))

    a, _ = await linked(redis_server.url, channel)
    b = RedisLink(redis_server.url, received, lambda: None, channel=channel)
    try:
        await b.start()
        held_at = loop.time()
        b.hold(1.0)  # far longer than the publishing takes, even on a busy machine
        for i in range(3):  # separate writes, that would be separate reads
            a.publish(b"m%d" % i)
            await asyncio.sleep(0.02)
        await until(lambda: len(heard) == 4)
        assert [data for _, data in heard] == [b"m0", b"m1", b"m2", b"next turn"]
        assert heard[0][0] >= held_at + 1.0 - 0.01  # (the loop's timers may run a tick early)
        a.publish(b"after")  # no longer held
        await until(lambda: heard[-1][1] == b"after")
        b.hold(WAIT)
    finally:
        await a.close()
        async with asyncio.timeout(WAIT / 2):
            await b.close()


async def test_let_go_ends_a_hold_at_once(redis_server: RedisServer, channel: str) -> None:
    """``let_go()``: what waited in the socket is read now, not when the hold would have ended, and
    the link reads as before; not holding, it changes nothing."""
    loop = asyncio.get_running_loop()
    heard: list[tuple[float, bytes]] = []
    a, _ = await linked(redis_server.url, channel)
    b = RedisLink(
        redis_server.url, lambda data: heard.append((loop.time(), data)), lambda: None, channel=channel
    )
    try:
        await b.start()
        b.let_go()  # not holding: nothing changes
        b.hold(60.0)
        a.publish(b"held")
        await asyncio.sleep(0.1)
        assert heard == []  # it waits in the socket
        let_go_at = loop.time()
        b.let_go()
        await until(lambda: len(heard) == 1)
        assert heard[0][1] == b"held" and heard[0][0] - let_go_at < 30.0  # long before the minute is up
        a.publish(b"after")
        await until(lambda: heard[-1][1] == b"after")
    finally:
        await a.close()
        await b.close()


async def test_after_redis_is_killed_mid_publish_both_links_come_back(
    redis_server: RedisServer, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    (a, heard_a), (b, heard_b) = [await linked(redis_server.url, channel) for _ in range(2)]
    publishing = True

    async def publish_all_along() -> None:
        while publishing:
            a.publish(b"x" * 100)
            await asyncio.sleep(0.001)

    publisher = asyncio.create_task(publish_all_along())
    try:
        await until(lambda: len(heard_b.messages) > 10)
        assert redis_server.pid is not None
        os.kill(redis_server.pid, signal.SIGKILL)  # no goodbye
        await until(lambda: not a.connected.is_set() and not b.connected.is_set())
        dropped = a.dropped
        await until(lambda: a.dropped > dropped)  # the publishes meanwhile are dropped, not raised
        redis_server.stop()
        redis_server.start()

        await until(lambda: heard_a.subscriptions == heard_b.subscriptions == 2)  # subscribed() again
        await until(lambda: heard_b.events[-1] is not None)  # publishing resumed by itself
        publishing = False
        await publisher
        a.publish(b"after")
        await until(lambda: heard_a.messages[-1] == heard_b.messages[-1] == b"after")
        assert "event=redis_lost" in caplog.text
    finally:
        publishing = False
        await publisher
        await a.close()
        await b.close()
        if not redis_server.running:
            redis_server.start()


async def test_a_subscribed_or_received_callback_that_fails_costs_only_its_connection(
    redis_server: RedisServer, channel: str
) -> None:
    events: list[bytes | None] = []
    failures = {"subscribed": 1, "received": 1}

    def subscribed() -> None:
        events.append(None)
        if failures["subscribed"]:
            failures["subscribed"] -= 1
            raise RuntimeError("a bug in subscribed")

    def received(data: bytes) -> None:
        if data == b"boom" and failures["received"]:
            failures["received"] -= 1
            raise RuntimeError("a bug in received")
        events.append(data)

    link = RedisLink(redis_server.url, received, subscribed, channel=channel)
    other, heard = await linked(redis_server.url, channel)
    try:
        await link.start()
        await until(lambda: events.count(None) == 2)  # the first subscription's connection was remade
        await until(link.connected.is_set)
        other.publish(b"boom")
        await until(lambda: events.count(None) == 3)  # and again after received() failed
        other.publish(b"after")
        await until(lambda: events[-1] == b"after")
        assert heard.messages == [b"boom", b"after"] and heard.subscriptions == 1  # the other: untouched
    finally:
        await link.close()
        await other.close()


async def test_a_publish_while_redis_is_down_is_dropped_and_close_is_bounded(
    redis_server: RedisServer, channel: str
) -> None:
    link, heard = await linked(redis_server.url, channel)
    try:
        redis_server.stop()
        await until(lambda: not link.connected.is_set())
        # The publishing connection may find Redis gone a moment after the listening one.
        await until(lambda: link.publish(b"probe") is None and link.dropped > 0)
        before = link.dropped
        for i in range(10):
            link.publish(b"lost %d" % i)  # does not raise
        assert link.dropped == before + 10
        async with asyncio.timeout(3):  # Redis gone: close waits for nothing of it
            await link.close()
        assert heard.messages == []
    finally:
        await link.close()
        redis_server.start()


async def test_close_is_bounded_where_no_redis_ever_was(channel: str, short_start: float) -> None:
    link = RedisLink(f"redis://127.0.0.1:{free_port()}/0", lambda data: None, lambda: None, channel=channel)
    async with asyncio.timeout(short_start + 3):
        await link.start()  # gives up waiting, keeps trying in the background
    link.publish(b"nowhere")
    assert link.dropped == 1
    async with asyncio.timeout(3):
        await link.close()


async def test_a_close_that_is_cancelled_stays_cancelled(redis_server: RedisServer, channel: str) -> None:
    link, _heard = await linked(redis_server.url, channel)
    closing = asyncio.create_task(link.close())
    await asyncio.sleep(0)  # close() has cancelled its tasks and waits for them
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):  # not swallowed (a shutdown's timeout relies on it)
        await closing
    await link.close()  # and closing again is harmless


async def test_unsent_bytes_stop_growing_at_their_bound(redis_server: RedisServer, channel: str) -> None:
    link, _heard = await linked(redis_server.url, channel)
    chunk = b"u" * (256 * 1024)
    assert redis_server.pid is not None
    os.kill(redis_server.pid, signal.SIGSTOP)  # Redis takes nothing: the kernel's buffers fill, then ours
    try:
        for _ in range(4 * UNSENT_MOST // len(chunk) + 400):  # well past our bound and the kernel's
            link.publish(chunk)
            await asyncio.sleep(0)
            if link.dropped:
                break
        assert link.dropped == 1
        assert UNSENT_MOST < link.unsent() <= UNSENT_MOST + len(chunk) + 64
        for _ in range(10):
            link.publish(chunk)
        assert link.dropped == 11
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)
    try:
        await until(lambda: link.unsent() < UNSENT_MOST)  # Redis takes it again: publishes go through
        dropped = link.dropped
        link.publish(b"small")
        assert link.dropped == dropped
    finally:
        await link.close()


@pytest.mark.parametrize("kind", ["password", "acl user", "unix socket", "tls with its ca", "tls unchecked"])
async def test_a_link_signs_in_and_works_over_every_kind_of_address(
    secured: Secured, channel: str, kind: str
) -> None:
    url = {
        "password": secured.url(),
        "acl user": secured.url(ALICE, user="alice"),
        "unix socket": f"unix://:{PASSWORD}@{secured.socket_path}",
        "tls with its ca": f"rediss://:{PASSWORD}@127.0.0.1:{secured.tls_port}/0?ssl_ca_certs={secured.ca}",
        "tls unchecked": f"rediss://:{PASSWORD}@127.0.0.1:{secured.tls_port}/0?ssl_cert_reqs=none",
    }[kind]
    link, heard = await linked(url, channel)
    try:
        assert link.connected.is_set()
        link.publish(b"signed in")
        await until(lambda: heard.messages == [b"signed in"])
    finally:
        await link.close()


async def test_tls_with_a_certificate_of_an_unknown_ca_is_not_taken(
    secured: Secured, channel: str, caplog: pytest.LogCaptureFixture, short_start: float
) -> None:
    url = f"rediss://:{PASSWORD}@127.0.0.1:{secured.tls_port}/0"  # the system's CAs: ours is not among them
    link = RedisLink(url, lambda data: None, lambda: None, channel=channel)
    try:
        async with asyncio.timeout(short_start + 3):
            await link.start()
        assert not link.connected.is_set()
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    finally:
        await link.close()


@pytest.mark.parametrize(
    ("user", "password", "why"),
    [
        ("", "wrong-" + PASSWORD, "WRONGPASS"),
        ("alice", "wrong-" + ALICE, "WRONGPASS"),
        ("carol", CAROL, "NOPERM"),  # signed in, but not allowed the channel
    ],
)
async def test_a_refused_sign_in_is_said_once_without_the_password_and_breaks_nothing(
    secured: Secured,
    channel: str,
    caplog: pytest.LogCaptureFixture,
    short_start: float,
    user: str,
    password: str,
    why: str,
) -> None:
    right, heard_right = await linked(secured.url(), channel)
    heard = Heard()
    link = RedisLink(secured.url(password, user), heard.received, heard.subscribed, channel=channel)
    try:
        async with asyncio.timeout(short_start + 3):  # returns within its bound, Redis refusing
            await link.start()
        assert not link.connected.is_set()
        right.publish(b"for the signed in")
        await until(lambda: heard_right.messages == [b"for the signed in"])
        link.publish(b"refused")
        assert heard.events == [] and heard_right.messages == [b"for the signed in"]

        assert password not in caplog.text
        said = [r for r in caplog.records if r.levelno >= logging.WARNING and why in r.getMessage()]
        assert len(said) == 1, [r.getMessage() for r in said]  # once, though it was tried again and again
        tries = [r for r in caplog.records if r.name == "chatapp.redis" and why in r.getMessage()]
        assert len(tries) > 1  # it was
    finally:
        await link.close()
        await right.close()


def open_sockets() -> set[str]:
    """This process's sockets (Linux: /proc/self/fd)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # the listing's own descriptor, gone already
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="Linux's /proc")
@pytest.mark.parametrize("kind", ["plain", "tls"])
async def test_close_returns_with_its_sockets_released(
    redis_server: RedisServer, secured: Secured, channel: str, kind: str
) -> None:
    # Closing a transport only asks; a loop that ended before it let go left the socket open
    # (ResourceWarning: unclosed transport, seen at the end of a test).
    url = redis_server.url
    if kind == "tls":
        url = f"rediss://:{PASSWORD}@127.0.0.1:{secured.tls_port}/0?ssl_ca_certs={secured.ca}"
    before = open_sockets()
    link, _heard = await linked(url, channel)
    assert len(open_sockets() - before) == 2  # subscribed and publishing
    async with asyncio.timeout(3):
        await link.close()
    assert open_sockets() - before == set()  # at once, without another turn of the loop
